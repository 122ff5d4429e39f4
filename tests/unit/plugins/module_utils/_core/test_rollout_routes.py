"""What a rollout changes in one VirtualService (pure): weights, its own route, its mirror."""

import copy

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core.rollout_routes import (
    WeightsChangedError,
    check_weights_kept,
    plan_rollout_route,
    recorded_weights,
)
from ansible_collections.rollouts.istio.plugins.module_utils._core.routes import RouteError, apply_patch
from ansible_collections.rollouts.istio.plugins.module_utils._core.run_id import make_run_id, parse_run_id

FOREIGN = {"name": "api", "match": [{"uri": {"prefix": "/api"}}], "timeout": "3s",
           "route": [{"destination": {"host": "podinfo", "subset": "v1"}}]}


def vs(extra=None):
    primary = {"name": "primary", "route": [{"destination": {"host": "podinfo", "subset": "v1"}, "weight": 100}]}
    primary.update(extra or {})
    return {"metadata": {"name": "podinfo", "namespace": "demo"},
            "spec": {"http": [copy.deepcopy(FOREIGN), primary]}}


def plan(obj, action, weight=None, **kw):
    return plan_rollout_route(obj, None, "podinfo", action, weight, "v1", "v2", "podinfo", **kw)


def test_match_route_goes_on_top_and_everything_else_stays():
    obj = vs()
    p = plan(obj, "step", 0, match=[{"headers": {"cookie": {"regex": "^(.*?;)?(user=test)(;.*)?$"}}}])
    out = apply_patch(obj, p.ops)
    assert out["spec"]["http"][0]["name"] == "podinfo-candidate"
    assert out["spec"]["http"][1] == FOREIGN
    assert p.difference.after["candidate_route"]["match"][0]["headers"]["cookie"]
    # the same step again: no op
    assert plan(out, "step", 0, match=p.difference.after["candidate_route"]["match"]).ops == []
    back = apply_patch(out, plan(out, "rollback").ops)
    assert back["spec"]["http"][0] == FOREIGN and len(back["spec"]["http"]) == 2


def test_a_mirror_the_rollout_does_not_own_is_not_replaced():
    obj = vs({"mirror": {"host": "shadow"}})
    with pytest.raises(RouteError, match="does not own"):
        plan(obj, "step", 10, mirror_percent=5.0)
    # and rollback leaves it alone
    out = apply_patch(obj, plan(obj, "rollback").ops)
    assert out["spec"]["http"][1]["mirror"] == {"host": "shadow"}


def test_mirror_is_set_then_removed_on_promote():
    obj = vs()
    out = apply_patch(obj, plan(obj, "step", 0, mirror_percent=25.0).ops)
    assert out["spec"]["http"][1]["mirrorPercentage"] == {"value": 25.0}
    promoted = apply_patch(out, plan(out, "promote").ops)
    route = promoted["spec"]["http"][1]
    assert "mirror" not in route and "mirrorPercentage" not in route
    assert route["route"] == [{"destination": {"host": "podinfo", "subset": "v1"}, "weight": 0},
                              {"destination": {"host": "podinfo", "subset": "v2"}, "weight": 100}]
    done = apply_patch(promoted, plan(promoted, "succeed").ops)
    assert done["spec"]["http"][1]["route"] == [{"destination": {"host": "podinfo", "subset": "v2"}, "weight": 100}]


def test_run_ids_parse_back_and_anything_else_is_unknown():
    rid = make_run_id("ops", "ctl-1", 4242, 1700000000, job="awx-job-17")
    assert parse_run_id(rid) == {"job": "awx-job-17", "user": "ops", "host": "ctl-1", "pid": 4242,
                                 "epoch": 1700000000}
    assert parse_run_id("someone by hand") is None and parse_run_id(None) is None


@pytest.mark.parametrize("record, expected", [
    (None, None),
    ({"phase": "Initialized", "weight": 0}, None),
    ({"phase": "Progressing", "weight": 25}, {"stable": 75, "candidate": 25}),
    ({"phase": "WaitingApproval", "weight": 50}, {"stable": 50, "candidate": 50}),
    ({"phase": "Promoting", "weight": 100}, {"stable": 0, "candidate": 100}),
    ({"phase": "Finalising", "weight": 100}, {"stable": 0, "candidate": 100}),
    ({"phase": "Failed", "weight": 0}, None),
    ({"phase": "Succeeded", "weight": 100}, None),
    ({"phase": "Progressing"}, None),  # a record from before weights were kept says nothing
])
def test_recorded_weights_only_where_the_record_knows_them(record, expected):
    assert recorded_weights(record) == expected


def test_weights_as_recorded_pass_and_others_name_both():
    record = {"phase": "Progressing", "step": 2, "weight": 50}
    check_weights_kept("podinfo", record, {"route": "primary", "weights": {"stable": 50, "candidate": 50}}, "VS a/b")
    with pytest.raises(WeightsChangedError, match="VS a/b route primary has weights stable 80 / candidate 20, but "
                                                  "the rollout set stable 50 / candidate 50"):
        check_weights_kept("podinfo", record, {"route": "primary", "weights": {"stable": 80, "candidate": 20}},
                           "VS a/b")
