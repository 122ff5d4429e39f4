"""The rollout's phases: every (phase, action) pair, the re-run table, the lock (_core/rollout.py)."""

import itertools

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import rollout as R
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError

ALL_PHASES = (None,) + R.PHASES


@pytest.mark.parametrize("phase,action", list(itertools.product(ALL_PHASES, R.ACTIONS)))
def test_every_pair_is_either_in_the_table_or_refused_with_what_is_allowed(phase, action):
    if (phase, action) in R.TRANSITIONS:
        assert R.transition(phase, action) in R.PHASES
    else:
        with pytest.raises(R.TransitionError) as err:
            R.transition(phase, action, name="rollout shop/reviews")
        assert "cannot %s" % action in str(err.value)
        assert str(err.value).startswith("rollout shop/reviews is %s" % (phase or "not started"))
        assert err.value.result["action"] == action


def test_the_happy_path_of_a_canary_reaches_succeeded():
    phase = None
    for action in ("start", "step", "step", "wait_approval", "approve", "step", "promote", "finalise", "succeed"):
        phase = R.transition(phase, action)
    assert phase == R.SUCCEEDED


@pytest.mark.parametrize("phase", sorted(R.ACTIVE - {R.FINALISING}))
def test_any_phase_with_traffic_possibly_on_the_candidate_can_roll_back(phase):
    assert R.transition(phase, "rollback") == R.FAILED
    assert R.transition(phase, "abort") == R.ABORTED


def test_finalising_cannot_roll_back_the_candidate_already_takes_everything():
    with pytest.raises(R.TransitionError):
        R.transition(R.FINALISING, "rollback")


def test_rollback_again_is_a_no_op_and_retry_starts_over():
    assert R.transition(R.FAILED, "rollback") == R.FAILED
    assert R.transition(R.FAILED, "retry") == R.INITIALIZED
    assert R.transition(R.ABORTED, "retry") == R.INITIALIZED


def test_every_phase_has_a_rerun_rule_and_active_phases_continue_or_wait():
    assert set(R.ON_RERUN) == set(ALL_PHASES)
    for phase in ALL_PHASES:
        action, why = R.on_rerun(phase)
        assert why
        if phase in R.ACTIVE:
            assert action in ("continue", "wait")
        elif phase in R.DONE:
            assert action == "nothing"
    assert R.on_rerun(None)[0] == "start"


def test_unknown_phase_or_action_is_an_error():
    with pytest.raises(R.TransitionError, match="unknown phase"):
        R.on_rerun("Running")
    with pytest.raises(R.TransitionError, match="unknown phase"):
        R.transition("Running", "step")
    with pytest.raises(R.TransitionError) as err:
        R.transition(R.PROGRESSING, "jump")
    assert err.value.param == "action"


RECORD = {"phase": R.PROGRESSING, "step": 2, "run": "awx-job-41", "started": "2026-12-02T03:00:00Z", "heartbeat": 1000}


def test_lock_free_when_not_active_or_own():
    assert R.lock_decision(None, "run-b", 1010, 300) == "free"
    assert R.lock_decision(dict(RECORD, phase=R.SUCCEEDED), "run-b", 1010, 300) == "free"
    assert R.lock_decision(RECORD, "awx-job-41", 1010, 300) == "own"


def test_second_run_is_refused_with_who_holds_it():
    with pytest.raises(RolloutsError) as err:
        R.lock_decision(RECORD, "run-b", 1010, 300, name="rollout reviews")
    assert str(err.value) == ("rollout reviews is Progressing at step 2, started by awx-job-41 at "
                              "2026-12-02T03:00:00Z")
    assert err.value.result == {"phase": R.PROGRESSING, "holder": "awx-job-41"}


def test_stale_lock_is_taken_over_only_when_asked():
    with pytest.raises(RolloutsError, match="looks stale: take it over explicitly"):
        R.lock_decision(RECORD, "run-b", 1400, 300)
    assert R.lock_decision(RECORD, "run-b", 1400, 300, take_over=True) == "taken_over"
    with pytest.raises(RolloutsError):
        R.lock_decision(RECORD, "run-b", 1100, 300, take_over=True)


def test_docs_show_the_tables_as_the_code_has_them():
    import os
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..", "docs", "rollout.md")).read()
    for (phase, action), after in R.TRANSITIONS.items():
        assert "| %s | %s | %s |" % (phase or "(no record)", action, after) in doc
    for phase, (action, why) in R.ON_RERUN.items():
        assert "| %s | %s | %s |" % (phase or "(no record)", action, why) in doc
