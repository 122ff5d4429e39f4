# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The phases of a rollout and what each action does from each of them. Pure.

One table (TRANSITIONS) says which action is allowed from which phase and where it leads; one
table (ON_RERUN) says what a playbook run that finds a rollout already recorded does from its
phase, so a run killed anywhere and started again continues or rolls back, never guesses.
The rollout record that carries the phase is kept in the cluster by an edge; nothing here
reads or writes it. docs/rollout.md shows both tables.
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError

INITIALIZED = "Initialized"
PROGRESSING = "Progressing"
WAITING_APPROVAL = "WaitingApproval"
PROMOTING = "Promoting"
FINALISING = "Finalising"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
ABORTED = "Aborted"

PHASES = (INITIALIZED, PROGRESSING, WAITING_APPROVAL, PROMOTING, FINALISING, SUCCEEDED, FAILED, ABORTED)
# Phases in which traffic may be on the candidate, so a run holds the rollout's lock.
ACTIVE = frozenset((INITIALIZED, PROGRESSING, WAITING_APPROVAL, PROMOTING, FINALISING))
DONE = frozenset((SUCCEEDED, FAILED, ABORTED))

ACTIONS = ("start", "step", "wait_approval", "approve", "promote", "finalise", "succeed", "rollback", "abort",
           "retry")

# (phase, action) -> the phase after it. A pair not listed is refused.
TRANSITIONS = {
    (None, "start"): INITIALIZED,
    (INITIALIZED, "step"): PROGRESSING,
    (PROGRESSING, "step"): PROGRESSING,
    (PROGRESSING, "wait_approval"): WAITING_APPROVAL,
    (PROGRESSING, "promote"): PROMOTING,
    (WAITING_APPROVAL, "approve"): PROGRESSING,
    (WAITING_APPROVAL, "promote"): PROMOTING,
    # A re-run that finds the promotion under way sets the candidate to 100 % again.
    (PROMOTING, "promote"): PROMOTING,
    (PROMOTING, "finalise"): FINALISING,
    (FINALISING, "succeed"): SUCCEEDED,
    (SUCCEEDED, "start"): INITIALIZED,
    # A new candidate after a failed or aborted one (the same candidate again is retry).
    (FAILED, "start"): INITIALIZED,
    (ABORTED, "start"): INITIALIZED,
    (FAILED, "retry"): INITIALIZED,
    (ABORTED, "retry"): INITIALIZED,
}
# A failed gate or an operator can send any rollout with traffic possibly on the candidate back to stable.
for _phase in (INITIALIZED, PROGRESSING, WAITING_APPROVAL, PROMOTING):
    TRANSITIONS[(_phase, "rollback")] = FAILED
    TRANSITIONS[(_phase, "abort")] = ABORTED
# Rolling back or aborting a rollout already back on stable changes nothing (a re-run of rollback.yml).
TRANSITIONS[(FAILED, "rollback")] = FAILED
TRANSITIONS[(ABORTED, "abort")] = ABORTED

# What a run that finds the rollout in a phase does: (action, why).
ON_RERUN = {
    None: ("start", "no rollout is recorded: start one"),
    INITIALIZED: ("continue", "started but no step was taken: continue with the first step"),
    PROGRESSING: ("continue", "continue from the recorded step, with its gate run again"),
    WAITING_APPROVAL: ("wait", "waiting for approval: continue only when approved, else stop again"),
    PROMOTING: ("continue", "promotion was under way: set the candidate to 100 % again (idempotent) and go on"),
    FINALISING: ("continue", "the candidate takes all traffic: finish scaling the old version down"),
    SUCCEEDED: ("nothing", "already promoted: nothing to do unless the candidate is a new revision"),
    FAILED: ("nothing", "rolled back: traffic is on stable; run retry to try the same candidate again"),
    ABORTED: ("nothing", "aborted: traffic is on stable; run retry to try again"),
}


class TransitionError(RolloutsError):
    """An action the rollout's phase does not allow; nothing was changed."""


def transition(phase, action, name="rollout"):
    """The phase after ``action`` from ``phase``; a TransitionError says what is allowed instead."""
    if action not in ACTIONS:
        raise TransitionError("unknown action %r; one of %s" % (action, ", ".join(ACTIONS)), param="action")
    if phase is not None and phase not in PHASES:
        raise TransitionError("%s has an unknown phase %r in its record" % (name, phase))
    after = TRANSITIONS.get((phase, action))
    if after is None:
        allowed = sorted(a for (p, a) in TRANSITIONS if p == phase)
        raise TransitionError("%s is %s: cannot %s (from %s it can: %s)"
                              % (name, phase or "not started", action, phase or "no record", ", ".join(allowed)),
                              phase=phase, action=action)
    return after


def on_rerun(phase):
    """(action, why) for a run that finds the rollout in ``phase`` (None: no record)."""
    if phase is not None and phase not in PHASES:
        raise TransitionError("unknown phase %r in the rollout record" % (phase,))
    return ON_RERUN[phase]


def lock_decision(record, run_id, now, stale_after, take_over=False, name="rollout", holder_alive=None):
    """Whether run ``run_id`` may act on the rollout at time ``now`` (seconds).

    ``record`` holds ``phase``, ``step``, ``run`` (the run that holds the lock), ``started`` (an
    ISO time, for the message) and ``heartbeat`` (seconds) of the last write. A rollout that is not
    active, or held by this same run, is free. One held by another run is refused, unless its
    last write is older than ``stale_after`` seconds and ``take_over`` is asked for. Returns
    ``"free"``, ``"own"`` or ``"taken_over"``; raises a RolloutsError otherwise. ``holder_alive``
    False says the holder's process is known to be gone (a run killed on this same controller):
    its lock is taken over without waiting for it to go stale. None means it cannot be known.
    """
    if not record or record.get("phase") not in ACTIVE or not record.get("run"):
        return "free"
    if record["run"] == run_id:
        return "own"
    age = now - float(record.get("heartbeat") or 0)
    held = "%s is %s at step %s, started by %s at %s" % (
        name, record["phase"], record.get("step", 0), record["run"], record.get("started") or "an unknown time")
    if holder_alive is False or (age >= stale_after and take_over):
        return "taken_over"
    if age >= stale_after:
        raise RolloutsError("%s; its last write was %d s ago, so the lock looks stale: take it over explicitly "
                            "to continue" % (held, age), phase=record["phase"], holder=record["run"])
    raise RolloutsError(held, phase=record["phase"], holder=record["run"])
