"""The simulator's pure parts, without a cluster: routing decisions, podinfo's answers, the exposition."""

import os
import random
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tools"))

from mesh_simulator import backend, routing  # noqa: E402
from mesh_simulator.metrics import BUCKETS, GATEWAY_SOURCE, IstioMetrics, request_labels  # noqa: E402

from support.mesh import tutorial_objects, virtual_service  # noqa: E402

NS = "shop"


def snapshot(objects):
    snap = {}
    for i, obj in enumerate(objects):
        obj["metadata"].setdefault("creationTimestamp", "2026-01-01T00:00:%02dZ" % i)
        snap.setdefault(obj["kind"], []).append(obj)
    return snap


def table(weights=None, extra=(), namespaces=(NS,), http_extra=()):
    objs = tutorial_objects(NS, weights or {"v1": 90, "v2": 10})
    if http_extra:
        objs[-1] = virtual_service(NS, weights or {"v1": 90, "v2": 10}, http_extra=http_extra)
    return routing.RouteTable(snapshot(objs + list(extra)), namespaces)


def route(tbl, path="/", host="app.example.com", headers=(), method="GET", seed=1):
    return tbl.route(routing.Request(host, method, path, list(headers) + [("Host", host)]), random.Random(seed))


def split(tbl, n=2000, **kw):
    rng = random.Random(7)
    counts = {}
    for dummy in range(n):
        d = tbl.route(routing.Request(kw.get("host", "app.example.com"), "GET", "/", list(kw.get("headers", ()))), rng)
        key = d.target.endpoint.version if d.kind == "route" and d.target.endpoint else d.kind
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_weights_are_followed_and_relative():
    counts = split(table({"v1": 90, "v2": 10}))
    assert 1730 <= counts["v1"] <= 1870 and counts["v1"] + counts["v2"] == 2000
    # Istio weights are relative: 9/1 is the same split as 90/10.
    counts = split(table({"v1": 9, "v2": 1}))
    assert 1730 <= counts["v1"] <= 1870
    assert split(table({"v1": 0, "v2": 100})) == {"v2": 2000}


def test_gateway_route_names_the_gateway_and_mesh_route_does_not():
    tbl = table()
    d = route(tbl)
    assert d.kind == "route" and d.gateway == NS + "/public-gateway"
    assert d.virtual_service == NS + "/podinfo" and d.route_name == "primary"
    assert d.target.fqdn == "podinfo.shop.svc.cluster.local"
    assert d.target.service_name == "podinfo" and d.target.service_namespace == NS
    # Short names are mesh traffic (a client's DNS search path expands them); the full name reaches
    # the gateway as sent, and its server takes every host.
    for host in ("podinfo", "podinfo.shop", "podinfo.shop.svc"):
        d = route(tbl, host=host)
        assert d.kind == "route" and d.gateway is None and d.virtual_service == NS + "/podinfo", host
    assert route(tbl, host="podinfo.shop.svc.cluster.local").gateway == NS + "/public-gateway"


@pytest.mark.parametrize("host", ["other.example.com", "podinfo.elsewhere"])
def test_unknown_host_has_no_route(host):
    objs = tutorial_objects(NS, {"v1": 100})
    objs[-1]["spec"]["hosts"] = ["app.example.com"]
    objs[-1]["spec"]["gateways"] = ["public-gateway"]
    objs[3]["spec"]["servers"][0]["hosts"] = ["app.example.com"]
    tbl = routing.RouteTable(snapshot(objs[:2] + objs[3:]), [NS])  # no Service: no default route either
    assert route(tbl, host=host).kind == "noroute"


def test_gateway_server_hosts_bind():
    objs = tutorial_objects(NS, {"v1": 100})
    objs[3]["spec"]["servers"][0]["hosts"] = [NS + "/app.example.com"]
    objs[-1]["spec"]["hosts"] = ["*"]
    objs[-1]["spec"]["gateways"] = ["public-gateway"]
    tbl = routing.RouteTable(snapshot(objs), [NS])
    assert route(tbl, host="app.example.com").gateway == NS + "/public-gateway"
    # The gateway does not serve this host: only the VirtualService's own hosts, mesh-style, catch it.
    assert route(tbl, host="shop.example.org").gateway is None


def test_header_and_cookie_match_before_weights():
    canary_for_testers = [
        {"name": "testers", "match": [{"headers": {"x-canary": {"exact": "insider"}}},
                                      {"headers": {"cookie": {"regex": "^(.*?; ?)?(user=test)(;.*)?$"}}}],
         "route": [{"destination": {"host": "podinfo", "subset": "v2"}}]},
    ]
    tbl = table({"v1": 100, "v2": 0}, http_extra=canary_for_testers)
    assert route(tbl).target.endpoint.version == "v1"
    assert route(tbl, headers=[("X-Canary", "insider")]).target.endpoint.version == "v2"
    assert route(tbl, headers=[("X-Canary", "outsider")]).target.endpoint.version == "v1"
    assert route(tbl, headers=[("Cookie", "a=1; user=test; b=2")]).route_name == "testers"
    assert route(tbl, headers=[("Cookie", "user=testing")]).route_name == "primary"


def test_uri_match_kinds_and_rewrite():
    rules = [
        {"name": "exact", "match": [{"uri": {"exact": "/exact"}}], "route": [{"destination": {"host": "podinfo", "subset": "v2"}}]},
        {"name": "api", "match": [{"uri": {"prefix": "/api/"}}], "rewrite": {"uri": "/status/"},
         "route": [{"destination": {"host": "podinfo", "subset": "v2"}}]},
        {"name": "re", "match": [{"uri": {"regex": "/r[0-9]+"}, "method": {"exact": "POST"}}],
         "route": [{"destination": {"host": "podinfo", "subset": "v2"}}]},
    ]
    tbl = table({"v1": 100}, http_extra=rules)
    assert route(tbl, "/exact").route_name == "exact"
    assert route(tbl, "/exact/more").route_name == "primary"
    d = route(tbl, "/api/418")
    assert d.route_name == "api" and d.path == "/status/418"
    assert route(tbl, "/r42", method="POST").route_name == "re"
    assert route(tbl, "/r42", method="GET").route_name == "primary"
    assert route(tbl, "/r42x", method="POST").route_name == "primary"  # regex is a full match
    assert route(tbl, "/exact?x=1").route_name == "exact"  # the query string is not part of the uri


def test_mirror_is_resolved_with_its_percentage():
    rules = [{"name": "mirrored", "route": [{"destination": {"host": "podinfo", "subset": "v1"}}],
              "mirror": {"host": "podinfo", "subset": "v2"}, "mirrorPercentage": {"value": 50.0}}]
    tbl = table(http_extra=rules)
    rng = random.Random(3)
    mirrored = 0
    for dummy in range(1000):
        d = tbl.route(routing.Request("app.example.com", "GET", "/", []), rng)
        assert d.target.endpoint.version == "v1"
        if d.mirrors:
            assert d.mirrors[0].endpoint.version == "v2"
            mirrored += 1
    assert 430 <= mirrored <= 570


def test_fault_abort_and_delay_and_timeout():
    rules = [{"name": "faulty", "match": [{"uri": {"prefix": "/faulty"}}],
              "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 100}},
                        "delay": {"fixedDelay": "1.5s", "percentage": {"value": 100}}},
              "route": [{"destination": {"host": "podinfo", "subset": "v1"}}]},
             {"name": "slow", "match": [{"uri": {"prefix": "/slow"}}], "timeout": "250ms",
              "route": [{"destination": {"host": "podinfo", "subset": "v1"}}]}]
    tbl = table(http_extra=rules)
    d = route(tbl, "/faulty")
    assert d.kind == "abort" and d.status == 503 and d.delay_s == 1.5
    assert d.target.fqdn == "podinfo.shop.svc.cluster.local"
    assert route(tbl, "/slow").timeout_s == 0.25


def test_unknown_subset_and_scaled_to_zero_answer_503():
    d = route(table({"v3": 100}))
    assert d.target.endpoint is None and d.target.failure[:2] == (503, "NC")
    objs = tutorial_objects(NS, {"v1": 50, "v2": 50})
    objs[1]["spec"]["replicas"] = 0
    tbl = routing.RouteTable(snapshot(objs), [NS])
    failures = [route(tbl, seed=s).target.failure for s in range(100)]
    assert 25 <= sum(1 for f in failures if f and f[:2] == (503, "UH")) <= 75
    assert all(route(tbl, seed=s).target.endpoint.version == "v1" for s in range(100) if not failures[s])


def test_mesh_default_route_spreads_by_replicas_without_a_virtual_service():
    objs = [o for o in tutorial_objects(NS) if o["kind"] in ("Deployment", "Service")]
    objs[0]["spec"]["replicas"] = 3
    tbl = routing.RouteTable(snapshot(objs), [NS])
    counts = split(tbl, host="podinfo")
    assert 1400 <= counts["v1"] <= 1600  # 3 replicas of v1, 1 of v2


def test_durations_and_hosts():
    assert routing.parse_duration("1.5s") == 1.5
    assert routing.parse_duration("100ms") == pytest.approx(0.1)
    assert routing.parse_duration("2m") == 120
    assert routing.parse_duration(None) is None
    assert routing.strip_port("app.example.com:8080") == "app.example.com"
    assert routing.strip_port("[::1]:80") == "::1"
    assert routing.canonical_host("reviews", "prod") == "reviews.prod.svc.cluster.local"
    assert routing.host_matches("*.example.com", "app.example.com")
    assert not routing.host_matches("*.example.com", "example.org")


def _ep(annotations=None, version="v2"):
    return routing.Endpoint(NS, "podinfo-" + version, {"app": "podinfo", "version": version}, annotations or {}, 2)


def test_backend_answers_like_podinfo():
    rng = random.Random(1)
    r = backend.respond(_ep(), 1, "GET", "/", rng)
    assert r.status == 200 and ("X-Version", "v2") in r.headers and r.hold_s == 0
    assert b'"hostname": "podinfo-v2-1"' in r.body and b'"message": "greetings from podinfo-v2 v2"' in r.body
    assert backend.respond(_ep(), 0, "GET", "/status/503", rng).status == 503
    r = backend.respond(_ep(), 0, "GET", "/delay/1", rng)
    assert r.status == 200 and r.hold_s == 1.0
    assert backend.respond(_ep(), 0, "GET", "/anything/else", rng).status == 200


def test_backend_faults_from_annotations():
    rng = random.Random(5)
    ep = _ep({backend.ERROR_RATE_ANNOTATION: "0.25", backend.LATENCY_ANNOTATION: "150"})
    answers = [backend.respond(ep, 0, "GET", "/", rng) for dummy in range(2000)]
    errors = sum(1 for a in answers if a.status == 500)
    assert 420 <= errors <= 580
    assert all(a.hold_s == pytest.approx(0.15) for a in answers)
    assert backend.fault_settings({backend.ERROR_RATE_ANNOTATION: "nonsense"}) == (0.0, 0.0)
    assert backend.fault_settings({backend.ERROR_RATE_ANNOTATION: "7"})[0] == 1.0


def test_exposition_has_istio_labels_and_buckets():
    m = IstioMetrics()
    tbl = table()
    target = route(tbl).target
    m.observe(request_labels("destination", GATEWAY_SOURCE, target, 200), 3.0)
    m.observe(request_labels("destination", GATEWAY_SOURCE, target, 200), 700.0)
    text = m.render().decode()
    line = [ln for ln in text.splitlines() if ln.startswith("istio_requests_total{")][0]
    for label in ('reporter="destination"', 'destination_workload="podinfo-v1"',
                  'destination_workload_namespace="shop"', 'destination_version="v1"',
                  'destination_service="podinfo.shop.svc.cluster.local"', 'destination_service_name="podinfo"',
                  'destination_service_namespace="shop"', 'response_code="200"',
                  'source_workload="istio-ingressgateway"', 'source_workload_namespace="istio-system"',
                  'request_protocol="http"', 'connection_security_policy="unknown"'):
        assert label in line, label
    assert line.endswith(" 2")
    assert len([ln for ln in text.splitlines() if "_bucket{" in ln]) == len(BUCKETS) + 1
    assert 'le="5"} 1' in text and 'le="1000"} 2' in text and 'le="+Inf"} 2' in text
    assert "istio_request_duration_milliseconds_sum{" in text and "_count{" in text


def test_a_daemonset_version_is_an_endpoint_like_a_deployment():
    objs = tutorial_objects(NS, {"v1": 0, "v2": 100})
    for obj in objs:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"].endswith("-v2"):
            obj["kind"] = "DaemonSet"
            obj["spec"].pop("replicas", None)
    d = route(routing.RouteTable(snapshot(objs), (NS,)))
    assert d.kind == "route" and d.target.endpoint.workload.endswith("-v2") and d.target.endpoint.replicas == 1
