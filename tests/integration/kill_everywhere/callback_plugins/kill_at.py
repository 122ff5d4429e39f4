# -*- coding: utf-8 -*-
# Test-only (not shipped): lists a run's task boundaries, and SIGKILLs the run at one of them.
"""A notification callback for the kill-everywhere campaign.

Every task start (a boundary: the task before it has finished and its result is in; this one has not
run) is appended to $ROLLOUTS_KILL_LOG as one JSON line {i, task, path, t}. With $ROLLOUTS_KILL_AT=N
the whole run (its process group: ansible-playbook and every worker) is SIGKILLed at the N-th
boundary, before that task runs; with $ROLLOUTS_KILL_DELAY=D as well, D seconds after that task
started, in the middle of it (a gate's wait, a Deployment wait). A kill is what an operator's kill -9,
a cancelled AWX job or a lost runner node does: nothing of the run gets to clean up.

With $ROLLOUTS_KILL_SNAPSHOT=<namespace> (the reference run), each boundary's line also carries the
state a kill there would leave (tests/support/kill_state.py): the release's objects in that namespace,
read from the API server ($KUBECONFIG) before the task runs.
"""

from __future__ import annotations

DOCUMENTATION = """
name: kill_at
type: aggregate
short_description: list task boundaries and SIGKILL the run at one (tests only)
description: [See the module docstring.]
requirements: [enabled in callbacks_enabled]
"""

import json
import os
import signal
import sys
import threading
import time

from ansible.plugins.callback import CallbackBase


def _kill():
    os.killpg(os.getpgrp(), signal.SIGKILL)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kill_at"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._log = os.environ.get("ROLLOUTS_KILL_LOG")
        self._at = int(os.environ.get("ROLLOUTS_KILL_AT") or 0)
        self._delay = float(os.environ.get("ROLLOUTS_KILL_DELAY") or 0)
        self._count = 0
        self._snapshot = os.environ.get("ROLLOUTS_KILL_SNAPSHOT")
        self._reader = None
        if self._snapshot:
            tests = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
            sys.path.insert(0, os.path.abspath(tests))
            from support import kill_state  # the tests' own module: this callback is never shipped

            self._state = kill_state
            self._reader = kill_state.Reader(os.environ["KUBECONFIG"])

    def _write(self, entry):
        if self._log:
            with open(self._log, "a") as fh:
                fh.write(json.dumps(entry) + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    def _boundary(self, task):
        self._count += 1
        entry = {"i": self._count, "task": task.get_name(), "path": task.get_path(), "t": time.time()}
        if self._count == self._at:
            entry["kill"] = "in" if self._delay else "before"
        if self._reader is not None:
            state = self._state.normalize(self._reader.objects(self._snapshot), self._snapshot)
            entry["state"], entry["key"] = state, self._state.state_key(state)
        self._write(entry)
        if self._count == self._at:
            if self._delay:
                timer = threading.Timer(self._delay, _kill)
                timer.daemon = True
                timer.start()
            else:
                _kill()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._boundary(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._boundary(task)

    def v2_playbook_on_stats(self, stats):
        entry = {"end": time.time()}
        if self._reader is not None:
            state = self._state.normalize(self._reader.objects(self._snapshot), self._snapshot)
            entry["state"], entry["key"] = state, self._state.state_key(state)
        self._write(entry)
