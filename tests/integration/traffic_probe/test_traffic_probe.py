"""traffic_probe through ansible-playbook, against the tutorial routed by the mesh simulator.

The simulator is seeded and the passing probes send one request at a time, so the split they see
is the same on every run: a statistical test that may fail a correct split by chance (1% at 99%
confidence) cannot make this suite flaky.
"""


import pytest

from support.ansible_run import run_play
from support.mesh import (
    TUTORIAL_HOST, apply_objects, create_tutorial, set_faults, start_simulator, virtual_service,
)


def play(tasks, check=False):
    return run_play(tasks, check=check)


@pytest.fixture
def mesh(k8s, namespace, cluster):
    sim = start_simulator(cluster, [namespace], ["--seed", "20261122"])
    yield sim
    assert sim.stop() == 0, sim.log_tail()


def tutorial(k8s, namespace, mesh, weights):
    create_tutorial(k8s, namespace, weights=weights)
    mesh.wait_synced(k8s, namespace)


def probe(mesh, check=False, **options):
    args = {"url": mesh.ingress_url, "host": TUTORIAL_HOST}
    args.update(options)
    return play([{"name": "probe", "rollouts.istio.traffic_probe": args}], check=check).by_name("probe")


def test_ninety_ten_route_matches_ninety_ten(k8s, namespace, mesh):
    tutorial(k8s, namespace, mesh, {"v1": 90, "v2": 10})
    res = probe(mesh, requests=400, concurrency=1, expected_weights={"v1": 90, "v2": 10})
    assert not res.get("failed"), res["msg"]
    assert res["changed"] is False and res["verdict"] == "pass"
    assert res["requests"] == 400 and sum(res["counts"].values()) == 400 and res["errors"]["count"] == 0
    assert set(res["split"]) == {"v1", "v2"} and abs(res["split"]["v2"] - 10) < 5
    cmp = res["comparison"]
    assert cmp["test"] == "chi_square" and cmp["confidence"] == 0.99 and cmp["df"] == 1
    assert cmp["p_value"] >= 0.01 and cmp["statistic"] >= 0
    assert res["msg"].startswith("split v1 ") and "(expected v1 90% / v2 10%) matches" in res["msg"]
    assert res["latency_ms"]["p50"] > 0 and res["latency_ms"]["p50"] <= res["latency_ms"]["p99"]


def test_ninety_ten_route_fails_an_expected_fifty_fifty(k8s, namespace, mesh):
    tutorial(k8s, namespace, mesh, {"v1": 90, "v2": 10})
    base = {"url": mesh.ingress_url, "host": TUTORIAL_HOST, "requests": 200, "concurrency": 4,
            "expected_weights": {"v1": 50, "v2": 50}}
    variants = [("chi_square", {}), ("wilson", {"test": "wilson"}), ("absolute", {"test": "absolute", "tolerance_pp": 10}),
                ("no fail", {"fail_on_mismatch": False})]
    result = play([{"name": name, "rollouts.istio.traffic_probe": dict(base, **extra), "ignore_errors": True}
                   for name, extra in variants])
    res = result.by_name("chi_square")
    assert res.get("failed") and res["verdict"] == "fail"
    assert "(expected v1 50% / v2 50%) does not match: chi-square goodness of fit" in res["msg"]
    observed = "split v1 %.1f%% / v2 %.1f%%" % (res["split"]["v1"], res["split"].get("v2", 0.0))
    assert res["msg"].startswith(observed), res["msg"]
    assert res["comparison"]["p_value"] < 1e-10
    # The same, judged by the other two tests.
    for test in ("wilson", "absolute"):
        res = result.by_name(test)
        assert res.get("failed") and res["comparison"]["test"] == test, res["msg"]
    # fail_on_mismatch=false: the verdict is returned for an assert of the play's own.
    res = result.by_name("no fail")
    assert not res.get("failed") and res["verdict"] == "fail"


def test_check_mode_probes_too_and_body_regex(k8s, namespace, mesh):
    tutorial(k8s, namespace, mesh, {"v1": 0, "v2": 100})
    res = probe(mesh, check=True, requests=30, version_regex=r'"version":\s*"([^"]+)"',
                expected_weights={"v2": 100})
    assert not res.get("failed"), res["msg"]
    assert res["counts"] == {"v2": 30} and res["verdict"] == "pass" and res["changed"] is False


def test_cookie_route_and_errors_are_reported(k8s, namespace, mesh):
    testers = [{"name": "testers", "match": [{"headers": {"cookie": {"regex": "^(.*?; ?)?(user=test)(;.*)?$"}}}],
                "route": [{"destination": {"host": "podinfo", "subset": "v2"}}]}]
    create_tutorial(k8s, namespace, weights={"v1": 100, "v2": 0})
    apply_objects(k8s, [virtual_service(namespace, {"v1": 100, "v2": 0}, http_extra=testers)])
    mesh.wait_seen(set_faults(k8s, namespace, "podinfo-v2", error_rate=0.3).to_dict())
    mesh.wait_synced(k8s, namespace)
    res = probe(mesh, requests=100, headers={"Cookie": "session=1; user=test"}, expected_weights={"v2": 100})
    assert not res.get("failed"), res["msg"]
    assert res["counts"] == {"v2": 100}
    assert 10 <= res["errors"]["by_status"].get("500", 0) <= 50 and res["errors"]["count"] == res["errors"]["by_status"]["500"]
    res = probe(mesh, requests=20, expected_weights={"v1": 100})
    assert not res.get("failed") and res["counts"] == {"v1": 20} and res["errors"]["count"] == 0


def test_no_route_is_unidentified_and_nothing_listening_fails(k8s, namespace, mesh):
    res = probe(mesh, requests=10, host="nobody.example.org", expected_weights={"v1": 100})
    assert res.get("failed") and res["unidentified"] == 10 and res["errors"]["by_status"] == {"404": 10}
    assert "no response named its version" in res["msg"]
    res = play([{"name": "probe", "rollouts.istio.traffic_probe": {"url": "http://127.0.0.1:9/", "requests": 3,
                                                                   "timeout": 2}}]).by_name("probe")
    assert res.get("failed") and res["msg"].startswith("no response to any of 3 requests to http://127.0.0.1:9/")
