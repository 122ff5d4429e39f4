"""Routing as Istio does it, from the live objects: pure, no I/O.

``RouteTable(snapshot, namespaces)`` compiles Gateways, VirtualServices, DestinationRules,
Services and Deployments (raw API dicts) once per change; ``table.route(request, rng)`` decides
where one request goes and returns a ``Decision``. The server acts on the decision; nothing here
sleeps, sends or counts.

What is simulated (the rest of the VirtualService API is ignored):
  hosts, gateways (and the gateway's server hosts), http[].match (uri, method, authority, headers,
  withoutHeaders, queryParams, ignoreUriCase, gateways, sourceNamespace, sourceLabels),
  http[].route with relative weights and subsets, mirror / mirrors with percentages,
  fault (abort, delay), rewrite (uri, uriRegexRewrite), timeout, redirect, directResponse.
"""

import re

CLUSTER_SUFFIX = ".svc.cluster.local"
# Who sends ingress traffic, as Istio's telemetry names it.
GATEWAY_WORKLOAD = "istio-ingressgateway"
GATEWAY_NAMESPACE = "istio-system"
GATEWAY_LABELS = {"app": "istio-ingressgateway", "istio": "ingressgateway"}


# ---------------------------------------------------------------- requests and decisions

class Request(object):
    """One incoming HTTP request, as the router sees it."""

    __slots__ = ("host", "method", "path", "query", "headers")

    def __init__(self, host, method, path, headers):
        self.host = strip_port(host).lower()
        self.method = method.upper()
        self.path, dummy, self.query = path.partition("?")
        if not self.path:
            self.path = "/"
        # Istio matches header names case-insensitively; repeated headers are joined.
        self.headers = {}
        for name, value in headers:
            key = name.lower()
            if key in self.headers:
                sep = "; " if key == "cookie" else ","
                self.headers[key] = self.headers[key] + sep + value
            else:
                self.headers[key] = value

    def query_params(self):
        params = {}
        for part in self.query.split("&"):
            if part:
                key, dummy, value = part.partition("=")
                params.setdefault(key, value)
        return params


class Endpoint(object):
    """A Deployment that serves a destination: the workload Istio's telemetry names."""

    __slots__ = ("namespace", "workload", "labels", "annotations", "replicas", "selector")

    def __init__(self, namespace, workload, labels, annotations, replicas, selector=None):
        self.namespace = namespace
        self.workload = workload
        self.labels = labels            # the pod template's labels
        self.annotations = annotations  # the Deployment's own (fault injection reads them)
        self.replicas = replicas        # spec.replicas: desired, so a test need not wait for kwok
        self.selector = selector or {}  # spec.selector.matchLabels

    @property
    def version(self):
        return self.labels.get("version") or self.labels.get("app.kubernetes.io/version") or "unknown"

    @property
    def app(self):
        return self.labels.get("app") or self.labels.get("app.kubernetes.io/name") or "unknown"

    @property
    def canonical_service(self):
        return (self.labels.get("service.istio.io/canonical-name") or self.labels.get("app.kubernetes.io/name")
                or self.labels.get("app") or self.workload)

    @property
    def canonical_revision(self):
        return (self.labels.get("service.istio.io/canonical-revision") or self.labels.get("app.kubernetes.io/version")
                or self.labels.get("version") or "latest")


class Target(object):
    """Where a request (or its mirror copy) is sent: a service, maybe a subset, and the endpoint picked.

    ``failure`` is set, with ``endpoint`` None, when Envoy would answer itself: (status, flags, text).
    """

    __slots__ = ("service_name", "service_namespace", "fqdn", "subset", "endpoint", "replica", "failure")

    def __init__(self, service_name, service_namespace, fqdn, subset, endpoint=None, replica=0, failure=None):
        self.service_name = service_name
        self.service_namespace = service_namespace
        self.fqdn = fqdn
        self.subset = subset
        self.endpoint = endpoint
        self.replica = replica
        self.failure = failure


class Decision(object):
    """What to do with one request.

    kind: "route" (send to ``target``), "noroute" (404 NR), "abort" (fault abort: ``status``),
    "direct" (directResponse or redirect: ``status``, ``body``, ``headers``).
    """

    __slots__ = ("kind", "gateway", "virtual_service", "route_name", "target", "mirrors", "delay_s", "timeout_s",
                 "path", "status", "body", "headers")

    def __init__(self, kind, gateway=None, virtual_service=None, route_name=None):
        self.kind = kind
        self.gateway = gateway            # "ns/name" of the Gateway the request came through, or None (mesh)
        self.virtual_service = virtual_service  # "ns/name"
        self.route_name = route_name
        self.target = None
        self.mirrors = []
        self.delay_s = 0.0                # fault delay, before the request goes upstream
        self.timeout_s = None             # route timeout
        self.path = None                  # the path sent upstream (after rewrite)
        self.status = None
        self.body = b""
        self.headers = []


# ---------------------------------------------------------------- small helpers

def strip_port(host):
    host = (host or "").strip()
    if host.startswith("["):
        return host[1:host.index("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def canonical_host(host, namespace):
    """A VirtualService/DestinationRule host as Istio reads it: a short name is namespace-local."""
    host = host.lower()
    if "*" in host or "." in host:
        return host
    return "%s.%s%s" % (host, namespace, CLUSTER_SUFFIX)


def request_host_candidates(host, namespaces):
    """The names a request's Host header can stand for, as a client's DNS search path would expand it."""
    cands = [host]
    parts = host.split(".")
    if len(parts) == 1:
        cands += ["%s.%s%s" % (host, ns, CLUSTER_SUFFIX) for ns in namespaces]
    elif len(parts) == 2:
        cands.append(host + CLUSTER_SUFFIX)
    elif len(parts) == 3 and parts[2] == "svc":
        cands.append(host + ".cluster.local")
    return cands


def host_matches(pattern, host):
    """Istio host matching: exact, "*", or a "*.suffix" wildcard."""
    if pattern == "*" or pattern == host:
        return True
    if pattern.startswith("*"):
        return host.endswith(pattern[1:])
    return False


def service_of(host, namespace):
    """(name, namespace) of the Kubernetes Service a destination host names, or None if it names none."""
    host = canonical_host(host, namespace)
    if "*" in host:
        return None
    if host.endswith(CLUSTER_SUFFIX):
        parts = host[:-len(CLUSTER_SUFFIX)].split(".")
        return (parts[0], parts[1]) if len(parts) == 2 else None
    parts = host.split(".")
    if len(parts) == 2 or (len(parts) == 3 and parts[2] == "svc"):
        # "reviews.prod": lenient, Istio itself wants the FQDN here.
        return parts[0], parts[1]
    return None


_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$")


def parse_duration(value):
    """Protobuf/Istio durations ("5s", "0.5s", "100ms", "1m") in seconds; None when unset or unreadable."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}[m.group(2)]
    return float(m.group(1)) * scale


def percentage(spec, legacy_key=None, default=100.0):
    """Istio percentages: {"percentage": {"value": 12.5}} or the older integer field."""
    pct = spec.get("percentage")
    if isinstance(pct, dict) and "value" in pct:
        return float(pct["value"] or 0)
    if legacy_key and spec.get(legacy_key) is not None:
        return float(spec[legacy_key])
    return default


_REGEX_CACHE = {}


def _regex(pattern, flags=0):
    key = (pattern, flags)
    if key not in _REGEX_CACHE:
        try:
            _REGEX_CACHE[key] = re.compile(pattern, flags)
        except re.error:
            _REGEX_CACHE[key] = None
    return _REGEX_CACHE[key]


def string_match(spec, value, ignore_case=False):
    """Istio StringMatch; an empty spec matches any present value. RE2 full match is approximated with re."""
    if value is None:
        return False
    if not spec:
        return True
    if ignore_case:
        value = value.lower()
    if "exact" in spec:
        want = spec["exact"]
        return value == (want.lower() if ignore_case else want)
    if "prefix" in spec:
        want = spec["prefix"]
        return value.startswith(want.lower() if ignore_case else want)
    if "regex" in spec:
        rx = _regex(spec["regex"], re.IGNORECASE if ignore_case else 0)
        return bool(rx and rx.fullmatch(value))
    return True


def _meta(obj):
    return obj.get("metadata") or {}


def _ref(obj):
    return "%s/%s" % (_meta(obj).get("namespace"), _meta(obj).get("name"))


def _created(obj):
    return (_meta(obj).get("creationTimestamp") or "", _meta(obj).get("namespace") or "", _meta(obj).get("name") or "")


# ---------------------------------------------------------------- the table

class RouteTable(object):
    """Everything needed to route, compiled from one snapshot of the watched objects.

    snapshot: {"Gateway": [obj...], "VirtualService": [...], "DestinationRule": [...],
               "Service": [...], "Deployment": [...]} of raw API dicts.
    namespaces: the namespaces watched (short request hosts expand against them, in order).
    """

    def __init__(self, snapshot, namespaces):
        self.namespaces = list(namespaces)
        self.gateways = {}
        for gw in snapshot.get("Gateway", ()):
            self.gateways[_ref(gw)] = gw
        self.virtual_services = sorted(snapshot.get("VirtualService", ()), key=_created)
        self.destination_rules = sorted(snapshot.get("DestinationRule", ()), key=_created)
        self.services = {}
        for svc in snapshot.get("Service", ()):
            self.services[(_meta(svc).get("name"), _meta(svc).get("namespace"))] = svc
        self._by_host = {}
        self.endpoints = {}
        # A DaemonSet serves like a Deployment of one replica: its share among the workloads a subset
        # selects is what matters here, not its number of nodes.
        for dep in list(snapshot.get("Deployment", ())) + list(snapshot.get("DaemonSet", ())):
            ep = _endpoint_of(dep)
            self.endpoints.setdefault(ep.namespace, []).append(ep)

    # -- finding the VirtualService

    def _gateway_serves(self, ref, vs_namespace, host):
        """Does the Gateway named by ref (as a VirtualService writes it) serve this host?

        A Gateway in a namespace the simulator does not watch cannot be checked: it is taken to serve.
        """
        if "/" in ref:
            ns, name = ref.split("/", 1)
        elif ref.endswith(CLUSTER_SUFFIX) or ref.count(".") >= 1:
            parts = ref.split(".")
            name, ns = parts[0], parts[1]
        else:
            ns, name = vs_namespace, ref
        gw = self.gateways.get("%s/%s" % (ns, name))
        if gw is None:
            return ns not in self.namespaces, "%s/%s" % (ns, name)
        for server in (gw.get("spec") or {}).get("servers") or ():
            for h in server.get("hosts") or ():
                h = h.split("/", 1)[1] if "/" in h else h
                if host_matches(h.lower(), host):
                    return True, "%s/%s" % (ns, name)
        return False, "%s/%s" % (ns, name)

    def find_virtual_service(self, host):
        """(VirtualService, gateway ref or None) for a request host, or (None, None).

        Gateway-bound VirtualServices come first (the request arrives on the ingress port), then
        mesh ones (no gateways, or "mesh" among them), then, as a liberty of the simulator, any
        VirtualService whose hosts match. Within each: an exact host before a wildcard, then the
        oldest, as Istio resolves conflicts.
        """
        if host not in self._by_host:
            # A table lives until the next change; the answer for a host never changes within it.
            self._by_host[host] = self._find_virtual_service(host)
        return self._by_host[host]

    def _find_virtual_service(self, host):
        cands = request_host_candidates(host, self.namespaces)
        best = {}
        for vs in self.virtual_services:
            ns = _meta(vs).get("namespace")
            spec = vs.get("spec") or {}
            vs_hosts = [canonical_host(h, ns) for h in spec.get("hosts") or ()]
            exact = any(h in cands for h in vs_hosts)
            if not (exact or any(host_matches(h, c) for h in vs_hosts for c in cands)):
                continue
            rank = 0 if exact else 1
            gateways = spec.get("gateways") or []
            # A gateway sees the Host header as sent; only mesh clients have a DNS search path.
            literal = any(host_matches(h, host) for h in vs_hosts)
            for ref in gateways if literal else ():
                if ref == "mesh":
                    continue
                serves, gw_ref = self._gateway_serves(ref, ns, host)
                if serves:
                    best.setdefault((0, 0 if host in vs_hosts else 1), (vs, gw_ref))
                    break
            if not gateways or "mesh" in gateways:
                best.setdefault((1, rank), (vs, None))
            best.setdefault((2, rank), (vs, None))
        if not best:
            return None, None
        return best[min(best)]

    # -- resolving destinations

    def _subset_labels(self, name, namespace, subset, vs_namespace):
        """The labels of a DestinationRule subset, or None when no DestinationRule defines it."""
        fqdn = "%s.%s%s" % (name, namespace, CLUSTER_SUFFIX)
        found = []
        for dr in self.destination_rules:
            dr_ns = _meta(dr).get("namespace")
            spec = dr.get("spec") or {}
            h = canonical_host(spec.get("host") or "", dr_ns)
            if not host_matches(h, fqdn):
                continue
            order = (0 if dr_ns == namespace else 1 if dr_ns == vs_namespace else 2, 0 if h == fqdn else 1)
            for s in spec.get("subsets") or ():
                if s.get("name") == subset:
                    found.append((order, s.get("labels") or {}))
        if not found:
            return None
        return min(found, key=lambda f: f[0])[1]

    def endpoints_of(self, name, namespace, labels=None):
        """Deployments that back a service (its selector, or app=<name>), narrowed by subset labels."""
        svc = self.services.get((name, namespace))
        selector = ((svc or {}).get("spec") or {}).get("selector") if svc else None
        out = []
        for ep in self.endpoints.get(namespace, ()):
            if selector:
                if not _contains(ep.labels, selector):
                    continue
            elif name not in (ep.labels.get("app"), ep.labels.get("app.kubernetes.io/name"), ep.selector.get("app")):
                continue
            if labels and not _contains(ep.labels, labels):
                continue
            out.append(ep)
        return out

    def resolve(self, destination, vs_namespace, rng):
        """A Target for a VirtualService destination {host, subset}, with one endpoint picked."""
        host = destination.get("host") or ""
        subset = destination.get("subset")
        svc = service_of(host, vs_namespace)
        if svc is None:
            return Target(host, "unknown", canonical_host(host, vs_namespace), subset,
                          failure=(503, "UH", "no healthy upstream for %s (not a service of the mesh)" % host))
        name, ns = svc
        fqdn = "%s.%s%s" % (name, ns, CLUSTER_SUFFIX)
        labels = None
        if subset:
            labels = self._subset_labels(name, ns, subset, vs_namespace)
            if labels is None:
                return Target(name, ns, fqdn, subset,
                              failure=(503, "NC", "no cluster for %s subset %s (no DestinationRule defines it)"
                                       % (fqdn, subset)))
        candidates = [ep for ep in self.endpoints_of(name, ns, labels) if ep.replicas > 0]
        if not candidates:
            return Target(name, ns, fqdn, subset,
                          failure=(503, "UH", "no healthy upstream for %s%s" % (fqdn, " subset " + subset if subset else "")))
        # Kubernetes spreads a service's traffic over its pods: a Deployment's share is its replicas.
        total = sum(ep.replicas for ep in candidates)
        pick = rng.random() * total
        for ep in candidates:
            pick -= ep.replicas
            if pick < 0:
                break
        return Target(name, ns, fqdn, subset, endpoint=ep, replica=int(rng.random() * ep.replicas))

    def default_target(self, host, rng):
        """Mesh traffic to a service no VirtualService names: Kubernetes' own spread over its pods."""
        for cand in request_host_candidates(host, self.namespaces):
            svc = service_of(cand, self.namespaces[0] if self.namespaces else "default")
            if svc and svc in self.services:
                return self.resolve({"host": "%s.%s%s" % (svc[0], svc[1], CLUSTER_SUFFIX)}, svc[1], rng)
        return None

    # -- the decision

    def route(self, request, rng):
        vs, gateway = self.find_virtual_service(request.host)
        if vs is None:
            target = self.default_target(request.host, rng)
            if target is None:
                return Decision("noroute")
            decision = Decision("route")
            decision.target = target
            decision.path = request.path
            return decision
        ns = _meta(vs).get("namespace")
        source_ns, source_labels = (GATEWAY_NAMESPACE, GATEWAY_LABELS) if gateway else (None, {})
        for index, http in enumerate((vs.get("spec") or {}).get("http") or ()):
            matched = _route_matches(http.get("match"), request, gateway, ns, source_ns, source_labels)
            if matched is None:
                continue
            return self._act(http, matched, request, rng, gateway, vs, index)
        return Decision("noroute", gateway=gateway, virtual_service=_ref(vs))

    def _act(self, http, matched, request, rng, gateway, vs, index):
        ns = _meta(vs).get("namespace")
        decision = Decision("route", gateway=gateway, virtual_service=_ref(vs), route_name=http.get("name") or str(index))
        if http.get("directResponse"):
            dr = http["directResponse"]
            decision.kind = "direct"
            decision.status = int(dr.get("status") or 200)
            body = dr.get("body") or {}
            decision.body = (body.get("string") or "").encode()
            return decision
        if http.get("redirect"):
            rd = http["redirect"]
            decision.kind = "direct"
            decision.status = int(rd.get("redirectCode") or 301)
            location = "%s://%s%s" % (rd.get("scheme") or "http", rd.get("authority") or request.host,
                                      rd.get("uri") or request.path)
            decision.headers = [("Location", location)]
            return decision
        decision.path = _rewrite(http.get("rewrite"), matched, request.path)
        decision.timeout_s = parse_duration(http.get("timeout"))
        fault = http.get("fault") or {}
        delay = fault.get("delay")
        if delay and rng.random() * 100 < percentage(delay, "percent"):
            decision.delay_s = parse_duration(delay.get("fixedDelay")) or 0.0
        destinations = http.get("route") or []
        if not destinations:
            decision.kind = "noroute"
            return decision
        decision.target = self.resolve(_pick_weighted(destinations, rng).get("destination") or {}, ns, rng)
        abort = fault.get("abort")
        if abort and rng.random() * 100 < percentage(abort, "percent"):
            # The proxy answers itself: the destination is named in telemetry but never reached.
            decision.kind = "abort"
            decision.status = int(abort.get("httpStatus") or 500)
            decision.body = b"fault filter abort"
            return decision
        for mirror, pct in _mirrors(http):
            if rng.random() * 100 < pct:
                decision.mirrors.append(self.resolve(mirror, ns, rng))
        return decision


def _endpoint_of(dep):
    meta = _meta(dep)
    spec = dep.get("spec") or {}
    template = spec.get("template") or {}
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    replicas = spec.get("replicas")
    return Endpoint(meta.get("namespace"), meta.get("name"), labels, dict(meta.get("annotations") or {}),
                    1 if replicas is None else int(replicas), (spec.get("selector") or {}).get("matchLabels"))


def _contains(labels, wanted):
    return all(labels.get(k) == v for k, v in wanted.items())


def _route_matches(matches, request, gateway, vs_namespace, source_ns, source_labels):
    """None if no match block matches; else the block that did ({} when the route has no match)."""
    if not matches:
        return {}
    for m in matches:
        if _block_matches(m, request, gateway, vs_namespace, source_ns, source_labels):
            return m
    return None


def _block_matches(m, request, gateway, vs_namespace, source_ns, source_labels):
    ignore_case = bool(m.get("ignoreUriCase"))
    if "uri" in m and not string_match(m["uri"], request.path, ignore_case):
        return False
    if "method" in m and not string_match(m["method"], request.method):
        return False
    if "authority" in m and not string_match(m["authority"], request.headers.get("host", request.host)):
        return False
    for name, spec in (m.get("headers") or {}).items():
        if not string_match(spec, request.headers.get(name.lower())):
            return False
    for name, spec in (m.get("withoutHeaders") or {}).items():
        if string_match(spec, request.headers.get(name.lower())):
            return False
    if m.get("queryParams"):
        params = request.query_params()
        for name, spec in m["queryParams"].items():
            if not string_match(spec, params.get(name)):
                return False
    if m.get("gateways"):
        refs = set()
        for ref in m["gateways"]:
            refs.add(ref if (ref == "mesh" or "/" in ref) else "%s/%s" % (vs_namespace, ref))
        if (gateway or "mesh") not in refs:
            return False
    if m.get("sourceNamespace") and m["sourceNamespace"] != source_ns:
        return False
    if m.get("sourceLabels") and not _contains(source_labels, m["sourceLabels"]):
        return False
    return True


def _rewrite(rewrite, matched, path):
    if not rewrite:
        return path
    if rewrite.get("uri") is not None:
        uri = rewrite["uri"]
        prefix = (matched.get("uri") or {}).get("prefix")
        if prefix is not None and path.startswith(prefix):
            return uri + path[len(prefix):]
        return uri
    regex = rewrite.get("uriRegexRewrite")
    if regex and regex.get("match"):
        rx = _regex(regex["match"])
        if rx:
            # RE2 writes groups as \1; Python's re.sub reads them the same way.
            return rx.sub(regex.get("rewrite") or "", path)
    return path


def _mirrors(http):
    """(destination, percent) for each mirror of a route: `mirror` + `mirrorPercentage`, or `mirrors`."""
    out = []
    if http.get("mirror"):
        pct = http.get("mirrorPercentage")
        if isinstance(pct, dict) and "value" in pct:
            value = float(pct["value"] or 0)
        elif http.get("mirrorPercent") is not None:
            value = float(http["mirrorPercent"])
        else:
            value = 100.0
        out.append((http["mirror"], value))
    for m in http.get("mirrors") or ():
        if m.get("destination"):
            out.append((m["destination"], percentage(m)))
    return out


def _pick_weighted(destinations, rng):
    """A destination by relative weight, as Envoy's weighted clusters do (a lone one takes all)."""
    if len(destinations) == 1:
        return destinations[0]
    weights = [max(0, int(d.get("weight") or 0)) for d in destinations]
    total = sum(weights)
    if total == 0:
        return destinations[int(rng.random() * len(destinations))]
    pick = rng.random() * total
    for d, w in zip(destinations, weights):
        pick -= w
        if pick < 0:
            return d
    return destinations[-1]
