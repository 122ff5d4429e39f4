"""Other writers during a release (issue 11, "Concurrent editors" and "Two runs of the same rollout").

While a canary is at step 2, another client edits the VirtualService the rollout is moving: a
timeout on the controlled route, a route of its own, a header match of the foreign route. All three
survive the promotion, and the rollback. A client that sets the weights themselves is detected and
reported, and its weights are left as it set them. A lock left by a run on another controller is
reported, and taken over only when asked. The mesh simulator stands in for Envoy.
"""

import copy
import json
import re
import subprocess
import time

from support.mesh import set_faults
from support.release import (primary_weights, raw_virtual_service, read_record, route_named, run_playbook,
                             start_playbook, wait_record)

EXTRA_ROUTE = {"name": "ops-extra", "match": [{"uri": {"prefix": "/ops-extra"}}],
               "route": [{"destination": {"host": "podinfo", "subset": "v1"}}]}


def kubectl_replace(namespace, obj):
    """Write the whole object back as a plain client would (a PUT guarded by its resourceVersion)."""
    proc = subprocess.run(["kubectl", "-n", namespace, "replace", "-f", "-"], input=json.dumps(obj), text=True,
                          capture_output=True, check=False)
    return proc.returncode == 0, proc.stderr


def edit(namespace, change, attempts=20):
    """Apply change(vs) to the live VirtualService, again on a conflict (the rollout writes too)."""
    for dummy in range(attempts):
        vs = raw_virtual_service(namespace)
        change(vs)
        ok, err = kubectl_replace(namespace, vs)
        if ok:
            return raw_virtual_service(namespace)
        assert "conflict" in err.lower() or "modified" in err.lower(), err
        time.sleep(0.1)
    raise AssertionError("could not edit the VirtualService in %d attempts" % attempts)


def three_edits(vs):
    http = vs["spec"]["http"]
    route_named(vs, "primary")["timeout"] = "7s"
    foreign = route_named(vs, "ops-debug")
    foreign["match"] = [{"headers": {"x-ops-debug": {"exact": "2"}}}]
    http.insert(http.index(foreign) + 1, copy.deepcopy(EXTRA_ROUTE))


def assert_edits_kept(namespace):
    vs = raw_virtual_service(namespace)
    assert route_named(vs, "primary").get("timeout") == "7s", route_named(vs, "primary")
    assert route_named(vs, "ops-debug")["match"] == [{"headers": {"x-ops-debug": {"exact": "2"}}}]
    assert route_named(vs, "ops-debug")["retries"] == {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,reset"}
    assert route_named(vs, "ops-extra") == EXTRA_ROUTE, route_named(vs, "ops-extra")
    return vs


def at_step_2(release, run):
    return wait_record(release.namespace, lambda r: r.get("phase") == "Progressing" and str(r.get("step")) == "2",
                       timeout=180, what="step 2", run=run)


def test_edits_by_another_client_survive_the_promotion(release):
    run = start_playbook("canary.yml", release.vars(steps=[10, 50, 100], iterations=3))
    at_step_2(release, run)
    edit(release.namespace, three_edits)
    result = run.result()
    assert result.rc == 0, result.summary()
    assert read_record(release.namespace)["phase"] == "Succeeded"
    assert primary_weights(release.namespace) == {"v2": 100}
    assert_edits_kept(release.namespace)


def test_edits_by_another_client_survive_the_rollback(release):
    run = start_playbook("canary.yml", release.vars(steps=[10, 50, 100], iterations=3, threshold=2))
    at_step_2(release, run)
    edit(release.namespace, three_edits)
    # The candidate goes bad after the edits: the gate of step 2 (or 3) fails and the run rolls back.
    set_faults(release.k8s, release.namespace, "podinfo-v2", error_rate=0.5)
    result = run.result()
    assert result.rc != 0 and "rolled back" in (result.failure() or ""), result.summary()
    assert read_record(release.namespace)["phase"] == "Failed"
    assert primary_weights(release.namespace) in ({"v1": 100}, {"v1": 100, "v2": 0})
    assert_edits_kept(release.namespace)


def test_weights_set_by_another_client_are_reported_and_left_as_set(release):
    run = start_playbook("canary.yml", release.vars(steps=[10, 50, 100], iterations=3))
    at_step_2(release, run)

    def seventy_thirty(vs):
        route_named(vs, "primary")["route"] = [
            {"destination": {"host": "podinfo", "subset": "v1"}, "weight": 70},
            {"destination": {"host": "podinfo", "subset": "v2"}, "weight": 30}]

    edit(release.namespace, seventy_thirty)
    result = run.result()
    assert result.rc != 0, result.summary()
    message = result.failure()
    assert re.search(r"route primary has weights stable 70 / candidate 30, but the rollout set stable 50 / "
                     r"candidate 50 \(Progressing, step 2\): someone else changed them", message), message
    # Not silently reverted, not rolled back: the weights are as the other client set them, and the
    # record still says where the rollout was.
    assert primary_weights(release.namespace) == {"v1": 70, "v2": 30}
    record = read_record(release.namespace)
    assert record["phase"] == "Progressing" and record["step"] == 2, record
    rolled = [t for t in result.tasks if t["_task"].endswith("Roll back to the stable version")]
    assert rolled and all(t.get("skipped") for t in rolled), rolled
    # The status playbook shows it; an operator's rollback still goes through.
    status = run_playbook("status.yml", release.vars())
    assert status.rc == 0, status.summary()
    assert "someone else changed them" in status.text(), status.summary()
    back = run_playbook("rollback.yml", release.vars())
    assert back.rc == 0, back.summary()
    assert primary_weights(release.namespace) in ({"v1": 100}, {"v1": 100, "v2": 0})


def test_a_lock_held_on_another_controller_is_reported_and_taken_over_only_when_asked(release, timed_audit):
    # A run on another controller (another host: its process cannot be looked for here) killed mid-step.
    other = "ops@other-controller:4242:1700000000"
    plan = release.vars(steps=[10, 50], iterations=2, stale_after=3)
    run = start_playbook("canary.yml", dict(plan, release_run_id=other))
    wait_record(release.namespace, lambda r: r.get("phase") == "Progressing" and r.get("run") == other,
                what="the other controller's run Progressing", run=run)
    run.kill()
    held = read_record(release.namespace)
    # Until its last write is older than stale_after (3 s) the lock is simply held; after, it is stale.
    time.sleep(max(0.0, float(held["heartbeat"]) + 3.5 - time.time()))
    # Without take_over: refused, naming the holder and the step, and nothing is written.
    mark = timed_audit.mark()
    refused = run_playbook("canary.yml", plan)
    assert refused.rc != 0, refused.summary()
    message = refused.failure()
    assert re.search(r"rollout podinfo is Progressing at step %s, started by %s at .*the lock looks stale: take it "
                     r"over explicitly" % (held["step"], re.escape(other)), message), message
    writes = [e for e in timed_audit.writes(mark, namespace=release.namespace) if e.resource == "virtualservices"]
    assert writes == [], writes
    # With take_over: the run says whose lock it took, continues from the recorded step and promotes.
    taken = run_playbook("canary.yml", dict(plan, release_take_over=True))
    assert taken.rc == 0, taken.summary()
    said = [t.get("msg") for t in taken.tasks
            if t["_task"].endswith("Say that this run took the rollout over from a run that stopped")]
    assert said and ("took over the lock of %s" % other) in said[0], said
    record = read_record(release.namespace)
    assert record["phase"] == "Succeeded" and record["run"] != other, record
    assert primary_weights(release.namespace) == {"v2": 100}
