"""playbooks/fleet.yml on three clusters of the test bed: the default one and two extra ones, each
with its own API server, audit log and Istio install, and a mesh simulator each standing in for
Envoy. One wave per cluster (fleet_waves [1, 1, 1]), so the order of the waves is the order of the
hosts; what each cluster did is read from its own rollout record and audit log."""

import json
import os

from support.kube import wait_for
from support.mesh import set_faults
from support.release import save_timing
from support.fleet import history_time

PLAN = {"steps": [50], "iterations": 2}


def promoted(fleet, host):
    c = fleet.by_host(host)
    record = c.record(fleet.namespace)
    assert record.get("phase") == "Succeeded" and record.get("candidate") == "v2", (host, record.get("phase"))
    assert c.weights(fleet.namespace) == {"v2": 100}, (host, c.weights(fleet.namespace))
    return record


def fleet_report(fleet):
    with open(os.path.join(fleet.report_dir, "fleet.json")) as fh:
        return json.load(fh)


def assert_untouched(fleet, host, mark):
    """No rollout recorded and no write of any kind in the namespace since `mark`."""
    c = fleet.by_host(host)
    assert c.record(fleet.namespace) == {}
    assert c.weights(fleet.namespace) == {"v1": 100}
    writes = c.audit.writes(mark, namespace=fleet.namespace)
    assert writes == [], writes


def test_a_healthy_fleet_promotes_everywhere_wave_by_wave(fleet):
    inventory = fleet.inventory(**PLAN)
    result = fleet.start(inventory).result()
    assert result.rc == 0, result.summary()
    records = {h: promoted(fleet, h) for h in ("a", "b", "c")}
    # Each wave starts after the one before has promoted.
    assert history_time(records["a"], "succeed") <= history_time(records["b"], "start")
    assert history_time(records["b"], "succeed") <= history_time(records["c"], "start")
    report = fleet_report(fleet)
    assert list(report["clusters"]) == ["a", "b", "c"]
    for host, entry in report["clusters"].items():
        assert entry["outcome"] == "promoted" and entry["phase"] == "Succeeded", (host, entry)
        assert entry["rollout"]["outcome"]["result"] == "promoted", entry["rollout"]["outcome"]
        assert os.path.exists(entry["report"]["html"])
    with open(os.path.join(fleet.report_dir, "index.html")) as fh:
        index = fh.read()
    for host in ("a", "b", "c"):
        assert 'id="cluster-%s"' % host in index
    # One status line per cluster.
    lines = [t["msg"] for t in result.tasks if t["_task"] == "Show this cluster"]
    assert sorted(line.split(":")[0] for line in lines) == ["a", "b", "c"], lines
    assert all("promoted in wave" in line and "Succeeded" in line for line in lines), lines
    save_timing("fleet-3-clusters-healthy", wall_s=round(result.wall, 1))


def test_a_fleet_of_one_cluster_touches_no_other(fleet):
    marks = {h: fleet.by_host(h).audit.mark() for h in ("b", "c")}
    result = fleet.start(fleet.inventory(**PLAN), {"fleet_hosts": "a"}).result()
    assert result.rc == 0, result.summary()
    promoted(fleet, "a")
    for host in ("b", "c"):
        assert_untouched(fleet, host, marks[host])
    save_timing("fleet-1-cluster-healthy", wall_s=round(result.wall, 1))


def failing_second_wave(fleet):
    b = fleet.by_host("b")
    set_faults(b.k8s, fleet.namespace, "podinfo-v2", error_rate=1.0)
    b.simulator.wait_synced(b.k8s, fleet.namespace)
    return fleet.by_host("c").audit.mark()


def test_a_failure_in_the_second_wave_stops_the_fleet_there(fleet):
    mark_c = failing_second_wave(fleet)
    result = fleet.start(fleet.inventory(**PLAN)).result()
    assert result.rc != 0
    assert "the fleet stopped: b failed" in (result.failure() or ""), result.summary()
    promoted(fleet, "a")  # halt: the first wave stays promoted
    b = fleet.by_host("b")
    assert b.record(fleet.namespace)["phase"] == "Failed"
    assert b.weights(fleet.namespace).get("v1") == 100
    assert_untouched(fleet, "c", mark_c)
    outcomes = {h: e["outcome"] for h, e in fleet_report(fleet)["clusters"].items()}
    assert outcomes == {"a": "promoted", "b": "failed", "c": "not started"}
    # status.yml over the fleet: each cluster's rollout, then one line per cluster, read-only.
    mark_a = fleet.by_host("a").audit.mark()
    status = fleet.start(fleet.inventory(**PLAN), {"status_hosts": "fleet"}, playbook="status.yml").result()
    assert status.rc == 0, status.summary()
    lines = [t["msg"] for t in status.tasks if t["_task"] == "One line per cluster"]
    assert len(lines) == 1, lines
    assert [line.split(":")[0] for line in lines[0]] == ["a", "b", "c"], lines
    # The weights as rollout_info gives them: per VirtualService, by role (promoted: the candidate has all).
    assert lines[0][0].startswith("a: phase Succeeded, step 1 of 1, stable v2, candidate v2, weights ") and \
        '"candidate": 100' in lines[0][0], lines
    assert lines[0][1].startswith("b: phase Failed, step 1 of 1, stable v1, candidate v2, weights ") and \
        '"stable": 100' in lines[0][1], lines
    assert lines[0][2] == "c: no rollout recorded", lines
    assert fleet.by_host("a").audit.writes(mark_a, namespace=fleet.namespace) == []


def test_rollback_all_returns_the_first_wave_too(fleet):
    mark_c = failing_second_wave(fleet)
    result = fleet.start(fleet.inventory(**PLAN), {"fleet_on_failure": "rollback_all"}).result()
    assert result.rc != 0
    assert "the fleet stopped: b failed" in (result.failure() or ""), result.summary()
    a = fleet.by_host("a")
    record = a.record(fleet.namespace)
    # The way back from a promoted cluster: the old version released again, all at once.
    assert (record["phase"], record["candidate"]) == ("Succeeded", "v1"), record
    assert a.weights(fleet.namespace) == {"v1": 100}
    assert fleet.by_host("b").weights(fleet.namespace).get("v1") == 100
    assert_untouched(fleet, "c", mark_c)
    outcomes = {h: e["outcome"] for h, e in fleet_report(fleet)["clusters"].items()}
    assert outcomes == {"a": "rolled back", "b": "failed", "c": "not started"}


def test_a_killed_fleet_run_converges_when_run_again(fleet):
    inventory = fleet.inventory(steps=[10, 50], iterations=3)
    run = fleet.start(inventory)
    b = fleet.by_host("b")

    killed = wait_for(lambda: run.done() or (b.record(fleet.namespace).get("phase") == "Progressing"
                                             and int(b.record(fleet.namespace).get("weight") or 0) > 0),
                      timeout=300, step=0.2)
    assert killed and not run.done(), "the run ended before b took traffic: %s" % run.result().summary()
    run.kill()
    a_before = promoted(fleet, "a")
    assert fleet.by_host("c").record(fleet.namespace) == {}

    again = fleet.start(inventory).result()
    assert again.rc == 0, again.summary()
    for host in ("a", "b", "c"):
        promoted(fleet, host)
    # The cluster promoted before the kill is left as it was.
    assert fleet.by_host("a").record(fleet.namespace)["updated"] == a_before["updated"]


def test_a_bad_fleet_variable_is_named_and_nothing_is_written(fleet):
    marks = {c.host: c.audit.mark() for c in fleet.clusters}
    result = fleet.start(fleet.inventory(**PLAN), {"fleet_on_failure": "sometimes"}).result()
    assert result.rc != 0
    assert "fleet_on_failure: 'sometimes' is not halt or rollback_all" in (result.failure() or ""), result.summary()
    for c in fleet.clusters:
        assert c.audit.writes(marks[c.host], namespace=fleet.namespace) == [], c.host
        assert c.record(fleet.namespace) == {}
    assert not os.path.exists(os.path.join(fleet.report_dir, "fleet.json"))
