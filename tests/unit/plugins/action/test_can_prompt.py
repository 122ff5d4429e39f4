"""rollouts.istio.can_prompt: whether a pause could be answered, as Display.prompt_until decides it."""

from unittest import mock

import pytest
from ansible.errors import AnsiblePromptInterrupt, AnsiblePromptNoninteractive
from ansible.playbook.task import Task

from ansible_collections.rollouts.istio.plugins.action import can_prompt as CP


def asking(outcome):
    """A prompt_until that records its call and answers, or raises, `outcome`."""
    calls = []

    def prompt_until(msg, **kwargs):
        calls.append((msg, kwargs))
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    prompt_until.calls = calls
    return prompt_until


@pytest.mark.parametrize("outcome,expected", [
    (AnsiblePromptNoninteractive("stdin is not interactive"), False),
    (b"", True),
    (AnsiblePromptInterrupt("user interrupt"), True),
])
def test_can_prompt_is_what_display_says(outcome, expected):
    ask = asking(outcome)
    assert CP.can_prompt(ask) is expected
    # A prompt that waits for nothing and shows nothing typed.
    assert ask.calls == [("", {"private": True, "seconds": 0})]


def test_under_ansible_runner_no_one_can_answer_even_on_its_pseudo_terminal():
    # runner (AWX's engine) opens a pty for the run: Display would see a terminal, but no person is there.
    ask = asking(b"")
    assert CP.can_prompt(ask, environ={"AWX_ISOLATED_DATA_DIR": "/runner/artifacts/1"}) is False
    assert ask.calls == []
    assert CP.can_prompt(ask, environ={}) is True


def test_another_error_is_not_taken_for_an_answer():
    with pytest.raises(RuntimeError):
        CP.can_prompt(asking(RuntimeError("display broke")))


def test_without_a_terminal_display_refuses_to_prompt():
    # pytest's stdin is not a terminal, as under AWX or CI: Display itself says so.
    assert CP.can_prompt() is False


def _action(args):
    task = Task()
    task.args = args
    action = CP.ActionModule(task, connection=mock.MagicMock(), play_context=mock.MagicMock(), loader=None,
                             templar=None, shared_loader_obj=None)
    # The plugin loader sets it (ansible-core 2.16 names the action by it when it refuses an option).
    action._load_name = "rollouts.istio.can_prompt"
    return action


def test_the_action_returns_can_prompt_and_changes_nothing(monkeypatch):
    monkeypatch.setattr(CP.display, "prompt_until", asking(AnsiblePromptNoninteractive("stdin is not interactive")))
    result = _action({}).run(task_vars={})
    assert result["can_prompt"] is False and result["changed"] is False
    monkeypatch.setattr(CP.display, "prompt_until", asking(b""))
    assert _action({}).run(task_vars={})["can_prompt"] is True


def test_the_action_takes_no_options(monkeypatch):
    monkeypatch.setattr(CP.display, "prompt_until", asking(b""))
    with pytest.raises(Exception, match="nosuch"):
        _action({"nosuch": 1}).run(task_vars={})
