"""The data plane fails during a step's gate (issue 11, infrastructure faults). The mesh simulator
stands in for Envoy and podinfo (tools/mesh_simulator, tests/support/mesh.py): the candidate's app
stops answering (its sidecar answers 503 UF, as Envoy does when the app's port refuses), or the
ingress gateway refuses connections or accepts them and never answers.

The fault starts once the analysis of step 1 has begun (its first query reached Prometheus, through
a pass-through proxy that only tells the test when). Each trial: the gate (Prometheus checks, or the
traffic probe through the ingress) fails closed naming what failed, the rollback completes with the
fault still on, 100 % is on stable, and every VirtualService version stored had valid weights.
"""

import re
import time

import pytest

from support.faults import assert_every_version_valid, assert_rolled_back
from support.mesh import set_stopped
from support.release import read_record, run_playbook, save_timing, start_playbook, wait_record


def start_analysis(release, proxy, run):
    progressing = wait_record(release.namespace, lambda r: r.get("phase") == "Progressing", run=run,
                              what="step 1 written")
    assert int(progressing["weight"]) == 20, progressing
    proxy.wait_queries(1, since=time.time(), run=run)


def probe(release, **options):
    values = {"url": release.simulator.ingress_url + "/", "host": release.host, "requests": 40, "concurrency": 4,
              "timeout": 1, "version_header": "X-Version"}
    values.update(options)
    return values


def run_with_fault(release, proxy, plan_vars, fault):
    watch = release.watch()
    run = start_playbook("canary.yml", plan_vars, timeout=240)
    try:
        start_analysis(release, proxy, run)
        fault()
        result = run.result()
    finally:
        if not run.done():
            run.kill()
    message = assert_rolled_back(release, result)
    watch.stop()
    assert_every_version_valid(release, watch)
    return result, message


def test_the_candidate_stopping_mid_analysis_fails_the_metrics_gate(release, prometheus_proxy):
    plan_vars = release.vars(prometheus_url=prometheus_proxy.url, steps=[20], iterations=4)

    def fault():
        release.simulator.wait_seen(set_stopped(release.k8s, release.namespace, "podinfo-v2").to_dict())

    result, message = run_with_fault(release, prometheus_proxy, plan_vars, fault)
    # The candidate's 503s (counted by its sidecar, reporter=destination) pull its success rate down.
    found = re.search(r"rolled back at step 1 \(20 ?%\): .*request-success-rate = ([\d.]+) < min 99", message)
    assert found and float(found.group(1)) < 99, message
    save_timing("mesh_fault_candidate_stopped", wall_s=round(result.wall, 1), message=message)
    # A rollback is final: the same run again writes nothing and fails, saying the candidate was
    # rolled back, why, and that retry.yml tries it again.
    before = read_record(release.namespace)
    again = run_playbook("canary.yml", plan_vars)
    assert again.rc != 0 and again.changed == 0, again.summary()
    assert re.search(r"rollout podinfo is Failed: candidate v2 was rolled back \(step 1 \(20 %\): "
                     r"request-success-rate = [\d.]+ < min 99.*Run retry\.yml", again.failure()), again.failure()
    assert read_record(release.namespace)["updated"] == before["updated"]


@pytest.mark.parametrize("state, says", [
    ("refusing", r"no response to any of 40 requests to http://127\.0\.0\.1:\d+/: connection refused x40"),
    ("hanging", r"no response to any of 40 requests to http://127\.0\.0\.1:\d+/: timeout x40"),
])
def test_the_ingress_going_away_mid_analysis_fails_the_probe(release, prometheus_proxy, state, says):
    # Two checks: the second still reads the window's traffic from before the fault and passes; the
    # probe through the ingress is then the gate that sees the gateway gone.
    plan_vars = release.vars(prometheus_url=prometheus_proxy.url, steps=[20], iterations=2, probe=probe(release))
    result, message = run_with_fault(release, prometheus_proxy, plan_vars,
                                     lambda: release.simulator.set_ingress(state))
    assert release.simulator.set_ingress("serving")["state"] == "serving"
    assert re.search(r"rolled back at step 1 \(20 ?%\): " + says, message), message
    save_timing("mesh_fault_ingress_" + state, wall_s=round(result.wall, 1), message=message)


pytestmark = pytest.mark.testbed
