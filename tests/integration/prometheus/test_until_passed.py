"""prometheus_check until_passed (Flagger's threshold semantics) against the test bed's real Prometheus."""
from support.mesh import mesh_simulator  # noqa: F401 pylint: disable=unused-import
from support.mesh import create_tutorial, set_faults
from support.prometheus_gate import builtin_gate, load, run_module

WINDOW = "20s"


def gate(prometheus_url, namespace, **options):
    options.setdefault("interval", "2s")
    options.setdefault("initial_delay", WINDOW)
    options.setdefault("metrics", [{"name": "request-success-rate", "min": 99, "interval": WINDOW},
                                   {"name": "request-duration", "max": 500, "interval": WINDOW}])
    return builtin_gate(prometheus_url, namespace, **options)


def test_until_passed_healthy_passes_after_iterations_passes(k8s, namespace, mesh_simulator, prometheus_url):
    create_tutorial(k8s, namespace, weights={"v1": 50, "v2": 50})
    mesh_simulator.wait_synced(k8s, namespace)
    mesh_simulator.wait_scraped(prometheus_url)
    with load(mesh_simulator, 60, 25, 4):
        res = run_module("prometheus_check", gate(prometheus_url, namespace, iterations=3, failed_checks_limit=5,
                                                  until_passed=True))
    assert not res.get("failed"), res.get("msg")
    assert res["verdict"] == "pass" and res["passed_checks"] == 3 and res["max_checks"] == 7
    assert res["until_passed"] is True and res["iterations_run"] == 3


def test_until_passed_failing_candidate_fails_at_the_limit_above_iterations(
        k8s, namespace, mesh_simulator, prometheus_url):
    create_tutorial(k8s, namespace, weights={"v1": 50, "v2": 50})
    set_faults(k8s, namespace, "podinfo-v2", error_rate=0.2)
    mesh_simulator.wait_synced(k8s, namespace)
    mesh_simulator.wait_scraped(prometheus_url)
    with load(mesh_simulator, 60, 25, 4):
        res = run_module("prometheus_check", gate(prometheus_url, namespace, iterations=2, failed_checks_limit=3,
                                                  until_passed=True, fail_task=False))
    assert res["verdict"] == "fail" and res["failed_checks"] == 3 and res["iterations_run"] == 3, res["reason"]
    assert res["reason"].endswith("(failed_checks_limit 3 reached)")


def test_until_passed_with_stop_early_is_refused(prometheus_url, namespace):
    res = run_module("prometheus_check", gate(prometheus_url, namespace, until_passed=True, stop_early_on_pass=True))
    assert res.get("failed") and res["param"] == "stop_early_on_pass"
    assert res["msg"].startswith("stop_early_on_pass: cannot be combined with until_passed")
