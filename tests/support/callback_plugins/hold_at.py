# -*- coding: utf-8 -*-
# Test-only (not shipped): holds a run before one task until the test lets it go.
"""A notification callback that opens a race window on purpose.

With $ROLLOUTS_HOLD_TASK (a task's own name, without its role's) and $ROLLOUTS_HOLD_FILE (a path), the run stops at the start
of the first task of that name, before it runs: it creates <path>.reached, then waits until <path>
exists (at most $ROLLOUTS_HOLD_TIMEOUT seconds, 300 by default), and goes on. Callbacks run in
ansible-playbook's own process, before the task is handed to a worker, so nothing of that task has
happened while the run is held.
"""

from __future__ import annotations

DOCUMENTATION = """
name: hold_at
type: aggregate
short_description: hold a run before one task until a file exists (tests only)
description: [See the module docstring.]
requirements: [enabled in callbacks_enabled]
"""

import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "hold_at"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._task = os.environ.get("ROLLOUTS_HOLD_TASK")
        self._file = os.environ.get("ROLLOUTS_HOLD_FILE")
        self._timeout = float(os.environ.get("ROLLOUTS_HOLD_TIMEOUT") or 300)
        self._done = False

    def v2_playbook_on_task_start(self, task, is_conditional):
        if self._done or not self._task or not self._file or (task.name or '') != self._task:
            return
        self._done = True
        with open(self._file + ".reached", "w") as fh:
            fh.write(task.get_name() + "\n")
        deadline = time.time() + self._timeout
        while not os.path.exists(self._file) and time.time() < deadline:
            time.sleep(0.1)
