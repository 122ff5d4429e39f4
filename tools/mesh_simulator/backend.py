"""The application behind each Deployment: answers like podinfo, the app of Flagger's tutorials. Pure.

    GET /                -> 200 {"hostname": "<workload>-<n>", "version": "<version>", "message": "greetings from ..."}
    GET /status/<code>   -> <code>
    GET /delay/<seconds> -> 200 after that many seconds
    anything else        -> 200 with the same body as /

Every answer carries ``X-Version: <version>`` (the pod template's ``version`` label). Faults are set
at run time by annotations on the Deployment, read on every request:

    mesh-simulator.rollouts.istio/error-rate: "0.05"   5% of requests answer 500
    mesh-simulator.rollouts.istio/latency-ms: "1000"   every answer comes 1 s later
    mesh-simulator.rollouts.istio/stopped: "true"      the app stops answering: its sidecar answers
                                                       503 UF (upstream connect error), as Envoy does
                                                       when the app's port refuses connections

``respond`` returns the answer and how long the server should hold it; it never sleeps itself.
"""

import json
import re

ERROR_RATE_ANNOTATION = "mesh-simulator.rollouts.istio/error-rate"
LATENCY_ANNOTATION = "mesh-simulator.rollouts.istio/latency-ms"
STOPPED_ANNOTATION = "mesh-simulator.rollouts.istio/stopped"
# Envoy's own answer when the upstream refuses the connection (response flag UF).
STOPPED_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: connection failure"

_STATUS = re.compile(r"^/status/(\d{3})/?$")
_DELAY = re.compile(r"^/delay/([0-9]*\.?[0-9]+)/?$")
# podinfo caps /delay; so does the simulator, so a stray request cannot hold a thread for long.
MAX_DELAY_S = 60.0


class Response(object):
    """An answer; ``flags`` is the Envoy response flag the proxies report with it ("-": none)."""
    __slots__ = ("status", "headers", "body", "hold_s", "flags")

    def __init__(self, status, headers, body, hold_s=0.0, flags="-"):
        self.status = status
        self.headers = headers
        self.body = body
        self.hold_s = hold_s
        self.flags = flags


def fault_settings(annotations):
    """(error_rate in [0, 1], latency in seconds) from a Deployment's annotations; bad values count as 0."""
    def number(key):
        try:
            return max(0.0, float(annotations.get(key, 0) or 0))
        except (TypeError, ValueError):
            return 0.0
    return min(1.0, number(ERROR_RATE_ANNOTATION)), number(LATENCY_ANNOTATION) / 1000.0


def is_stopped(annotations):
    """Whether the Deployment's app is set to stop answering (the stopped annotation is "true")."""
    return str(annotations.get(STOPPED_ANNOTATION, "")).strip().lower() == "true"


def respond(endpoint, replica, method, path, rng):
    """podinfo's answer for one request to one replica of a Deployment (a routing.Endpoint)."""
    if is_stopped(endpoint.annotations):
        # No app behind the sidecar: Envoy answers itself, without the app's headers.
        return Response(503, [("Content-Type", "text/plain")], b"" if method == "HEAD" else STOPPED_BODY,
                        flags="UF")
    version = endpoint.version
    hostname = "%s-%d" % (endpoint.workload, replica)
    error_rate, latency_s = fault_settings(endpoint.annotations)
    headers = [("Content-Type", "application/json; charset=utf-8"), ("X-Version", version)]

    def answer(status, doc, hold=0.0):
        body = b"" if method == "HEAD" else (json.dumps(doc) + "\n").encode()
        return Response(status, headers, body, latency_s + hold)

    if error_rate and rng.random() < error_rate:
        return answer(500, {"status": 500, "hostname": hostname, "version": version,
                            "message": "mesh simulator: injected fault (error rate %g)" % error_rate})
    m = _STATUS.match(path)
    if m:
        code = int(m.group(1))
        if code < 200:
            code = 200
        return answer(code, {"status": code, "hostname": hostname, "version": version})
    m = _DELAY.match(path)
    if m:
        seconds = min(float(m.group(1)), MAX_DELAY_S)
        return answer(200, {"delay": seconds, "hostname": hostname, "version": version}, hold=seconds)
    return answer(200, {"hostname": hostname, "version": version,
                        "message": "greetings from %s %s" % (endpoint.workload, version)})
