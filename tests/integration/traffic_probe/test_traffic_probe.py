"""traffic_probe through ansible-playbook, against the tutorial routed by the mesh simulator.

The simulator is seeded and the passing probes send one request at a time, so the split they see
is the same on every run: a statistical test that may fail a correct split by chance (1% at 99%
confidence) cannot make this suite flaky.
"""


import pytest

from support.ansible_run import run_play
from support.mesh import (
    TUTORIAL_HOST, apply_objects, create_tutorial, deployment, set_faults, start_simulator, tutorial_objects,
    virtual_service,
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
    assert res["requests_needed"] == 60 and res["reasons"] == [] and res["reason"].startswith("chi-square p=")
    assert res["latency_ms"]["p50"] > 0 and res["latency_ms"]["p50"] <= res["latency_ms"]["p99"]


def test_ninety_ten_route_fails_an_expected_fifty_fifty(k8s, namespace, mesh):
    tutorial(k8s, namespace, mesh, {"v1": 90, "v2": 10})
    base = {"url": mesh.ingress_url, "host": TUTORIAL_HOST, "requests": 200, "concurrency": 4,
            "expected_weights": {"v1": 50, "v2": 50}}
    variants = [("chi_square", {}), ("wilson", {"test": "wilson"}), ("absolute", {"test": "absolute", "tolerance_pp": 10}),
                ("no fail", {"fail_task": False}), ("old name", {"fail_on_mismatch": False})]
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
    # fail_task=false: the verdict is returned for an assert of the play's own; so with the old name.
    res = result.by_name("no fail")
    assert not res.get("failed") and res["verdict"] == "fail"
    assert res["reason"] == res["reasons"][0] and res["reason"].startswith("chi-square goodness of fit")
    res = result.by_name("old name")
    assert not res.get("failed") and res["verdict"] == "fail"
    assert "fail_on_mismatch" in repr(res.get("deprecations")) + result.stderr


def test_check_mode_probes_too_and_body_regex(k8s, namespace, mesh):
    tutorial(k8s, namespace, mesh, {"v1": 0, "v2": 100})
    res = probe(mesh, check=True, requests=30, version_regex=r'"version":\s*"([^"]+)"',
                expected_weights={"v2": 100})
    assert not res.get("failed"), res["msg"]
    assert res["counts"] == {"v2": 30} and res["verdict"] == "pass" and res["changed"] is False


def test_cookie_route_and_errors_count_against_the_verdict(k8s, namespace, mesh):
    testers = [{"name": "testers", "match": [{"headers": {"cookie": {"regex": "^(.*?; ?)?(user=test)(;.*)?$"}}}],
                "route": [{"destination": {"host": "podinfo", "subset": "v2"}}]}]
    create_tutorial(k8s, namespace, weights={"v1": 100, "v2": 0})
    apply_objects(k8s, [virtual_service(namespace, {"v1": 100, "v2": 0}, http_extra=testers)])
    mesh.wait_seen(set_faults(k8s, namespace, "podinfo-v2", error_rate=0.3).to_dict())
    mesh.wait_synced(k8s, namespace)
    cookie = {"Cookie": "session=1; user=test"}
    base = {"url": mesh.ingress_url, "host": TUTORIAL_HOST, "requests": 100, "headers": cookie,
            "expected_weights": {"v2": 100}}
    result = play([{"name": "strict", "rollouts.istio.traffic_probe": base, "ignore_errors": True},
                   {"name": "errors allowed", "rollouts.istio.traffic_probe": dict(base, max_error_pct=60)},
                   {"name": "v1", "rollouts.istio.traffic_probe": {"url": mesh.ingress_url, "host": TUTORIAL_HOST,
                                                                   "requests": 20, "expected_weights": {"v1": 100}}}])
    # By default any error fails the verdict: the 500s named v2, so the split is right, the answers are not.
    res = result.by_name("strict")
    assert res.get("failed") and res["verdict"] == "fail" and res["counts"] == {"v2": 100}
    errors = res["errors"]["by_status"].get("500", 0)
    assert 10 <= errors <= 50 and res["errors"]["count"] == errors == res["failed_or_unidentified"]
    assert res["reasons"] == ["errors: %d of 100 requests (%.2f%%) failed or named no version (500 x%d), more than "
                              "max_error_pct 0" % (errors, errors, errors)]
    # With errors allowed (a candidate's error rate judged elsewhere), the split alone decides.
    res = result.by_name("errors allowed")
    assert not res.get("failed") and res["verdict"] == "pass" and res["counts"] == {"v2": 100}, res["msg"]
    res = result.by_name("v1")
    assert not res.get("failed") and res["counts"] == {"v1": 20} and res["errors"]["count"] == 0


def test_candidate_that_gets_nothing_is_never_a_match(k8s, namespace, mesh):
    # The route sends the candidate nothing, the step expects 95/5: the old advice, 100 requests, cannot
    # tell (p = 0.022); enough requests fail it. One request at a time: the same split on every run.
    tutorial(k8s, namespace, mesh, {"v1": 100, "v2": 0})
    base = {"url": mesh.ingress_url, "host": TUTORIAL_HOST, "concurrency": 1, "expected_weights": {"v1": 95, "v2": 5}}
    result = play([{"name": "100", "rollouts.istio.traffic_probe": dict(base, requests=100), "ignore_errors": True},
                   {"name": "200", "rollouts.istio.traffic_probe": dict(base, requests=200), "ignore_errors": True}])
    res = result.by_name("100")
    assert res.get("failed") and res["verdict"] == "inconclusive" and res["requests_needed"] == 127
    assert res["counts"] == {"v1": 100} and res["comparison"]["p_value"] > 0.01
    assert res["reason"] == ("100 identified responses are too few to notice v2 (expected 5%) getting nothing: "
                             "chi-square at confidence 0.99 needs 127")
    assert res["msg"] == "split v1 100.0% / v2 0.0% (expected v1 95% / v2 5%) is inconclusive: " + res["reason"]
    res = result.by_name("200")
    assert res.get("failed") and res["verdict"] == "fail" and res["comparison"]["p_value"] < 0.01
    assert res["reason"].startswith("chi-square goodness of fit")


def test_correct_ninety_five_five_with_enough_requests_passes(k8s, namespace, mesh):
    tutorial(k8s, namespace, mesh, {"v1": 95, "v2": 5})
    res = probe(mesh, requests=400, concurrency=1, expected_weights={"v1": 95, "v2": 5})
    assert not res.get("failed"), res["msg"]
    assert res["verdict"] == "pass" and res["counts"].get("v2", 0) > 0 and res["failed_or_unidentified"] == 0
    assert res["comparison"]["samples"] == 400 >= res["requests_needed"] == 127


def test_candidate_with_all_pods_down_fails(k8s, namespace, mesh):
    # No pod of v2: the gateway answers the candidate's share with 503 and no version header.
    objects = [deployment(namespace, "v2", replicas=0) if obj["metadata"]["name"] == "podinfo-v2" else obj
               for obj in tutorial_objects(namespace, weights={"v1": 95, "v2": 5})]
    apply_objects(k8s, objects)
    mesh.wait_synced(k8s, namespace)
    base = {"url": mesh.ingress_url, "host": TUTORIAL_HOST, "concurrency": 1, "expected_weights": {"v1": 95, "v2": 5}}
    result = play([{"name": "default", "rollouts.istio.traffic_probe": dict(base, requests=100), "ignore_errors": True},
                   {"name": "errors allowed, too few",
                    "rollouts.istio.traffic_probe": dict(base, requests=100, max_error_pct=100), "ignore_errors": True},
                   {"name": "errors allowed, enough",
                    "rollouts.istio.traffic_probe": dict(base, requests=300, max_error_pct=100), "ignore_errors": True}])
    res = result.by_name("default")
    down = res["errors"]["by_status"].get("503", 0)
    assert res.get("failed") and res["verdict"] == "fail" and set(res["counts"]) == {"v1"}
    assert down > 0 and res["unidentified"] == down == res["failed_or_unidentified"]
    assert res["reasons"][-1] == ("errors: %d of 100 requests (%.2f%%) failed or named no version (503 x%d), more "
                                  "than max_error_pct 0" % (down, down, down))
    res = result.by_name("errors allowed, too few")
    assert res.get("failed") and res["verdict"] == "inconclusive", res["msg"]
    res = result.by_name("errors allowed, enough")
    assert res.get("failed") and res["verdict"] == "fail" and res["reason"].startswith("chi-square goodness of fit")


def test_bad_options_fail_naming_the_option_and_send_nothing(k8s, namespace, mesh):
    tutorial(k8s, namespace, mesh, {"v1": 90, "v2": 10})
    base = {"url": mesh.ingress_url, "host": TUTORIAL_HOST, "requests": 5}
    cases = [("timeout", {"timeout": "nan"}), ("timeout", {"timeout": -1}),
             ("tolerance_pp", {"tolerance_pp": "nan", "test": "absolute", "expected_weights": {"v1": 100}}),
             ("confidence", {"confidence": "nan", "expected_weights": {"v1": 100}}),
             ("expected_weights.v1", {"expected_weights": {"v1": 90.5, "v2": 9.5}}),
             ("expected_weights", {"expected_weights": {"v1": 90, "v2": 20}}),
             ("max_error_pct", {"max_error_pct": -1})]
    before = mesh.metrics()
    result = play([{"name": str(i), "rollouts.istio.traffic_probe": dict(base, **extra), "ignore_errors": True}
                   for i, (dummy, extra) in enumerate(cases)])
    for i, (param, dummy) in enumerate(cases):
        res = result.by_name(str(i))
        assert res.get("failed") and res["msg"].startswith(param + ": ") and res.get("param") == param, res
        # A refused option, not a crash (ansible-core fills "exception" for every failure).
        assert "module_stderr" not in res and "most recent call last" not in repr(res), res
    assert mesh.metrics() == before


def test_no_route_is_unidentified_and_nothing_listening_fails(k8s, namespace, mesh):
    res = probe(mesh, requests=10, host="nobody.example.org", expected_weights={"v1": 100})
    assert res.get("failed") and res["unidentified"] == 10 and res["errors"]["by_status"] == {"404": 10}
    assert "no response named its version" in res["msg"]
    res = play([{"name": "probe", "rollouts.istio.traffic_probe": {"url": "http://127.0.0.1:9/", "requests": 3,
                                                                   "timeout": 2}}]).by_name("probe")
    assert res.get("failed") and res["msg"].startswith("no response to any of 3 requests to http://127.0.0.1:9/")
