# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the collection's action plugins share to run a module's own code in the controller's worker.

An action plugin may run the module's code here only where the module itself would run in a process
of this controller, as the user running ansible (a local connection, no become, no async); anywhere
else it runs the module as a module. Run here, the task's ``environment`` is set in the worker for
the time of the call, as a module process would have it.
"""

from __future__ import annotations

import contextlib
import os

LOCAL_TRANSPORTS = ("local", "ansible.builtin.local", "ansible.legacy.local")


def runs_on_controller(connection, play_context, task):
    """Whether the task's module would run in a process of this controller, as the user running ansible."""
    return connection.transport in LOCAL_TRANSPORTS and not play_context.become and not task.async_val


@contextlib.contextmanager
def environment(values, environ=None):
    """The task's ``environment`` set in this worker while the call runs, as a module would get it."""
    environ = os.environ if environ is None else environ
    saved = dict((k, environ.get(k)) for k in values)
    environ.update(dict((k, str(v)) for k, v in values.items()))
    try:
        yield environ
    finally:
        for key, value in saved.items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value
