"""rollouts.istio.rollout and rollout_info against a real API server: the record, the lock, the guarded writes."""

import json
import socket
import subprocess

from support.istio_objects import get_raw, module_requests, play

VS = "reviews"


def rollout(namespace, action, run="tester@ci:1:1", **extra):
    args = {"name": "reviews", "namespace": namespace, "virtual_services": [{"name": VS, "route": "primary"}],
            "service": "reviews", "stable": "stable", "candidate": "candidate", "action": action, "run_id": run}
    args.update(extra)
    return {"name": action, "rollouts.istio.rollout": args}


def info(namespace):
    args = {"name": "reviews", "namespace": namespace, "virtual_service": VS}
    return {"name": "info", "rollouts.istio.rollout_info": args}


def failed(res):
    """The message of the failed task, or None when every task passed."""
    bad = [t for t in res.tasks if t.get("failed")]
    return bad[0].get("msg") if bad else None


def primary(namespace):
    route = get_raw(namespace, "virtualservice", VS)["spec"]["http"][1]
    return dict((d["destination"]["subset"], d.get("weight")) for d in route["route"])


def annotations(namespace):
    return get_raw(namespace, "virtualservice", VS)["metadata"]["annotations"]


def test_a_canary_through_its_phases_keeps_record_and_weights_together(mesh_app, audit):
    ns = mesh_app
    before = get_raw(ns, "virtualservice", VS)
    res = play([rollout(ns, "start", strategy="canary", steps=[10, 50]),
                rollout(ns, "step", step=1, weight=10),
                rollout(ns, "record", decision={"gate": "prometheus", "verdict": "pass", "reason": "ok"}),
                info(ns)])
    assert failed(res) is None, failed(res)
    assert primary(ns) == {"stable": 90, "candidate": 10}
    found = res[3]
    assert found["phase"] == "Progressing" and found["rollout"]["step"] == 1
    assert found["weights"] == {"%s/%s" % (ns, VS): {"stable": 90, "candidate": 10}}
    assert found["rollout"]["decisions"][-1]["verdict"] == "pass"
    # A person with kubectl reads the phase; the user's own annotations and labels stay.
    ann = annotations(ns)
    assert ann["rollouts.istio/phase"] == "Progressing" and ann["rollouts.istio/weight"] == "10"
    assert ann["owner"] == "someone-else"
    labels = get_raw(ns, "virtualservice", VS)["metadata"]["labels"]
    assert labels == {"team": "shop", "rollouts.istio/phase": "Progressing"}
    # The step is ONE patch: weights and record land together.
    mark = audit.mark()
    play([rollout(ns, "step", step=2, weight=50)])
    writes = module_requests(audit, mark, ns, writes=True)
    assert [(w.verb, w.resource) for w in writes] == [("patch", "virtualservices")]
    assert primary(ns) == {"stable": 50, "candidate": 50} and annotations(ns)["rollouts.istio/step"] == "2"
    res = play([rollout(ns, "promote"), rollout(ns, "finalise"), rollout(ns, "succeed")])
    assert failed(res) is None, failed(res)
    after = get_raw(ns, "virtualservice", VS)
    assert primary(ns) == {"candidate": 100}
    assert json.dumps(after["spec"]["http"][0]) == json.dumps(before["spec"]["http"][0])
    # Done: the same start again changes nothing.
    mark = audit.mark()
    again = play([rollout(ns, "start", run="someone@else:2:2")])[0]
    assert again["changed"] is False and again["rerun"]["action"] == "nothing"
    assert module_requests(audit, mark, ns, writes=True) == []


def test_check_mode_shows_the_step_and_writes_nothing(mesh_app, audit):
    ns = mesh_app
    play([rollout(ns, "start")])
    mark = audit.mark()
    res = play([rollout(ns, "step", step=1, weight=25)], check=True, diff=True)
    task = res[0]
    assert task["changed"] and task["weights"]["%s/%s" % (ns, VS)] == {"stable": 75, "candidate": 25}
    assert task["diff"]["after"]["rollout"]["step"] == 1
    assert not [w for w in module_requests(audit, mark, ns, writes=True) if not w.dry_run]
    assert primary(ns) == {"stable": 100, "candidate": 0}


def test_a_second_run_is_refused_and_changes_nothing(mesh_app, audit):
    ns = mesh_app
    play([rollout(ns, "start"), rollout(ns, "step", step=1, weight=10)])
    mark = audit.mark()
    res = play([rollout(ns, "step", run="other@ci:2:2", step=2, weight=50)])
    assert "rollout reviews is Progressing at step 1, started by tester@ci:1:1 at " in (failed(res) or "")
    assert module_requests(audit, mark, ns, writes=True) == []
    # An operator's rollback is never locked out.
    res = play([rollout(ns, "rollback", run="operator@desk:3:3", reason="by hand")])
    assert failed(res) is None and primary(ns) == {"stable": 100, "candidate": 0}
    assert annotations(ns)["rollouts.istio/phase"] == "Failed"


def test_a_killed_run_on_this_host_is_taken_over(mesh_app):
    ns = mesh_app
    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: no such process any more
    run = "tester@%s:%d:1" % (socket.gethostname(), dead.pid)
    play([rollout(ns, "start", run=run), rollout(ns, "step", run=run, step=1, weight=10)])
    res = play([rollout(ns, "start", run="tester@%s:1:2" % socket.gethostname())])
    task = res[0]
    assert failed(res) is None, failed(res)
    assert task["lock"] == "taken_over" and task["rerun"]["action"] == "continue" and task["rollout"]["step"] == 1


def test_bad_input_names_the_option_and_writes_nothing(mesh_app, audit):
    ns = mesh_app
    play([rollout(ns, "start")])
    mark = audit.mark()
    for extra, param in ((dict(step=1, weight=101), "weight"), (dict(weight=10), "step"),
                         (dict(step=1, weight=10, candidate="nosuch"), "records stable stable and candidate candidate")):
        res = play([rollout(ns, "step", **extra)])
        assert param in (failed(res) or ""), res
    assert module_requests(audit, mark, ns, writes=True) == []
