# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a rollout changes in one VirtualService: its route's weights, its own match route, its mirror. Pure.

A rollout touches three things and nothing else, so a user's other routes stay byte-for-byte:
- the weights of the route it controls (through the one split rule of routes.plan_split);
- for A/B tests and blue/green previews, an HTTP route of its own, named ``<rollout>-candidate``,
  at the top of ``spec.http``, that sends matching requests to the candidate alone;
- optionally a mirror of the controlled route's traffic to the candidate.
Promotion, rollback and abort remove the rollout's route and its mirror.

Weights: a step gives the candidate its share and the stable version the rest; promotion gives the
candidate 100 (stable 0); success leaves the candidate as the route's only destination; rollback
and abort give the stable version 100 (candidate 0).
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core import rollout as R
from ansible_collections.rollouts.istio.plugins.module_utils._core.difference import DifferenceTracker
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._core.routes import (
    DEFAULT_DOMAIN,
    RouteError,
    apply_patch,
    describe_route,
    normalize_split,
    plan_split,
    select_route,
)

OWNED_SUFFIX = "-candidate"


def owned_route_name(rollout):
    return rollout + OWNED_SUFFIX


def split_for(action, weight, stable, candidate, service):
    """The destinations an action asks for, or None when the action leaves the weights alone.

    Promotion keeps the stable entry at 0 (a rollback during promotion finds it as it was, port and
    headers included); success then leaves the candidate alone. Rollback keeps the candidate's entry
    at 0, so a retry finds the route as the first attempt left it.
    """
    if action == "step":
        return [{"host": service, "subset": stable, "weight": 100 - weight},
                {"host": service, "subset": candidate, "weight": weight}]
    if action == "promote":
        return [{"host": service, "subset": stable, "weight": 0},
                {"host": service, "subset": candidate, "weight": 100}]
    if action == "succeed":
        return [{"host": service, "subset": candidate, "weight": 100}]
    if action in ("rollback", "abort"):
        return [{"host": service, "subset": stable, "weight": 100},
                {"host": service, "subset": candidate, "weight": 0}]
    return None


# The phases in which the record says exactly which weights the rollout last wrote. Initialized is
# not one: start writes no weights, so the route still has whatever the release began with.
WEIGHTS_RECORDED = (R.PROGRESSING, R.WAITING_APPROVAL, R.PROMOTING, R.FINALISING)


class WeightsChangedError(RolloutsError):
    """The controlled route's weights are not the ones the rollout last wrote: someone else set them."""


def recorded_weights(record):
    """{stable, candidate} the record says the controlled route has, or None when it cannot say."""
    if not record or record.get("phase") not in WEIGHTS_RECORDED or not isinstance(record.get("weight"), int):
        return None
    weight = 100 if record["phase"] in (R.PROMOTING, R.FINALISING) else record["weight"]
    return {"stable": 100 - weight, "candidate": weight}


def check_weights_kept(name, record, view, where):
    """Refuse to act over weights someone else changed since the rollout wrote them.

    ``view`` is the live controlled route as _view shows it; ``where`` names the VirtualService. The
    weights and the record go in one patch, so a difference can only come from another writer (a
    kubectl apply, a person's edit). Putting them back would silently undo that person's decision,
    and analysing them would judge a split nobody planned: the run stops, writes nothing, and says
    what it found. Rollback and abort never come here.
    """
    expected = recorded_weights(record)
    if expected is None or view["weights"] == expected:
        return
    live = view["weights"]
    raise WeightsChangedError(
        "rollout %s: %s route %s has weights stable %d / candidate %d, but the rollout set stable %d / candidate %d "
        "(%s, step %s): someone else changed them. Nothing was written: set them back and run again to continue, "
        "or run the rollback playbook to send all traffic to stable"
        % (name, where, view["route"], live["stable"], live["candidate"], expected["stable"], expected["candidate"],
           record["phase"], record.get("step")),
        weights_changed={"virtual_service": where, "route": view["route"], "live": live, "recorded": expected})


def controlled_index(http, route_name, rollout):
    """The index of the route the rollout controls; the rollout's own match route is never it."""
    owned = owned_route_name(rollout)
    others = [r for r in http if r.get("name") != owned]
    index = select_route(others, route_name)
    chosen = others[index]
    return next(i for i, r in enumerate(http) if r is chosen)


class RoutePlan(object):
    """The JSON patch ops for one VirtualService, and its rollout-relevant state before and after."""

    def __init__(self, ops, before, after, split, header):
        self.ops = ops
        self.split = split
        self.difference = DifferenceTracker(before, after, header=header)

    @property
    def changed(self):
        return self.difference.changed


def _view(http, index, rollout, namespace, domain, service, stable, candidate):
    """What a person checks: the controlled route's weights, the rollout's route, the mirror."""
    route = http[index]
    weights = {"stable": 0, "candidate": 0}
    others = []
    for dest in describe_route(route, index, namespace, domain)["destinations"]:
        role = {stable: "stable", candidate: "candidate"}.get(dest["subset"])
        if role:
            weights[role] += dest["weight"]
        else:
            others.append(dest["key"])
    owned = [r for r in http if r.get("name") == owned_route_name(rollout)]
    view = {"route": route.get("name") or "#%d" % index, "weights": weights,
            "candidate_route": {"match": owned[0].get("match")} if owned else None,
            "mirror_percent": (route.get("mirrorPercentage") or {}).get("value", 100) if route.get("mirror") else 0}
    if others:
        view["other_destinations"] = others
    return view


def plan_rollout_route(vs, route_name, rollout, action, weight, stable, candidate, service, match=None,
                       mirror_percent=None, domain=DEFAULT_DOMAIN):
    """The change ``action`` makes to ``vs`` (a live VirtualService). Returns a RoutePlan.

    ``match`` (step only): the rollout's own route sends requests matching it to the candidate;
    without it that route is removed. ``mirror_percent`` (step only): a mirror of that share of the
    controlled route's traffic to the candidate; without it (or 0) a mirror to the candidate is
    removed. Weight ops come first, computed on the object as read; the owned route is added or
    removed last, so every path in the patch is valid where it applies.
    """
    meta = vs.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    http = (vs.get("spec") or {}).get("http") or []
    index = controlled_index(http, route_name, rollout)
    route = http[index]
    ops, split = [], None
    destinations = split_for(action, weight, stable, candidate, service)
    if destinations is not None:
        split = normalize_split(destinations, route, namespace, domain)
        ops.extend(plan_split(vs, index, split, domain).ops)
    clearing = action in ("promote", "rollback", "abort")
    if action == "step" or clearing:
        ops.extend(_mirror_ops(route, index, service, candidate, None if clearing else mirror_percent))
        ops.extend(_owned_route_ops(http, rollout, service, candidate, None if clearing else match))
    after_doc = apply_patch({"metadata": {}, "spec": {"http": http}}, ops)
    after_http = after_doc["spec"]["http"]
    after_index = controlled_index(after_http, route_name, rollout)
    header = "VirtualService %s/%s" % (namespace, meta.get("name"))
    before = _view(http, index, rollout, namespace, domain, service, stable, candidate)
    after = _view(after_http, after_index, rollout, namespace, domain, service, stable, candidate)
    return RoutePlan(ops, before, after, split, header)


def _mirror_ops(route, index, service, candidate, percent):
    base = "/spec/http/%d" % index
    mirror = route.get("mirror")
    ours = bool(mirror) and mirror.get("subset") == candidate
    if mirror and not ours and percent:
        raise RouteError("mirror_percent", "route %s already mirrors to %s; the rollout will not replace a mirror it "
                         "does not own" % (route.get("name") or "#%d" % index, mirror))
    ops = []
    if percent:
        wanted = {"host": service, "subset": candidate}
        if mirror != wanted:
            ops.append({"op": "add", "path": base + "/mirror", "value": wanted})
        if (route.get("mirrorPercentage") or {}).get("value") != percent:
            ops.append({"op": "add", "path": base + "/mirrorPercentage", "value": {"value": percent}})
    elif ours:
        ops.append({"op": "remove", "path": base + "/mirror"})
        if "mirrorPercentage" in route:
            ops.append({"op": "remove", "path": base + "/mirrorPercentage"})
    return ops


def _owned_route_ops(http, rollout, service, candidate, match):
    name = owned_route_name(rollout)
    found = [i for i, r in enumerate(http) if r.get("name") == name]
    if not match:
        return [{"op": "remove", "path": "/spec/http/%d" % i} for i in reversed(found)]
    wanted = {"name": name, "match": match,
              "route": [{"destination": {"host": service, "subset": candidate}, "weight": 100}]}
    if found == [0]:
        if http[0] == wanted:
            return []
        return [{"op": "replace", "path": "/spec/http/0", "value": wanted}]
    ops = [{"op": "remove", "path": "/spec/http/%d" % i} for i in reversed(found)]
    return ops + [{"op": "add", "path": "/spec/http/0", "value": wanted}]
