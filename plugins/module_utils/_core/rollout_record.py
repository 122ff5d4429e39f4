# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout record kept on the VirtualService, and what each action makes of it. Pure.

The record lives in annotations of the first VirtualService of the rollout, so the weights and
the phase that explains them are written in ONE patch guarded by the resourceVersion that was
read: a run killed anywhere leaves both from before that patch or both from after it, never one
of each. A person with only kubectl reads the phase from the short annotations (and the label);
everything else, decisions included, is the JSON of ``rollouts.istio/record``.
"""

from __future__ import annotations

import copy
import json

from ansible_collections.rollouts.istio.plugins.module_utils._core import rollout as R
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError, RolloutsError

PREFIX = "rollouts.istio/"
RECORD_KEY = PREFIX + "record"
NAME_KEY = PREFIX + "rollout"
PHASE_KEY = PREFIX + "phase"
# The short annotations a person reads with kubectl, from the record's fields of the same name.
SHORT_KEYS = ("phase", "step", "weight", "stable", "candidate", "run", "updated")
KEEP_DECISIONS = 50
KEEP_HISTORY = 50
# A gate's checks (prometheus_check's `checks`) as a decision keeps them, compactly: the metrics once
# (name, query as sent, min, max), then one row per check of CHECK_FIELDS, `metric` being the index
# of its metric. Bounds, so that the record stays far below the 256 KiB of an object's annotations:
# the last KEEP_CHECKS checks of a decision (the ones before are counted in `checks_left_out`), a
# query cut at QUERY_CHARS characters (`query_chars` then gives its length), and the whole record
# at most RECORD_BYTES of JSON: beyond that the oldest decisions give up their checks first.
CHECK_FIELDS = ("metric", "iteration", "attempt", "time", "value", "verdict", "note")
KEEP_CHECKS = 40
QUERY_CHARS = 1000
RECORD_BYTES = 128 * 1024


def _escape(key):
    return key.replace("~", "~0").replace("/", "~1")


def read_record(vs, name):
    """The record of rollout ``name`` on ``vs``, or None when there is none.

    A VirtualService that carries another rollout's record is refused: two rollouts writing the
    weights of one route would undo each other.
    """
    annotations = (vs.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(RECORD_KEY)
    if raw is None:
        return None
    owner = annotations.get(NAME_KEY)
    meta = vs.get("metadata") or {}
    where = "VirtualService %s/%s" % (meta.get("namespace"), meta.get("name"))
    if owner and owner != name:
        raise RolloutsError("%s carries the record of rollout %r, not %r: one VirtualService belongs to one rollout "
                            "(name the rollout %r, or move its record away first)" % (where, owner, name, owner))
    try:
        record = json.loads(raw)
    except ValueError as exc:
        raise RolloutsError("%s: annotation %s is not JSON (%s); fix or remove it" % (where, RECORD_KEY, exc))
    if not isinstance(record, dict) or record.get("phase") not in R.PHASES:
        raise RolloutsError("%s: annotation %s has no known phase (%r)" % (where, RECORD_KEY,
                                                                           (record or {}).get("phase")
                                                                           if isinstance(record, dict) else record))
    return record


def record_ops(vs, record):
    """JSON patch ops that write ``record`` into the annotations (and the phase label) of ``vs``."""
    meta = vs.get("metadata") or {}
    ops = []
    annotations = meta.get("annotations")
    if annotations is None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
        annotations = {}
    values = {NAME_KEY: record["name"], RECORD_KEY: json.dumps(record, sort_keys=True, separators=(",", ":"))}
    for key in SHORT_KEYS:
        values[PREFIX + key] = "" if record.get(key) is None else str(record.get(key))
    for key, value in sorted(values.items()):
        if annotations.get(key) != value:
            ops.append({"op": "add" if key not in annotations else "replace",
                        "path": "/metadata/annotations/" + _escape(key), "value": value})
    labels = meta.get("labels")
    if labels is None:
        ops.append({"op": "add", "path": "/metadata/labels", "value": {}})
        labels = {}
    if labels.get(PHASE_KEY) != record["phase"]:
        ops.append({"op": "add" if PHASE_KEY not in labels else "replace",
                    "path": "/metadata/labels/" + _escape(PHASE_KEY), "value": record["phase"]})
    return ops


def summary(record):
    """The part of a record that says where the rollout is, for diffs and messages."""
    if not record:
        return {}
    keys = ("phase", "step", "weight", "stable", "candidate", "failed_checks", "message")
    return dict((k, record.get(k)) for k in keys)


# ---------------------------------------------------------------- what an action makes of the record

class Request(object):
    """One call of the rollout module: the action and what it carries.

    ``workload`` is what _core/revision.describe says of the candidate's workload (its revision),
    or None when the caller named none (then revisions play no part).
    """

    __slots__ = ("name", "action", "stable", "candidate", "step", "weight", "decision", "failed_checks", "message",
                 "strategy", "steps", "run_id", "virtual_services", "match", "mirror_percent", "service",
                 "workload")

    def __init__(self, **kwargs):
        for slot in self.__slots__:
            setattr(self, slot, kwargs.get(slot))


def check_request(req):
    """Raise a ParameterError, naming the option, for a request that cannot be carried out."""
    if req.action not in R.ACTIONS + ("record",):
        raise ParameterError("action", "must be one of %s, got %r" % (", ".join(R.ACTIONS + ("record",)), req.action))
    if req.stable == req.candidate:
        raise ParameterError("candidate", "the candidate subset %r is the stable subset; name a new version"
                             % req.candidate)
    if req.action == "step":
        if req.weight is None or isinstance(req.weight, bool) or not isinstance(req.weight, int) \
                or not 0 <= req.weight <= 100:
            raise ParameterError("weight", "action step needs the candidate's weight, an integer from 0 to 100, got %r"
                                 % (req.weight,))
        if req.step is None or req.step < 1:
            raise ParameterError("step", "action step needs the step's number, 1 or more, got %r" % (req.step,))
    if req.mirror_percent is not None and not 0 <= req.mirror_percent <= 100:
        raise ParameterError("mirror_percent", "must be from 0 to 100, got %r" % (req.mirror_percent,))
    if req.match is not None and (not isinstance(req.match, list) or not all(isinstance(m, dict) for m in req.match)):
        raise ParameterError("match", "must be a list of Istio HTTPMatchRequest dictionaries")
    if req.failed_checks is not None and req.failed_checks < 0:
        raise ParameterError("failed_checks", "must be 0 or more, got %r" % (req.failed_checks,))


def recorded_revision(record):
    """The revision a start compares with: the promoted one after success, else the one being released."""
    if not record:
        return None
    if record.get("phase") == R.SUCCEEDED:
        return record.get("promoted_revision") or record.get("revision")
    return record.get("revision")


def revision_changed(record, workload):
    """(before, after) when the candidate's revision differs from the recorded one; None when it does not,
    or when either is unknown (a record from before revisions, or no workload named)."""
    before, after = recorded_revision(record), (workload or {}).get("revision")
    if before and after and before != after:
        return before, after
    return None


def refuse_changed_promoted(name, record, changed):
    return RolloutsError(
        "rollout %s promoted %s (revision %s) at %s, and its %s is now revision %s: the promoted version takes all "
        "traffic and was changed in place, so there is nothing to release it against. Release the change as a new "
        "version (a new candidate name), or put the promoted revision back"
        % (name, record.get("candidate"), changed[0], record.get("promoted") or record.get("updated"),
           ((record.get("workload") or {}).get("kind") or "workload"), changed[1]),
        phase=record.get("phase"), revision=changed[1], promoted_revision=changed[0])


def start_kind(record, req):
    """What start means for the record found: "new", "resume", "restart" or "nothing"; raises when it cannot start.

    With the candidate's revision known (req.workload): a new revision during an active rollout
    restarts its analysis (but not once finalising: the old version may be gone, so it finishes);
    after a failure or an abort it is a new rollout (a fix is released without retry); after
    success it is refused (the promoted version was changed in place).
    """
    if record is None:
        return "new"
    phase = record["phase"]
    same = record.get("candidate") == req.candidate and record.get("stable") == req.stable
    if phase == R.SUCCEEDED:
        # After success the record's stable is the promoted version; the release was stable -> candidate.
        same = record.get("candidate") == req.candidate and record.get("previous_stable", req.stable) == req.stable
    changed = revision_changed(record, req.workload) if same else None
    if phase in R.ACTIVE:
        if not same:
            raise RolloutsError("rollout %s is %s at step %s with stable %s and candidate %s: finish, abort or roll it "
                                "back before starting candidate %s"
                                % (req.name, phase, record.get("step"), record.get("stable"), record.get("candidate"),
                                   req.candidate), phase=phase)
        return "restart" if changed and phase != R.FINALISING else "resume"
    if same:
        if changed and phase == R.SUCCEEDED:
            raise refuse_changed_promoted(req.name, record, changed)
        # Succeeded: already promoted. Failed, Aborted: back on stable; retry tries the same revision again.
        return "new" if changed else "nothing"
    return "new"


def rerun_of(record, candidate, workload):
    """(action, why) for a run of release ``candidate`` whose workload is ``workload`` (a describe dict or None).

    The phase's row of ON_RERUN, told more where the revision says more: a new revision restarts
    an active rollout ("start"), starts again after a failure ("start"), is refused after success
    ("refuse"); the same revision after success says when it was promoted.
    """
    phase = record["phase"] if record else None
    action, why = R.on_rerun(phase)
    if not record or record.get("candidate") != candidate:
        return action, why
    changed = revision_changed(record, workload)
    if changed and phase in R.ACTIVE and phase != R.FINALISING:
        return "start", "revision changed from %s to %s: the analysis starts again from the first step" % changed
    if changed and phase in (R.FAILED, R.ABORTED):
        return "start", "revision %s was rolled back; revision %s is new: a new rollout" % changed
    if changed and phase == R.SUCCEEDED:
        return "refuse", refuse_changed_promoted(record.get("name"), record, changed).msg
    if phase == R.SUCCEEDED and record.get("promoted"):
        return action, "revision %s already promoted at %s: nothing to do" % (
            record.get("promoted_revision") or "?", record["promoted"])
    return action, why


def _weight_of(action, req, record):
    if action == "step":
        return req.weight
    if action in ("promote", "succeed", "finalise"):
        return 100
    if action in ("rollback", "abort"):
        return 0
    return (record or {}).get("weight", 0)


def next_record(record, req, now_iso, now_epoch):
    """The record after ``req`` (a Request) at time ``now``; raises TransitionError when not allowed.

    Returns (record, phase transition action taken or None). ``record`` is not modified.
    """
    before = copy.deepcopy(record) if record else None
    action = req.action
    phase = before["phase"] if before else None
    if action == "start":
        kind = start_kind(before, req)
        if kind == "nothing":
            return before, None
        if kind == "resume":
            new = before
            new["run"] = req.run_id
            if req.workload and not new.get("revision"):
                # A record from before revisions learns the one it releases.
                new["revision"], new["workload"] = req.workload["revision"], req.workload
            _history(new, now_iso, "resume", req.run_id)
            new["updated"], new["heartbeat"] = now_iso, now_epoch
            return new, None
        if kind == "restart":
            # The weights go back to stable alone (the flow plans them as a rollback's); the plan
            # is taken again from its first step, with the failed checks of the old revision gone.
            new = before
            old_rev, new_rev = before.get("revision"), req.workload["revision"]
            why = "revision changed from %s to %s" % (old_rev, new_rev)
            new.update({"phase": R.INITIALIZED, "step": 0, "weight": 0, "failed_checks": 0, "message": why,
                        "run": req.run_id, "started": now_iso, "revision": new_rev, "workload": req.workload})
            if req.steps:
                new["steps"] = list(req.steps)
            _history(new, now_iso, "restart", req.run_id, why=why, revision_before=old_rev, revision=new_rev)
            new["updated"], new["heartbeat"] = now_iso, now_epoch
            return new, "restart"
        new = {"name": req.name, "phase": R.INITIALIZED, "step": 0, "weight": 0, "stable": req.stable,
               "candidate": req.candidate, "strategy": req.strategy, "steps": list(req.steps or []),
               "run": req.run_id, "started": now_iso, "failed_checks": 0, "message": "", "decisions": [],
               "history": (before or {}).get("history", [])[-KEEP_HISTORY + 1:],
               "virtual_services": req.virtual_services, "service": req.service}
        extra = {}
        if req.workload:
            new["revision"], new["workload"] = req.workload["revision"], req.workload
            extra["revision"] = req.workload["revision"]
            if (before or {}).get("revision") and before.get("candidate") == req.candidate:
                extra["revision_before"] = before["revision"]
                extra["why"] = "revision changed from %s to %s" % (before["revision"], req.workload["revision"])
        _history(new, now_iso, "start", req.run_id, **extra)
        new["updated"], new["heartbeat"] = now_iso, now_epoch
        return new, "start"
    if before is None:
        raise R.TransitionError("rollout %s has no record on its VirtualService: start it first (action %s needs one)"
                                % (req.name, action), action=action)
    _same_release(before, req)
    new = before
    taken = None
    if action == "record":
        if phase not in R.ACTIVE:
            raise R.TransitionError("rollout %s is %s: a decision can only be recorded while it is active"
                                    % (req.name, phase), phase=phase)
    elif (phase, action) in ((R.FAILED, "rollback"), (R.ABORTED, "abort")):
        pass  # already back on stable: a re-run of rollback.yml only sets the weights again
    else:
        new["phase"] = R.transition(phase, action, "rollout " + req.name)
        taken = action
    if action == "step":
        new["step"] = req.step
    if action == "succeed":
        # The candidate is the stable version now; the one it replaced is kept for the record.
        new["previous_stable"], new["stable"] = before["stable"], before["candidate"]
    if action == "succeed" and new.get("revision"):
        new["promoted_revision"], new["promoted"] = new["revision"], now_iso
    if action == "retry":
        new["step"], new["failed_checks"], new["message"], new["started"] = 0, 0, "", now_iso
        if req.workload:
            new["revision"], new["workload"] = req.workload["revision"], req.workload
    new["weight"] = _weight_of(action, req, before)
    if req.failed_checks is not None:
        new["failed_checks"] = req.failed_checks
    if req.message:
        new["message"] = req.message
    if req.decision:
        decision = compact_decision(req.decision)
        decision.setdefault("time", now_iso)
        decision.setdefault("step", new.get("step"))
        new["decisions"] = (new.get("decisions") or [])[-KEEP_DECISIONS + 1:] + [decision]
        fit_record(new)
    if action not in ("rollback", "abort") or phase in R.ACTIVE:
        new["run"] = req.run_id
    if taken:
        _history(new, now_iso, action, req.run_id)
    new["updated"], new["heartbeat"] = now_iso, now_epoch
    return new, taken


def _same_release(record, req):
    stable = record.get("previous_stable", record.get("stable"))
    if record.get("candidate") != req.candidate or stable != req.stable:
        raise RolloutsError("rollout %s records stable %s and candidate %s, not %s and %s: name the versions of the "
                            "recorded release (see rollout_info), or start a new one"
                            % (req.name, record.get("stable"), record.get("candidate"), req.stable, req.candidate))


def _history(record, now_iso, action, run_id, **extra):
    entry = {"time": now_iso, "action": action, "phase": record["phase"], "step": record.get("step"),
             "weight": record.get("weight"), "run": run_id}
    entry.update(extra)
    record["history"] = (record.get("history") or [])[-KEEP_HISTORY + 1:] + [entry]


def _cut(query):
    query = "" if query is None else str(query)
    return (query, None) if len(query) <= QUERY_CHARS else (query[:QUERY_CHARS - 3] + "...", len(query))


def compact_decision(decision):
    """The decision as the record keeps it: its ``checks`` (prometheus_check's, one dict per metric and
    check) become ``analysis`` (the metrics once, a row per check), within the bounds above.

    A decision without ``checks`` is kept as given; ``checks`` already compact (an ``analysis``) too.
    """
    decision = dict(decision)
    checks = decision.pop("checks", None)
    if not checks or not isinstance(checks, list):
        return decision
    metrics, index, rows = [], {}, []
    for check in checks:
        if not isinstance(check, dict):
            continue
        name = check.get("metric")
        if name not in index:
            query, length = _cut(check.get("query"))
            metric = {"name": name, "query": query, "min": check.get("min"), "max": check.get("max")}
            if length:
                metric["query_chars"] = length
            if check.get("requests_query"):
                metric["requests_query"] = _cut(check["requests_query"])[0]
                metric["min_requests"] = check.get("min_requests")
            index[name] = len(metrics)
            metrics.append(metric)
        note = check.get("no_data") or check.get("raw")
        if check.get("verdict") == "error":
            note = check.get("reason") or note
        rows.append([index[name], check.get("iteration"), check.get("attempt"), check.get("time"), check.get("value"),
                     check.get("verdict"), None if note is None else str(note)[:300]])
    analysis = {"metrics": metrics, "fields": list(CHECK_FIELDS), "checks": rows[-KEEP_CHECKS:],
                "checks_left_out": max(0, len(rows) - KEEP_CHECKS)}
    decision["analysis"] = analysis
    return decision


def fit_record(record):
    """Keep the record's JSON within RECORD_BYTES: the oldest decisions give up their checks first
    (their verdict, reason and values stay; ``checks_left_out`` counts what went)."""
    def size():
        return len(json.dumps(record, sort_keys=True, separators=(",", ":")))
    for decision in record.get("decisions") or []:
        if size() <= RECORD_BYTES:
            return record
        analysis = decision.get("analysis")
        if isinstance(analysis, dict) and analysis.get("checks"):
            analysis["checks_left_out"] = (analysis.get("checks_left_out") or 0) + len(analysis["checks"])
            analysis["checks"] = []
    return record


def meaningful_change(before, after):
    """Whether a write is needed for the record alone: anything but the heartbeat and history changed."""
    if before is None or after is None:
        return before is not after
    ignore = ("updated", "heartbeat", "history")
    return any(before.get(k) != after.get(k) for k in set(before) | set(after) if k not in ignore)
