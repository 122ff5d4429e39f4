"""The rollout record on the VirtualService and what each action makes of it (pure)."""

import json

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import rollout_record as REC
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError, RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._core.routes import apply_patch


def req(action, **kw):
    base = dict(name="podinfo", action=action, stable="v1", candidate="v2", run_id="a@h:1:1", service="podinfo")
    base.update(kw)
    return REC.Request(**base)


def vs(annotations=None, labels=None):
    meta = {"name": "podinfo", "namespace": "demo"}
    if annotations is not None:
        meta["annotations"] = annotations
    if labels is not None:
        meta["labels"] = labels
    return {"metadata": meta, "spec": {}}


def test_record_round_trips_through_annotations_with_escaped_keys():
    new, taken = REC.next_record(None, req("start", strategy="canary", steps=[10, 100]), "T0", 10)
    assert taken == "start" and new["phase"] == "Initialized"
    obj = apply_patch(vs(), REC.record_ops(vs(), new))
    assert obj["metadata"]["annotations"]["rollouts.istio/phase"] == "Initialized"
    assert obj["metadata"]["labels"]["rollouts.istio/phase"] == "Initialized"
    assert REC.read_record(obj, "podinfo") == json.loads(json.dumps(new))
    # Writing the same record again needs no op.
    assert REC.record_ops(obj, new) == []


def test_existing_annotations_and_labels_are_kept():
    obj = vs({"owner": "team-a"}, {"app": "podinfo"})
    new, _unused = REC.next_record(None, req("start"), "T0", 10)
    out = apply_patch(obj, REC.record_ops(obj, new))
    assert out["metadata"]["annotations"]["owner"] == "team-a" and out["metadata"]["labels"]["app"] == "podinfo"


@pytest.mark.parametrize("annotations, message", [
    ({REC.RECORD_KEY: "{", REC.NAME_KEY: "podinfo"}, "is not JSON"),
    ({REC.RECORD_KEY: json.dumps({"phase": "Dancing"}), REC.NAME_KEY: "podinfo"}, "no known phase"),
    ({REC.RECORD_KEY: json.dumps({"phase": "Progressing"}), REC.NAME_KEY: "other"}, "record of rollout 'other'"),
])
def test_a_broken_or_foreign_record_is_refused(annotations, message):
    with pytest.raises(RolloutsError, match=message):
        REC.read_record(vs(annotations), "podinfo")


def test_start_of_an_active_rollout_with_another_candidate_is_refused():
    active, _unused = REC.next_record(None, req("start"), "T0", 10)
    with pytest.raises(RolloutsError, match="before starting candidate v3"):
        REC.next_record(active, req("start", candidate="v3"), "T1", 11)


def test_start_after_success_of_the_same_release_is_nothing_and_a_new_one_starts():
    rec = {"name": "podinfo", "phase": "Succeeded", "stable": "v1", "candidate": "v2", "history": []}
    assert REC.start_kind(rec, req("start")) == "nothing"
    new, taken = REC.next_record(rec, req("start", stable="v2", candidate="v3"), "T", 1)
    assert taken == "start" and new["stable"] == "v2" and new["candidate"] == "v3"


def test_an_action_for_another_release_is_refused():
    active, _unused = REC.next_record(None, req("start"), "T0", 10)
    with pytest.raises(RolloutsError, match="records stable v1 and candidate v2"):
        REC.next_record(active, req("step", candidate="v9", step=1, weight=10), "T1", 11)


@pytest.mark.parametrize("kw, param", [
    (dict(action="step", weight=101, step=1), "weight"),
    (dict(action="step", weight=True, step=1), "weight"),
    (dict(action="step", weight=10, step=0), "step"),
    (dict(action="step", weight=10, step=1, mirror_percent=120.0), "mirror_percent"),
    (dict(action="step", weight=10, step=1, match={"headers": {}}), "match"),
    (dict(action="dance"), "action"),
    (dict(action="start", candidate="v1"), "candidate"),
])
def test_bad_requests_name_the_option(kw, param):
    action = kw.pop("action")
    with pytest.raises(ParameterError) as err:
        REC.check_request(req(action, **kw))
    assert err.value.param == param


def test_decisions_keep_the_last_fifty():
    rec, _unused = REC.next_record(None, req("start"), "T0", 1)
    rec, _unused = REC.next_record(rec, req("step", step=1, weight=10), "T1", 2)
    for i in range(60):
        rec, _unused = REC.next_record(rec, req("record", decision={"gate": "g", "n": i}), "T", 3)
    assert len(rec["decisions"]) == REC.KEEP_DECISIONS and rec["decisions"][-1]["n"] == 59
