"""Istio's standard request metrics, in Prometheus' text format (stdlib only).

    istio_requests_total                        counter
    istio_request_duration_milliseconds         histogram, with Istio's default buckets

Labels are Istio's standard set (https://istio.io/latest/docs/reference/config/metrics/), so the
queries of Flagger, Kiali and this collection's gates run unchanged against the simulator.
As Istio does, a request through the ingress gateway is counted twice, once by each proxy
(reporter="source" from the gateway, reporter="destination" from the workload's sidecar);
a request with no sidecar at its source (mesh-style addressing here), a mirror copy, and a
fault abort are counted once, by the proxy that saw them.
"""

import threading

# Istio's default buckets for istio_request_duration_milliseconds.
BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
           1800000, 3600000)

LABELS = (
    "reporter",
    "source_workload", "source_workload_namespace", "source_principal", "source_app", "source_version",
    "source_canonical_service", "source_canonical_revision", "source_cluster",
    "destination_workload", "destination_workload_namespace", "destination_principal", "destination_app",
    "destination_version", "destination_service", "destination_service_name", "destination_service_namespace",
    "destination_canonical_service", "destination_canonical_revision", "destination_cluster",
    "request_protocol", "response_code", "grpc_response_status", "response_flags", "connection_security_policy",
)

_UNKNOWN_SOURCE = {
    "source_workload": "unknown", "source_workload_namespace": "unknown", "source_principal": "unknown",
    "source_app": "unknown", "source_version": "unknown", "source_canonical_service": "unknown",
    "source_canonical_revision": "latest", "source_cluster": "unknown",
}
GATEWAY_SOURCE = {
    "source_workload": "istio-ingressgateway", "source_workload_namespace": "istio-system",
    "source_principal": "unknown", "source_app": "istio-ingressgateway", "source_version": "unknown",
    "source_canonical_service": "istio-ingressgateway", "source_canonical_revision": "latest",
    "source_cluster": "Kubernetes",
}


def request_labels(reporter, source, target, code, flags="-"):
    """The label values of one request: source is GATEWAY_SOURCE or None; target a routing.Target or None."""
    labels = dict(_UNKNOWN_SOURCE if source is None else source)
    ep = target.endpoint if target is not None else None
    labels.update({
        "reporter": reporter,
        "destination_workload": ep.workload if ep else "unknown",
        "destination_workload_namespace": ep.namespace if ep else "unknown",
        "destination_principal": "unknown",
        "destination_app": ep.app if ep else "unknown",
        "destination_version": ep.version if ep else "unknown",
        "destination_service": target.fqdn if target else "unknown",
        "destination_service_name": target.service_name if target else "unknown",
        "destination_service_namespace": target.service_namespace if target else "unknown",
        "destination_canonical_service": ep.canonical_service if ep else "unknown",
        "destination_canonical_revision": ep.canonical_revision if ep else "latest",
        "destination_cluster": "Kubernetes" if ep else "unknown",
        "request_protocol": "http",
        "response_code": str(code),
        "grpc_response_status": "",
        "response_flags": flags,
        "connection_security_policy": "unknown",
    })
    return tuple(labels[k] for k in LABELS)


class IstioMetrics(object):
    """Thread-safe counters and histograms keyed by label values."""

    def __init__(self):
        self._lock = threading.Lock()
        self._series = {}  # label values -> [count, sum_ms, bucket counts...]

    def observe(self, label_values, duration_ms):
        with self._lock:
            s = self._series.get(label_values)
            if s is None:
                s = self._series[label_values] = [0, 0.0] + [0] * len(BUCKETS)
            s[0] += 1
            s[1] += duration_ms
            for i, bound in enumerate(BUCKETS):
                if duration_ms <= bound:
                    s[2 + i] += 1
                    break

    def render(self):
        with self._lock:
            series = [(k, list(v)) for k, v in self._series.items()]
        series.sort()
        out = ["# HELP istio_requests_total Total requests (mesh simulator).",
               "# TYPE istio_requests_total counter"]
        for key, s in series:
            out.append("istio_requests_total{%s} %d" % (_labels(key), s[0]))
        out += ["# HELP istio_request_duration_milliseconds Request duration in milliseconds (mesh simulator).",
                "# TYPE istio_request_duration_milliseconds histogram"]
        for key, s in series:
            labels = _labels(key)
            cumulative = 0
            for i, bound in enumerate(BUCKETS):
                cumulative += s[2 + i]
                out.append('istio_request_duration_milliseconds_bucket{%s,le="%s"} %d' % (labels, _num(bound), cumulative))
            out.append('istio_request_duration_milliseconds_bucket{%s,le="+Inf"} %d' % (labels, s[0]))
            out.append("istio_request_duration_milliseconds_sum{%s} %s" % (labels, repr(float(s[1]))))
            out.append("istio_request_duration_milliseconds_count{%s} %d" % (labels, s[0]))
        return ("\n".join(out) + "\n").encode()


def _num(value):
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _escape(value):
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(values):
    return ",".join('%s="%s"' % (k, _escape(v)) for k, v in zip(LABELS, values))
