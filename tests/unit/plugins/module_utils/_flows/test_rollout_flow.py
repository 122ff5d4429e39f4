"""The rollout flow (lock, record, weights in one guarded patch, others first), against an in-memory API.

The integration tests (tests/integration/istio_resources/test_rollout_module.py) prove the same
against the real API server; these pin down every decision fast.
"""

import copy
import json

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import rollout_record as REC
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._core.routes import RouteError
from ansible_collections.rollouts.istio.plugins.module_utils._flows.rollout import act, info
from support.fake_istio import FakeApi, configmap, deployment, service

FOREIGN = {"name": "beta-testers", "match": [{"headers": {"x-beta": {"exact": "1"}}}],
           "retries": {"attempts": 3, "perTryTimeout": "2s"},
           "route": [{"destination": {"host": "reviews", "subset": "v1"}}]}


def vs(name="reviews", http=None):
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"hosts": [name], "http": http if http is not None else [
                copy.deepcopy(FOREIGN),
                {"name": "primary", "route": [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 100}]}]}}


def dr():
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "reviews", "namespace": "shop"},
            "spec": {"host": "reviews", "subsets": [{"name": "v1"}, {"name": "v2"}]}}


ENTRIES = [{"name": "reviews", "namespace": "shop", "route": "primary"}]


class Clock(object):
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def req(action, run="ops@ctl:1:1", **kw):
    return REC.Request(name="reviews", action=action, stable="v1", candidate="v2", run_id=run, service="reviews",
                       virtual_services=ENTRIES, **kw)


def do(api, request, clock=None, entries=None, **kw):
    return act(api, request, entries or ENTRIES, "reviews", clock or Clock(), lambda: "2026-12-02T00:00:00Z", **kw)


def live(api, name="reviews"):
    return api.live("VirtualService", "shop", name)


def record(api, name="reviews"):
    return json.loads(live(api, name)["metadata"]["annotations"][REC.RECORD_KEY])


def weights(api, name="reviews"):
    route = [r for r in live(api, name)["spec"]["http"] if r.get("name") == "primary"][0]
    return dict((d["destination"]["subset"], d.get("weight", 100)) for d in route["route"])


def started(objects=None):
    api = FakeApi(objects or [vs(), dr(), service()])
    do(api, req("start", strategy="canary", steps=[10, 50, 100]))
    return api


def test_start_writes_only_the_record_and_the_phase_label():
    api = FakeApi([vs(), dr(), service()])
    result, _diff = do(api, req("start", strategy="canary", steps=[10, 50, 100]))
    assert result["changed"] and result["phase_before"] is None and result["rerun"]["action"] == "start"
    meta = live(api)["metadata"]
    assert meta["annotations"][REC.PHASE_KEY] == "Initialized" and meta["labels"][REC.PHASE_KEY] == "Initialized"
    assert record(api)["steps"] == [10, 50, 100] and weights(api) == {"v1": 100}
    assert live(api)["spec"]["http"][0] == FOREIGN


def test_step_sets_weights_and_record_in_one_guarded_patch():
    api = started()
    api.calls = []
    result, diff = do(api, req("step", step=1, weight=10))
    patches = [c for c in api.calls if c[0] == "patch"]
    assert patches == [("patch", "VirtualService")]
    assert weights(api) == {"v1": 90, "v2": 10}
    assert record(api)["phase"] == "Progressing" and record(api)["step"] == 1 and record(api)["weight"] == 10
    assert result["weights"] == {"shop/reviews": {"stable": 90, "candidate": 10}}
    assert diff["before"]["shop/reviews"]["weights"] == {"stable": 100, "candidate": 0}
    assert live(api)["spec"]["http"][0] == FOREIGN


def test_the_same_step_again_changes_nothing():
    api = started()
    do(api, req("step", step=1, weight=10))
    api.calls = []
    result, _unused = do(api, req("step", step=1, weight=10))
    assert not result["changed"] and not [c for c in api.calls if c[0].startswith("patch")]


def test_check_mode_dry_runs_every_write():
    api = started()
    rv = live(api)["metadata"]["resourceVersion"]
    result, _unused = do(api, req("step", step=1, weight=10), check_mode=True)
    assert result["changed"] and result["rollout"]["step"] == 1
    assert ("patch-dry", "VirtualService") in api.calls and live(api)["metadata"]["resourceVersion"] == rv


def test_a_second_run_is_refused_and_changes_nothing():
    api = started()
    do(api, req("step", step=1, weight=10))
    rv = live(api)["metadata"]["resourceVersion"]
    with pytest.raises(RolloutsError) as err:
        do(api, req("step", run="ops@other:2:2", step=2, weight=50))
    assert "rollout reviews is Progressing at step 1, started by ops@ctl:1:1 at 2026-12-02T00:00:00Z" in str(err.value)
    assert live(api)["metadata"]["resourceVersion"] == rv


def test_a_dead_holder_on_this_host_is_taken_over():
    api = started()
    do(api, req("step", step=1, weight=10))
    result, _unused = do(api, req("start", run="ops@ctl:2:2"), holder_alive=lambda run: False)
    assert result["lock"] == "taken_over" and result["changed"] and record(api)["run"] == "ops@ctl:2:2"
    assert result["rerun"]["action"] == "continue" and result["rollout"]["step"] == 1


def test_a_stale_lock_needs_take_over():
    api = started()
    clock = Clock()
    clock.t = 5000
    with pytest.raises(RolloutsError, match="stale"):
        do(api, req("start", run="x@y:3:3"), clock=clock, stale_after=900)
    result, _unused = do(api, req("start", run="x@y:3:3"), clock=clock, stale_after=900, take_over=True)
    assert result["lock"] == "taken_over"


def test_rollback_is_never_locked_and_removes_the_owned_route_and_mirror():
    api = started()
    do(api, req("step", step=1, weight=0, match=[{"headers": {"x-user": {"exact": "test"}}}], mirror_percent=20))
    http = live(api)["spec"]["http"]
    assert http[0]["name"] == "reviews-candidate" and http[0]["route"][0]["destination"]["subset"] == "v2"
    assert http[1] == FOREIGN and http[2]["mirror"] == {"host": "reviews", "subset": "v2"}
    result, _unused = do(api, req("rollback", run="op@elsewhere:9:9", message="operator"))
    http = live(api)["spec"]["http"]
    assert [r.get("name") for r in http] == ["beta-testers", "primary"] and http[0] == FOREIGN
    assert "mirror" not in http[1] and weights(api) == {"v1": 100, "v2": 0}
    assert record(api)["phase"] == "Failed" and record(api)["message"] == "operator"
    again, _unused = do(api, req("rollback", run="op@elsewhere:9:9", message="operator"))
    assert not again["changed"]


def test_promote_points_at_the_candidate_alone_then_succeed():
    api = started()
    do(api, req("step", step=1, weight=50))
    do(api, req("promote"))
    assert weights(api) == {"v1": 0, "v2": 100}
    do(api, req("finalise"))
    do(api, req("succeed"))
    assert weights(api) == {"v2": 100}
    assert record(api)["phase"] == "Succeeded"
    assert record(api)["stable"] == "v2" and record(api)["previous_stable"] == "v1"
    assert info(api, "reviews", "shop", "reviews")["weights"] == {"shop/reviews": {"stable": 0, "candidate": 100}}
    result, _unused = do(api, req("start", run="later@ctl:5:5"))
    assert not result["changed"] and result["rerun"]["action"] == "nothing"


def test_a_refused_transition_names_the_phase_and_writes_nothing():
    api = started()
    rv = live(api)["metadata"]["resourceVersion"]
    with pytest.raises(RolloutsError, match="Initialized: cannot succeed"):
        do(api, req("succeed"))
    assert live(api)["metadata"]["resourceVersion"] == rv


def test_a_missing_subset_is_refused_before_any_write():
    api = FakeApi([vs(), dr(), service()])
    do(api, REC.Request(name="reviews", action="start", stable="v1", candidate="v3", run_id="a@b:1:1",
                        service="reviews", virtual_services=ENTRIES), )
    rv = live(api)["metadata"]["resourceVersion"]
    with pytest.raises(RouteError, match="subset 'v3'"):
        do(api, REC.Request(name="reviews", action="step", step=1, weight=10, stable="v1", candidate="v3",
                            run_id="a@b:1:1", service="reviews", virtual_services=ENTRIES))
    assert live(api)["metadata"]["resourceVersion"] == rv


def test_several_virtual_services_move_together_record_carrier_last():
    entries = ENTRIES + [{"name": "reviews-mesh", "namespace": "shop", "route": "primary"}]
    api = FakeApi([vs(), vs("reviews-mesh"), dr(), service()])
    do(api, req("start"), entries=entries)
    api.calls = []
    order = []
    original = api.json_patch

    def spy(kind, ns, name, ops, dry_run=False):
        order.append(name)
        return original(kind, ns, name, ops, dry_run)

    api.json_patch = spy
    do(api, req("step", step=1, weight=25), entries=entries)
    assert order == ["reviews-mesh", "reviews"]
    assert weights(api) == weights(api, "reviews-mesh") == {"v1": 75, "v2": 25}
    assert REC.RECORD_KEY not in (live(api, "reviews-mesh")["metadata"].get("annotations") or {})


def test_a_concurrent_write_is_read_again_and_an_operator_rollback_wins():
    api = started()
    do(api, req("step", step=1, weight=10))
    fired = []

    def operator_rolls_back():
        if not fired:
            fired.append(1)
            do(api, req("rollback", run="op@x:1:1", message="by hand"))

    api.before_patch = operator_rolls_back
    with pytest.raises(RolloutsError, match="Failed: cannot step"):
        do(api, req("step", step=2, weight=50))
    assert weights(api) == {"v1": 100, "v2": 0} and record(api)["phase"] == "Failed"


def test_retry_starts_the_same_candidate_again_with_a_clean_count():
    api = started()
    do(api, req("step", step=1, weight=10, failed_checks=2))
    do(api, req("rollback", message="gate"))
    result, _unused = do(api, req("retry"))
    assert result["rollout"]["phase"] == "Initialized" and result["rollout"]["failed_checks"] == 0
    assert weights(api) == {"v1": 100, "v2": 0}


def test_decisions_are_appended_with_time_and_step():
    api = started()
    do(api, req("step", step=1, weight=10))
    do(api, req("record", decision={"gate": "prometheus", "verdict": "pass", "reason": "ok"}, failed_checks=1))
    rec = record(api)
    assert rec["decisions"][-1] == {"gate": "prometheus", "verdict": "pass", "reason": "ok", "step": 1,
                                    "time": "2026-12-02T00:00:00Z"}
    assert rec["failed_checks"] == 1


def test_info_reports_record_rerun_and_live_weights():
    api = started()
    do(api, req("step", step=1, weight=10))
    out = info(api, "reviews", "shop", "reviews")
    assert out["exists"] and out["phase"] == "Progressing" and out["rerun"]["action"] == "continue"
    assert out["weights"] == {"shop/reviews": {"stable": 90, "candidate": 10}}
    empty = info(FakeApi([vs(), dr(), service()]), "reviews", "shop", "reviews")
    assert not empty["exists"] and empty["rerun"]["action"] == "start"


def test_another_rollouts_record_is_refused():
    api = started()
    with pytest.raises(RolloutsError, match="carries the record of rollout 'reviews'"):
        do(api, REC.Request(name="other", action="start", stable="v1", candidate="v2", run_id="a@b:1:1",
                            service="reviews", virtual_services=ENTRIES))


# ---------------------------------------------------------------- revisions (candidate_workload)

WORKLOAD = {"kind": "Deployment", "namespace": "shop", "name": "reviews-v2"}
CFG_VOLUME = [{"name": "cfg", "configMap": {"name": "reviews-v2-config"}},
              {"name": "tls", "secret": {"secretName": "reviews-tls", "optional": True}}]


def with_workload(image="reviews:2", cfg="a=1", secret="czE="):
    objects = [vs(), dr(), service(), deployment(image=image, volumes=CFG_VOLUME),
               configmap("reviews-v2-config", {"app.conf": cfg})]
    if secret is not None:
        objects.append(configmap("reviews-tls", {"key": secret}, kind="Secret"))
    return objects


def set_workload(api, image="reviews:2", cfg="a=1"):
    api.put(deployment(image=image, volumes=CFG_VOLUME))
    api.put(configmap("reviews-v2-config", {"app.conf": cfg}))


def rev_do(api, action, run="ops@ctl:1:1", **kw):
    return do(api, req(action, run=run, **kw), workloads=api, workload=WORKLOAD)


def promoted(api):
    rev_do(api, "start", strategy="canary", steps=[50, 100])
    for action in ("step", "promote", "finalise", "succeed"):
        rev_do(api, action, **({"step": 1, "weight": 50} if action == "step" else {}))


def writes(api):
    return [c for c in api.calls if c[0] in ("patch", "apply", "delete")]


def test_start_records_the_candidates_revision_and_succeed_the_promoted_one():
    api = FakeApi(with_workload())
    result, _unused = rev_do(api, "start", strategy="canary", steps=[50, 100])
    rev = result["revision"]
    assert rev and record(api)["revision"] == rev and record(api)["workload"]["secrets"] == ["reviews-tls"]
    assert "czE=" not in json.dumps(record(api)) and "czE=" not in json.dumps(result)
    for action in ("step", "promote", "finalise", "succeed"):
        rev_do(api, action, **({"step": 1, "weight": 50} if action == "step" else {}))
    assert record(api)["promoted_revision"] == rev and record(api)["promoted"] == "2026-12-02T00:00:00Z"


def test_the_promoted_revision_again_changes_nothing_and_says_when():
    api = FakeApi(with_workload())
    promoted(api)
    del api.calls[:]
    result, _unused = rev_do(api, "start", run="later@ctl:5:5", strategy="canary", steps=[50, 100])
    assert not result["changed"] and result["rerun"]["action"] == "nothing" and not writes(api)
    assert result["msg"].endswith("already promoted at 2026-12-02T00:00:00Z")
    why = info(api, "reviews", "shop", "reviews", workloads=api, workload=WORKLOAD, candidate="v2")["rerun"]
    assert why["action"] == "nothing" and "already promoted at 2026-12-02T00:00:00Z" in why["why"]


def test_a_promoted_version_changed_in_place_is_refused():
    api = FakeApi(with_workload())
    promoted(api)
    set_workload(api, cfg="a=2")
    del api.calls[:]
    with pytest.raises(RolloutsError, match="changed in place.*new version"):
        rev_do(api, "start", strategy="canary", steps=[50, 100])
    assert not writes(api)
    rerun = info(api, "reviews", "shop", "reviews", workloads=api, workload=WORKLOAD)["rerun"]
    assert rerun["action"] == "refuse"


def test_a_new_revision_mid_rollout_restarts_from_stable():
    api = FakeApi(with_workload())
    first, _unused = rev_do(api, "start", strategy="canary", steps=[10, 50, 100])
    rev_do(api, "step", step=1, weight=10, match=[{"headers": {"x-canary": {"exact": "1"}}}], mirror_percent=5.0)
    rev_do(api, "step", step=2, weight=50, failed_checks=1)
    set_workload(api, image="reviews:2.1")
    found = info(api, "reviews", "shop", "reviews", workloads=api, workload=WORKLOAD)
    assert found["rerun"]["action"] == "start" and "revision changed" in found["rerun"]["why"]
    result, _unused = rev_do(api, "start", strategy="canary", steps=[10, 50, 100])
    assert result["changed"] and result["restarted"] and result["revision"] != first["revision"]
    assert "revision changed from %s to %s" % (first["revision"], result["revision"]) in result["reason"]
    rec = record(api)
    assert (rec["phase"], rec["step"], rec["weight"], rec["failed_checks"]) == ("Initialized", 0, 0, 0)
    assert weights(api) == {"v1": 100, "v2": 0}
    assert [r.get("name") for r in live(api)["spec"]["http"]] == ["beta-testers", "primary"]
    assert "mirror" not in live(api)["spec"]["http"][1]
    last = rec["history"][-1]
    expected = ("restart", first["revision"], result["revision"])
    assert (last["action"], last["revision_before"], last["revision"]) == expected
    # The plan is taken again from its first step; the same revision again resumes, as before.
    rev_do(api, "step", step=1, weight=10)
    again, _unused = rev_do(api, "start", strategy="canary", steps=[10, 50, 100])
    assert not again["restarted"] and record(api)["step"] == 1


def test_a_new_revision_while_finalising_finishes_the_promotion():
    api = FakeApi(with_workload())
    rev_do(api, "start", strategy="canary", steps=[100])
    rev_do(api, "step", step=1, weight=100)
    rev_do(api, "promote")
    rev_do(api, "finalise")
    set_workload(api, image="reviews:2.1")
    result, _unused = rev_do(api, "start")
    assert not result["restarted"] and record(api)["phase"] == "Finalising"
    assert weights(api) == {"v1": 0, "v2": 100}


def test_after_a_failure_the_same_revision_needs_retry_and_a_new_one_starts():
    api = FakeApi(with_workload())
    first, _unused = rev_do(api, "start", strategy="canary", steps=[50, 100])
    rev_do(api, "step", step=1, weight=50)
    rev_do(api, "rollback", reason="step 1 (50 %): request-success-rate 95 < min 99")
    del api.calls[:]
    same, _unused = rev_do(api, "start", strategy="canary", steps=[50, 100])
    assert not same["changed"] and same["rerun"]["action"] == "nothing" and not writes(api)
    assert record(api)["phase"] == "Failed"
    set_workload(api, cfg="a=fixed")
    assert info(api, "reviews", "shop", "reviews", workloads=api, workload=WORKLOAD)["rerun"]["action"] == "start"
    fixed, _unused = rev_do(api, "start", strategy="canary", steps=[50, 100])
    rec = record(api)
    assert fixed["changed"] and rec["phase"] == "Initialized" and rec["revision"] == fixed["revision"]
    assert rec["history"][-1]["revision_before"] == first["revision"]


def test_an_optional_secret_that_does_not_exist_counts_as_absent():
    api = FakeApi(with_workload(secret=None))
    without, _unused = rev_do(api, "start", strategy="canary", steps=[100])
    api.put(configmap("reviews-tls", {"key": "czE="}, kind="Secret"))
    found = info(api, "reviews", "shop", "reviews", workloads=api, workload=WORKLOAD)
    assert found["revision"] != without["revision"] and found["rerun"]["action"] == "start"


def test_a_missing_candidate_workload_names_the_option_and_writes_nothing():
    api = FakeApi([vs(), dr(), service()])
    with pytest.raises(RolloutsError, match="does not exist") as caught:
        rev_do(api, "start")
    assert caught.value.param == "candidate_workload" and not writes(api)
    # Check mode before the candidate is deployed shows the start without its revision.
    result, _unused = do(api, req("start"), workloads=api, workload=WORKLOAD, check_mode=True)
    assert result["changed"] and result["revision"] is None


def set_live_weights(api, stable, candidate, name="reviews"):
    """Another writer (kubectl apply) sets the weights of `primary`, leaving the record alone."""
    obj = copy.deepcopy(live(api, name))
    route = [r for r in obj["spec"]["http"] if r.get("name") == "primary"][0]
    route["route"] = [{"destination": {"host": "reviews", "subset": "v1"}, "weight": stable},
                      {"destination": {"host": "reviews", "subset": "v2"}, "weight": candidate}]
    api.put(obj)


@pytest.mark.parametrize("action, extra", [("step", {"step": 3, "weight": 100}), ("promote", {}),
                                           ("wait_approval", {}), ("start", {"strategy": "canary",
                                                                             "steps": [10, 50, 100]})])
def test_weights_set_by_someone_else_are_reported_and_never_overwritten(action, extra):
    api = started()
    do(api, req("step", step=1, weight=10))
    do(api, req("step", step=2, weight=50))
    set_live_weights(api, 70, 30)
    before = copy.deepcopy(live(api))
    api.calls = []
    with pytest.raises(RolloutsError, match="primary has weights stable 70 / candidate 30, but the rollout set "
                                            "stable 50 / candidate 50 .Progressing, step 2.: someone else") as err:
        do(api, req(action, **extra))
    assert err.value.result["weights_changed"] == {"virtual_service": "VirtualService shop/reviews",
                                                   "route": "primary", "live": {"stable": 70, "candidate": 30},
                                                   "recorded": {"stable": 50, "candidate": 50}}
    assert [c for c in api.calls if c[0] == "patch"] == [] and live(api) == before


def test_rollback_still_goes_through_weights_someone_else_set():
    api = started()
    do(api, req("step", step=1, weight=10))
    set_live_weights(api, 70, 30)
    do(api, req("rollback", message="by hand"))
    assert weights(api) == {"v1": 100, "v2": 0} and record(api)["phase"] == "Failed"


def test_weights_put_back_as_recorded_let_the_rollout_continue():
    api = started()
    do(api, req("step", step=1, weight=10))
    set_live_weights(api, 70, 30)
    set_live_weights(api, 90, 10)
    do(api, req("step", step=2, weight=50))
    assert weights(api) == {"v1": 50, "v2": 50}


def test_a_promotion_under_way_expects_the_candidate_alone_at_100():
    api = started()
    do(api, req("step", step=1, weight=10))
    do(api, req("promote"))
    set_live_weights(api, 10, 90)
    with pytest.raises(RolloutsError, match="stable 10 / candidate 90, but the rollout set stable 0 / candidate 100"):
        do(api, req("promote"))


def test_info_reports_weights_someone_else_set():
    api = started()
    do(api, req("step", step=1, weight=10))
    assert info(api, "reviews", "shop", "reviews")["weights_changed"] is None
    set_live_weights(api, 60, 40)
    found = info(api, "reviews", "shop", "reviews")["weights_changed"]
    assert found["live"] == {"stable": 60, "candidate": 40} and found["recorded"] == {"stable": 90, "candidate": 10}
    assert "someone else changed them" in found["msg"]
