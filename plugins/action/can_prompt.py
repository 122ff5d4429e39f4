# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether ansible.builtin.pause could ask anyone: the controller's terminal, as Display decides it.

A task runs in a worker process whose stdin is /dev/null, so it cannot look at the terminal
itself. Display.prompt_until, which ansible.builtin.pause calls, sends the prompt to the main
process; there it raises AnsiblePromptNoninteractive when stdin is not a terminal, or when the
run is in the background (its process group is not the terminal's foreground group). This asks
it for a prompt that waits 0 seconds: that error means no one can answer.

Under ansible-runner (the engine of AWX and Automation Controller jobs) stdin IS a terminal: a
pseudo-terminal runner opens to feed passwords, which no person types into. So a run under runner
(AWX_ISOLATED_DATA_DIR, which runner sets for its event callback, is in the environment) can never
prompt, whatever Display says.
"""

from __future__ import annotations

import os

from ansible.errors import AnsiblePromptInterrupt, AnsiblePromptNoninteractive
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()


# Set by ansible-runner for every run it starts (its event callback writes there).
RUNNER_ENV = "AWX_ISOLATED_DATA_DIR"


def can_prompt(prompt_until=None, environ=None):
    """True when a prompt of ansible.builtin.pause would reach an interactive terminal."""
    if (os.environ if environ is None else environ).get(RUNNER_ENV):
        return False
    ask = prompt_until or display.prompt_until
    try:
        ask("", private=True, seconds=0)
    except AnsiblePromptNoninteractive:
        return False
    except AnsiblePromptInterrupt:  # a key pressed (Ctrl+C) in the instant: someone is there
        return True
    return True


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        dummy, args = self.validate_argument_spec(argument_spec={})
        result.update(changed=False, can_prompt=can_prompt())
        return result
