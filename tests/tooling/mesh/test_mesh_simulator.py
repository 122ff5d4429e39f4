"""The mesh simulator against the test bed: routing from live objects, faults, metrics in Prometheus."""

import json
import os
import time
import urllib.parse
import urllib.request

from support.mesh import (
    TUTORIAL_HOST, apply_objects, create_tutorial, run_hey, set_faults, set_weights, virtual_service,
)


def test_routes_by_weight_and_follows_a_live_change(k8s, namespace, mesh_simulator):
    create_tutorial(k8s, namespace, weights={"v1": 90, "v2": 10})
    mesh_simulator.wait_synced(k8s)
    counts = mesh_simulator.versions(400)
    # 90/10 over 400 requests: v2 has mean 40 and sd 6; 15..70 is beyond 4 sd on either side.
    assert set(counts) <= {"v1", "v2"} and 15 <= counts.get("v2", 0) <= 70, counts
    t0 = time.time()
    mesh_simulator.wait_seen(set_weights(k8s, namespace, {"v1": 0, "v2": 100}).to_dict())
    assert time.time() - t0 < 2.0, "the simulator saw the patch only after %.1fs" % (time.time() - t0)
    assert mesh_simulator.versions(50) == {"v2": 50}


def test_podinfo_answers_and_the_mesh_style_hosts(k8s, namespace, mesh_simulator):
    create_tutorial(k8s, namespace, weights={"v1": 100, "v2": 0})
    mesh_simulator.wait_synced(k8s)
    status, headers, body = mesh_simulator.get("/")
    doc = json.loads(body)
    assert status == 200 and headers["x-version"] == "v1"
    assert doc["version"] == "v1" and doc["hostname"] == "podinfo-v1-0" and doc["message"] == "greetings from podinfo-v1 v1"
    assert mesh_simulator.get("/status/418")[0] == 418
    for host in ("podinfo", "podinfo.%s" % namespace, "podinfo.%s.svc.cluster.local:9898" % namespace):
        status, headers, dummy = mesh_simulator.get("/", host=host)
        assert status == 200 and headers["x-version"] == "v1", host
    status, dummy, body = mesh_simulator.get("/", host="nobody.example.org")
    assert status == 404 and body.startswith("mesh simulator: no route for host nobody.example.org")


def test_header_and_cookie_match(k8s, namespace, mesh_simulator):
    testers = [{"name": "testers",
                "match": [{"headers": {"x-canary": {"exact": "insider"}}},
                          {"headers": {"cookie": {"regex": "^(.*?; ?)?(canary=always)(;.*)?$"}}}],
                "route": [{"destination": {"host": "podinfo", "subset": "v2"}}]}]
    create_tutorial(k8s, namespace, weights={"v1": 100, "v2": 0})
    mesh_simulator.wait_seen(apply_objects(k8s, [virtual_service(namespace, {"v1": 100, "v2": 0},
                                                                 http_extra=testers)])[0].to_dict())
    mesh_simulator.wait_synced(k8s)
    assert mesh_simulator.versions(20) == {"v1": 20}
    assert mesh_simulator.versions(20, headers={"X-Canary": "insider"}) == {"v2": 20}
    assert mesh_simulator.versions(20, headers={"Cookie": "session=1; canary=always"}) == {"v2": 20}
    assert mesh_simulator.versions(20, headers={"Cookie": "canary=never"}) == {"v1": 20}


def test_mirror_answers_from_primary_and_counts_the_copy(k8s, namespace, mesh_simulator):
    mirrored = [{"name": "mirrored", "route": [{"destination": {"host": "podinfo", "subset": "v1"}, "weight": 100}],
                 "mirror": {"host": "podinfo", "subset": "v2"}, "mirrorPercentage": {"value": 100.0}}]
    create_tutorial(k8s, namespace)
    vs = virtual_service(namespace, {"v1": 100})
    vs["spec"]["http"] = mirrored
    mesh_simulator.wait_seen(apply_objects(k8s, [vs])[0].to_dict())
    mesh_simulator.wait_synced(k8s)
    assert mesh_simulator.versions(30) == {"v1": 30}
    deadline = time.time() + 5
    while time.time() < deadline:
        v2 = _count(mesh_simulator.metrics(), reporter="destination", destination_workload="podinfo-v2")
        if v2 == 30:
            break
        time.sleep(0.1)
    assert v2 == 30
    text = mesh_simulator.metrics()
    assert _count(text, reporter="destination", destination_workload="podinfo-v1") == 30
    # The gateway reports only the request it answered, not the shadow copy.
    assert _count(text, reporter="source", destination_workload="podinfo-v1") == 30
    assert _count(text, reporter="source", destination_workload="podinfo-v2") == 0


def test_fault_annotations_take_effect_at_run_time(k8s, namespace, mesh_simulator):
    create_tutorial(k8s, namespace, weights={"v1": 0, "v2": 100})
    mesh_simulator.wait_synced(k8s)
    mesh_simulator.wait_seen(set_faults(k8s, namespace, "podinfo-v2", error_rate=0.5).to_dict())
    counts = mesh_simulator.versions(200)
    assert 60 <= counts.get(500, 0) <= 140 and counts.get(500, 0) + counts.get("v2", 0) == 200, counts
    mesh_simulator.wait_seen(set_faults(k8s, namespace, "podinfo-v2", latency_ms=300).to_dict())
    t0 = time.time()
    assert mesh_simulator.get("/")[0] == 200
    assert time.time() - t0 >= 0.3
    # The tutorial's own faults: /status/500 and /delay/1.
    assert mesh_simulator.get("/status/500")[0] == 500
    t0 = time.time()
    status, headers, dummy = mesh_simulator.get("/delay/1")
    assert status == 200 and headers["x-version"] == "v2" and time.time() - t0 >= 1.3


def test_metrics_reach_prometheus_with_istio_labels(k8s, namespace, mesh_simulator, prometheus_url):
    create_tutorial(k8s, namespace, weights={"v1": 50, "v2": 50})
    mesh_simulator.wait_synced(k8s)
    mesh_simulator.wait_scraped(prometheus_url)
    # The seed's load, as its webhook runs it (shorter): hey -z 1m -q 10 -c 2 URL
    run_hey(mesh_simulator.ingress_url + "/", host=TUTORIAL_HOST, seconds=4, qps=10, concurrency=2)
    query = ('sum by (destination_version, destination_workload, destination_service, destination_service_name, '
             'source_workload, response_code) (istio_requests_total{reporter="destination", '
             'destination_workload_namespace="%s"})' % namespace)
    # Wait for the scrape after the last request: the total stops short of hey's count until then.
    series = _wait_for_series(prometheus_url, query, lambda r: sum(float(s["value"][1]) for s in r) >= 60)
    by_version = {s["metric"]["destination_version"]: s for s in series}
    assert set(by_version) == {"v1", "v2"}
    for version, s in by_version.items():
        m = s["metric"]
        assert m["destination_workload"] == "podinfo-" + version
        assert m["destination_service"] == "podinfo.%s.svc.cluster.local" % namespace
        assert m["destination_service_name"] == "podinfo" and m["source_workload"] == "istio-ingressgateway"
        assert m["response_code"] == "200"
    total = sum(float(s["value"][1]) for s in series)
    assert 60 <= total <= 85, total  # 2 workers x 10 qps x 4 s
    # Flagger's request-duration check reads the histogram: the buckets must be there.
    p99 = _wait_for_series(prometheus_url, 'histogram_quantile(0.99, sum by (le) (rate('
                           'istio_request_duration_milliseconds_bucket{reporter="destination", '
                           'destination_workload_namespace="%s"}[1m])))' % namespace,
                           # rate() needs two scrapes of the histogram; until then the quantile is NaN.
                           lambda r: len(r) == 1 and r[0]["value"][1] != "NaN")
    assert 0 < float(p99[0]["value"][1]) < 250


def test_stops_cleanly_and_withdraws_its_target(k8s, namespace, mesh_simulator, cluster):
    target = os.path.join(cluster["prometheus_targets"], "mesh-simulator-%d.json" % mesh_simulator.pid)
    with open(target) as fh:
        announced = json.load(fh)
    assert announced[0]["targets"] == [mesh_simulator.metrics_url[len("http://"):]]
    assert mesh_simulator.stop() == 0
    assert not os.path.exists(target) and not os.path.exists(mesh_simulator.ready_file)


def _count(text, **labels):
    total = 0
    for line in text.splitlines():
        if line.startswith("istio_requests_total{") and all('%s="%s"' % kv in line for kv in labels.items()):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def _wait_for_series(prometheus_url, query, ready, timeout=30):
    deadline = time.time() + timeout
    result = []
    while time.time() < deadline:
        url = prometheus_url + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
        with urllib.request.urlopen(url, timeout=10) as resp:
            result = json.load(resp)["data"]["result"]
        if result and ready(result):
            return result
        time.sleep(1)
    raise AssertionError("Prometheus returned %r for %s after %ss" % (result, query, timeout))
