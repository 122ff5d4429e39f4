# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One action of a rollout as a flow: read the VirtualServices, let the core decide, write guarded.

Read every VirtualService of the rollout; the first carries the record. The core says whether the
lock lets this run act, what the record becomes and which ops each VirtualService needs. The others
are written first, the record carrier last, in one patch holding both its weights and the record,
each guarded by the resourceVersion that was read. A 409 (someone wrote in between) reads all of
them again and decides again, a bounded number of times, so an operator's rollback that lands in
between is seen, never overwritten.
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core import rollout as R
from ansible_collections.rollouts.istio.plugins.module_utils._core import rollout_record as REC
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._core.rollout_routes import (
    WeightsChangedError,
    check_weights_kept,
    plan_rollout_route,
)
from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import (
    VIRTUAL_SERVICE,
    IstioError,
    resource_name,
)
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_client import Conflict, K8sError, explain
from ansible_collections.rollouts.istio.plugins.module_utils._flows.revision import candidate_revision
from ansible_collections.rollouts.istio.plugins.module_utils._flows.set_split import (
    DestinationChecker,
    read_virtual_service,
)

# Rolling back and aborting always go through: an operator's emergency stop wins over a lock.
UNLOCKED_ACTIONS = ("rollback", "abort")
# The actions that record the candidate's revision, so read its workload.
REVISION_ACTIONS = ("start", "retry")


def _key(entry):
    return "%s/%s" % (entry["namespace"], entry["name"])


def read_state(api, name, entries):
    """The live VirtualServices of the rollout and its record (None when there is none)."""
    objects = [read_virtual_service(api, e["namespace"], e["name"]) for e in entries]
    return objects, REC.read_record(objects[0], name)


def _lock(record, req, clock, stale_after, take_over, holder_alive):
    if req.action in UNLOCKED_ACTIONS or not record:
        return "free"
    alive = holder_alive(record.get("run")) if record.get("run") and record.get("run") != req.run_id else None
    return R.lock_decision(record, req.run_id, clock(), stale_after, take_over, "rollout " + req.name,
                           holder_alive=alive)


def act(api, req, entries, service, clock, now_iso, check_mode=False, stale_after=900, take_over=False,
        holder_alive=lambda run: None, validate_destinations=True, domain="cluster.local", max_retries=5,
        workloads=None, workload=None):
    """Carry out ``req`` (a rollout_record.Request); returns the module result and the diff.

    With ``workload`` ({kind, namespace, name} of the candidate) and a ``workloads`` reader, start
    and retry read the candidate's revision (see _flows/revision.py) into ``req.workload``.
    """
    REC.check_request(req)
    if workload and req.action in REVISION_ACTIONS:
        req.workload = candidate_revision(workloads, workload, missing_ok=check_mode)
    attempts = 0
    while True:
        attempts += 1
        objects, record = read_state(api, req.name, entries)
        phase_before = record["phase"] if record else None
        lock = _lock(record, req, clock, stale_after, take_over, holder_alive)
        new, taken = REC.next_record(record, req, now_iso(), clock())
        # Only step, promote, rollback and abort touch routes; rollback and abort set the weights
        # back to stable even when the phase already says Failed (a re-run of rollback.yml). A
        # restart (a new revision mid-rollout) sets them as a rollback does, before step 1 again.
        route_action = "rollback" if taken == "restart" else req.action
        plans = [plan_rollout_route(obj, e.get("route"), req.name, route_action, req.weight, req.stable, req.candidate,
                                    service, req.match, req.mirror_percent, domain)
                 for obj, e in zip(objects, entries)]
        # The record carrier's weights are written with the record, so they must be as recorded; the
        # others are written first and may be a step ahead after a killed run.
        if req.action not in UNLOCKED_ACTIONS and taken != "restart":
            check_weights_kept(req.name, record, plans[0].difference.before, "VirtualService " + _key(entries[0]))
        if validate_destinations:
            for plan, e in zip(plans, entries):
                if plan.split is not None and plan.ops:
                    DestinationChecker(api, e["namespace"], domain).check(plan.split)
        record_changed = REC.meaningful_change(record, new) or (lock == "taken_over")
        result = {
            "changed": any(p.changed for p in plans) or record_changed,
            "rollout": new or {},
            "phase_before": phase_before,
            "rerun": dict(zip(("action", "why"), R.on_rerun(phase_before))),
            "lock": lock,
            "holder_before": (record or {}).get("run"),
            "weights": dict((_key(e), p.difference.after["weights"]) for p, e in zip(plans, entries)),
            "virtual_services": dict((_key(e), p.difference.after) for p, e in zip(plans, entries)),
            "attempts": attempts,
            "restarted": taken == "restart",
            "revision": (req.workload or {}).get("revision"),
        }
        if taken == "restart":
            result["reason"] = result["msg"] = "rollout %s: %s: the analysis starts again from the first step" % (
                req.name, new["message"])
        elif req.action == "start" and phase_before == R.SUCCEEDED and not record_changed:
            result["msg"] = "rollout %s: %s already promoted at %s" % (
                req.name, record.get("promoted_revision") and "revision " + record["promoted_revision"]
                or record.get("candidate"), record.get("promoted") or record.get("updated"))
        diff = {"before": {"rollout": REC.summary(record)}, "after": {"rollout": REC.summary(new)}}
        for p, e in zip(plans, entries):
            diff["before"][_key(e)] = p.difference.before
            diff["after"][_key(e)] = p.difference.after
        if not result["changed"]:
            return result, diff
        try:
            # The others first, the record carrier last: a run killed in between leaves the record
            # saying the step before, and a re-run sets the weights of the recorded step again.
            for index in range(len(entries) - 1, -1, -1):
                ops = list(plans[index].ops)
                if index == 0 and record_changed:
                    ops += REC.record_ops(objects[0], new)
                if not ops:
                    continue
                guard = [{"op": "replace", "path": "/metadata/resourceVersion",
                          "value": objects[index]["metadata"]["resourceVersion"]}]
                _patch(api, entries[index], guard + ops, check_mode)
            return result, diff
        except Conflict as exc:
            if attempts > max_retries:
                raise IstioError("the VirtualServices of rollout %s kept changing while it wrote: gave up after %d "
                                 "attempts; last error: %s" % (req.name, attempts, exc.msg), exc)


def _patch(api, entry, ops, check_mode):
    try:
        return api.json_patch(VIRTUAL_SERVICE, entry["namespace"], entry["name"], ops, dry_run=check_mode)
    except Conflict:
        raise
    except K8sError as exc:
        raise IstioError(explain(exc, "patch", resource_name(VIRTUAL_SERVICE), entry["namespace"], entry["name"]), exc)


def info(api, name, namespace, virtual_service, domain="cluster.local", workloads=None, workload=None,
         candidate=None):
    """What rollout_info returns: the record, what a re-run would do, and the live weights.

    With the ``candidate`` release's ``workload`` (read through ``workloads``), the re-run is told
    for its revision (rollout_record.rerun_of), and ``revision`` is the candidate's now.
    """
    carrier = read_virtual_service(api, namespace, virtual_service)
    record = REC.read_record(carrier, name)
    described = candidate_revision(workloads, workload, missing_ok=True) if workload else None
    if record and workload:
        rerun = REC.rerun_of(record, candidate or record.get("candidate"), described)
    else:
        rerun = R.on_rerun(record["phase"] if record else None)
    out = {"exists": record is not None, "rollout": record or {}, "phase": record["phase"] if record else None,
           "rerun": dict(zip(("action", "why"), rerun)), "revision": (described or {}).get("revision"),
           "weights": {}, "virtual_services": {}, "weights_changed": None}
    if not record:
        return out
    entries = record.get("virtual_services") or [{"name": virtual_service, "namespace": namespace}]
    for e in entries:
        try:
            obj = carrier if (e["namespace"], e["name"]) == (namespace, virtual_service) else \
                read_virtual_service(api, e["namespace"], e["name"])
            stable = record.get("previous_stable", record["stable"])
            view = plan_rollout_route(obj, e.get("route"), name, None, None, stable, record["candidate"],
                                      record.get("service") or name, domain=domain).difference.before
        except RolloutsError as exc:
            view = {"error": str(exc)}
        out["weights"][_key(e)] = view.get("weights")
        out["virtual_services"][_key(e)] = view
        if e is entries[0] and "weights" in view:
            try:
                check_weights_kept(name, record, view, "VirtualService " + _key(e))
            except WeightsChangedError as exc:
                out["weights_changed"] = dict(exc.result["weights_changed"], msg=exc.msg)
    return out
