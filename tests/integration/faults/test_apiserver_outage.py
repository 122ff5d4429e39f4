"""The API server goes away mid-shift (issue 11, infrastructure faults): the test bed's real
kube-apiserver process is stopped (SIGTERM) for about 4 s and started again exactly as it ran
(tests/support/faults.py: its command line, environment, working directory and log from /proc), then
/readyz is waited for. The mesh simulator stands in for Envoy (tests/support/mesh.py).

The collection's own modules talk to the API server through plugins/module_utils/_edges/k8s_client.py:
one attempt per request (urllib3 retries=False), a 30 s timeout, so a refused connection fails the task
at once with "cannot reach the Kubernetes API server at <url>"; there is no retry to bound. Every
write is one resourceVersion-guarded patch of the weights and the record together, so an outage
leaves either the state before a patch or after it, never half of one: the watch below (which
resumes from its last resourceVersion after the outage) checks every stored version, and a re-run
converges.

These tests disturb every other test on the shared bed: they carry the `apiserver_outage` marker,
and run alone (nothing else against the bed).
"""

import re
import time

import pytest

from support.faults import assert_every_version_valid, port_free
from support.release import (ACTIVE_PHASES, TimedAuditLog, hold_env, primary_weights, read_record, run_playbook,
                             save_timing, start_playbook, wait_record)

OUTAGE_S = 4
CONNECTION = r"(cannot reach the Kubernetes API server at https://[\d.]+:\d+|[Cc]onnection refused|" \
             r"connect: connection refused|Unable to connect to the server)"


def test_the_api_server_stopping_mid_shift_fails_the_run_clearly_and_a_rerun_converges(release, apiserver, cluster):
    audit = TimedAuditLog(cluster["audit_log"])
    # No metrics gate and no load: step follows step, every few hundred milliseconds a request to the
    # API server (the rollout's writes, istioctl analyze), so the outage lands on one of them.
    plan_vars = release.vars(load=False, metrics=[], allow_no_metrics=True, steps=[10, 20, 30, 40, 50, 60, 70, 80, 90])
    watch = release.watch(across_outage=True)
    mark = audit.mark()
    run = start_playbook("canary.yml", plan_vars, timeout=240)
    try:
        wait_record(release.namespace, lambda r: r.get("phase") == "Progressing" and int(r.get("weight") or 0) > 0,
                    run=run, what="the shift under way")
        port = int(apiserver.argv[[a.startswith("--secure-port=") for a in apiserver.argv].index(True)]
                   .split("=", 1)[1])
        with apiserver.outage(OUTAGE_S):
            assert port_free(port), "the API server still listens after SIGTERM"
            while time.time() < apiserver.stopped_at + OUTAGE_S and not run.done():
                time.sleep(0.1)
            ended_down = run.done()  # nothing retries: the run ends while the server is down
        result = run.result()
    finally:
        if not run.done():
            run.kill()
    assert result.rc != 0, result.summary()
    message = result.failure()
    assert re.search(CONNECTION, message), message
    failed = [t for t in result.tasks if t.get("failed")]
    save_timing("apiserver_outage_mid_shift", wall_s=round(result.wall, 1), message=message,
                ended_while_down=ended_down, failed_tasks=[t["_task"] for t in failed],
                down_s=round(apiserver.ready_at - apiserver.stopped_at, 1))

    # No write is lost to the watch: it resumed (listing again) before anything wrote again.
    watch.wait_resumed()
    # After the outage: the record and the weights agree (one patch writes both).
    left = read_record(release.namespace)
    if left.get("phase") in ACTIVE_PHASES:
        assert primary_weights(release.namespace).get("v2", 0) == int(left["weight"]), left
    # A re-run converges: it takes over the dead run's lock and continues (or, after a rollback, stays on stable).
    again = run_playbook("canary.yml", plan_vars)
    assert again.rc == 0, again.summary()
    final = read_record(release.namespace)
    if left.get("phase") in ACTIVE_PHASES:
        assert final["phase"] == "Succeeded" and primary_weights(release.namespace) == {"v2": 100}, final
    else:
        back = primary_weights(release.namespace)
        assert final["phase"] == "Failed" and back in ({"v1": 100}, {"v1": 100, "v2": 0}), final
    watch.stop()
    assert_every_version_valid(release, watch)
    # Every stored PATCH of the VirtualService is a version the watch checked.
    patches = audit.vs_patches(mark, release.namespace, "podinfo")
    assert patches and len(watch.stored_versions("podinfo")) - 1 >= len(patches), \
        (watch.stored_versions("podinfo"), len(patches))


def test_an_outage_during_the_analysis_is_not_seen(release, apiserver, prometheus_proxy, tmp_path):
    # The analysis asks only Prometheus: an outage shorter than what is left of it changes nothing.
    # The outage begins after the analysis' first query; the run is held before its next request to the
    # API server (the decision's write) until the API server answers again, however long its restart
    # takes on a loaded machine: the outage lies inside the analysis, and nothing of the run meets it.
    plan_vars = release.vars(prometheus_url=prometheus_proxy.url, steps=[20], iterations=5)
    watch = release.watch(across_outage=True)
    back = tmp_path / "the-api-server-is-back"
    run = start_playbook("canary.yml", plan_vars, timeout=240, env=hold_env("Record the gate's decision", back))
    try:
        wait_record(release.namespace, lambda r: r.get("phase") == "Progressing", run=run, what="step 1 written")
        prometheus_proxy.wait_queries(1, since=time.time(), run=run)
        with apiserver.outage(OUTAGE_S):
            pass
        watch.wait_resumed()
        back.touch()
        result = run.result()
    finally:
        if not run.done():
            run.kill()
    assert result.rc == 0, result.summary()
    assert read_record(release.namespace)["phase"] == "Succeeded"
    assert primary_weights(release.namespace) == {"v2": 100}
    watch.stop()
    assert_every_version_valid(release, watch)
    save_timing("apiserver_outage_during_analysis", wall_s=round(result.wall, 1),
                down_s=round(apiserver.ready_at - apiserver.stopped_at, 1))


pytestmark = [pytest.mark.testbed, pytest.mark.apiserver_outage]
