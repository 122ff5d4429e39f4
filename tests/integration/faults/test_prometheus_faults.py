"""Prometheus fails during a step's analysis (issue 11, infrastructure faults): a proxy in front of
the test bed's real Prometheus passes the gate's first query, then is switched to down (connection
refused), slow (longer than the gate's query timeout), or garbage (a 200 that is not JSON, Prometheus'
JSON with NaN or +Inf). The mesh simulator stands in for Envoy (tests/support/mesh.py).

Each trial: the gate fails closed naming the metric and what went wrong, the rollback completes
while the fault is still on (it needs no Prometheus), 100 % is on stable, and every VirtualService
version stored during the run had valid weights.
"""

import re
import time

import pytest

from support.faults import assert_every_version_valid, assert_rolled_back
from support.release import (primary_weights, read_record, run_playbook, save_timing, start_playbook,
                             wait_record)

METRIC = r"request-(success-rate|duration)"
URL = r"Prometheus at http://127\.0\.0\.1:\d+"
# mode -> what the one line of the failure says (after "step 1 (20 %): ")
SAYS = {
    # The plan below sets shift_traffic_prometheus_timeout 3 (s) and _retries 1: two attempts a query.
    "down": METRIC + r": " + URL + r" is unreachable: .*Connection refused.* \(2 attempts\)",
    "slow": METRIC + r": " + URL + r" did not answer within 3s \(timeout\) \(2 attempts\)",
    "not_json": (METRIC + r": " + URL + r" answered with something that is not its JSON API \(HTTP 200, "
                 r"Content-Type text/html\)"),
    # The role's checks count the requests first (min_requests): a count of NaN or +Inf is no evidence,
    # and the line says what the count was.
    "nan": METRIC + r": no data \(the request count is NaN, not a number of requests \(min_requests \d+\)\)",
    "inf": METRIC + r": no data \(the request count is \+Inf, not a number of requests \(min_requests \d+\)\)",
}
RAW = {"nan": "NaN", "inf": "+Inf"}


def plan(release, proxy):
    values = release.vars(prometheus_url=proxy.url, steps=[20], iterations=3)
    # A query timeout shorter than the role's default (30 s, 3 retries), so a slow Prometheus fails the
    # check in seconds: the role passes both to every query, the preflight's and the gate's.
    values.update(shift_traffic_prometheus_timeout=3, shift_traffic_prometheus_retries=1)
    return values


def start_analysis(release, proxy, run):
    """Wait until the analysis of step 1 has begun: the step is written (Prometheus was asked before,
    by the preflight), then the gate's first query went through to Prometheus."""
    progressing = wait_record(release.namespace, lambda r: r.get("phase") == "Progressing", run=run,
                              what="step 1 written")
    assert int(progressing["weight"]) == 20, progressing
    proxy.wait_queries(1, since=time.time(), run=run)


@pytest.mark.parametrize("mode", ["down", "not_json", "nan", "inf", "slow"])
def test_prometheus_failing_mid_analysis_fails_the_gate_closed_and_the_rollback_needs_no_prometheus(
        release, prometheus_proxy, mode):
    plan_vars = plan(release, prometheus_proxy)
    watch = release.watch()
    run = start_playbook("canary.yml", plan_vars, timeout=240)
    try:
        start_analysis(release, prometheus_proxy, run)
        prometheus_proxy.set_mode(mode)
        result = run.result()
    finally:
        if not run.done():
            run.kill()
    # The fault was on until the run ended: the rollback was written without Prometheus.
    assert prometheus_proxy.mode == mode
    message = assert_rolled_back(release, result)
    assert re.search(r"rolled back at step 1 \(20 ?%\): .*?(" + SAYS[mode] + ")", message), message
    watch.stop()
    assert_every_version_valid(release, watch)
    if mode in RAW:
        gates = result.results_of("rollouts.istio.prometheus_check")
        raws = set(c.get("raw") for c in gates[-1]["checks"] if c.get("verdict") != "pass")
        assert raws == {RAW[mode]}, gates[-1]["checks"]
    if mode != "down":
        # The gate asked Prometheus and got the fault's answer (the down proxy counts nothing).
        assert prometheus_proxy.queries_in(mode), prometheus_proxy.queries
    save_timing("prometheus_fault_" + mode, wall_s=round(result.wall, 1), message=message,
                queries_in_fault=len(prometheus_proxy.queries_in(mode)))


def test_after_prometheus_comes_back_a_retry_promotes(release, prometheus_proxy):
    plan_vars = plan(release, prometheus_proxy)
    run = start_playbook("canary.yml", plan_vars, timeout=240)
    start_analysis(release, prometheus_proxy, run)
    prometheus_proxy.set_mode("down")
    assert_rolled_back(release, run.result())
    # While Prometheus is down, a run fails in its preflight, naming the URL, before it writes anything.
    refused = run_playbook("canary.yml", plan_vars)
    assert refused.rc != 0 and refused.changed == 0, refused.summary()
    assert re.search(r"shift_traffic_prometheus_url: metric " + METRIC + ": " + URL + " is unreachable",
                     refused.failure()), refused.failure()
    prometheus_proxy.set_mode("pass")
    # Back: the same run again finds the rollout Failed, writes nothing, and says to run retry.yml.
    again = run_playbook("canary.yml", plan_vars)
    assert again.rc != 0 and again.changed == 0, again.summary()
    assert re.search(r"rollout podinfo is Failed: candidate v2 was rolled back \(step 1 \(20 %\): .*unreachable.*"
                     r"Run retry\.yml", again.failure()), again.failure()
    assert read_record(release.namespace)["phase"] == "Failed"
    retried = run_playbook("retry.yml", plan_vars)
    assert retried.rc == 0, retried.summary()
    assert read_record(release.namespace)["phase"] == "Succeeded"
    assert primary_weights(release.namespace) == {"v2": 100}


pytestmark = pytest.mark.testbed
