# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rollouts.istio.traffic_split, run in the controller's worker when the task runs on the controller.

A traffic change is a read and a guarded patch, a few milliseconds of API time; shipping the module
and starting a Python process for it took most of the task's second. When the task runs on the
controller (connection local, as the collection's roles run it) this runs the module's own
argument spec and code (module_utils/_runner/split_task.py) here, in the worker, and the items of a
loop share one connection. The result is the module's: the same keys and messages, check and diff
mode, the resourceVersion guard and its retries, bad input naming the option and writing nothing.

Anywhere else (delegated to a host reached over a connection, become, async) it runs the module
as a module.
"""

from __future__ import annotations

import json

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._runner import runner
from ansible_collections.rollouts.istio.plugins.plugin_utils.in_worker import environment, runs_on_controller
from ansible_collections.rollouts.istio.plugins.module_utils._runner.split_task import (
    MODULE_NAME,
    shared_connection,
    split_traffic,
    validate,
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def _runs_on_controller(self):
        return runs_on_controller(self._connection, self._play_context, self._task)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        if not self._runs_on_controller():
            result.update(self._execute_module(module_name=MODULE_NAME, module_args=self._task.args,
                                               task_vars=task_vars, wrap_async=self._task.async_val))
            return result
        env = {}
        self._compute_environment_string(env)
        # The arguments as the module gets them: plain JSON, not the templar's string types.
        args = json.loads(json.dumps(self._task.args, cls=AnsibleJSONEncoder))
        with environment(env):
            result.update(self.split(args, check_mode=bool(self._task.check_mode), diff=bool(self._task.diff)))
        return result

    def split(self, args, check_mode=False, diff=False, connect=shared_connection):
        """The module's result for ``args``, run here."""
        params, secrets, warnings, deprecations, error = validate(args)
        if error:
            out = dict(failed=True, msg=error)
        elif not runner.HAS_KUBERNETES:
            out = dict(failed=True, msg=missing_required_lib("kubernetes"), exception=runner.KUBERNETES_IMPORT_ERROR)
        else:
            try:
                out = split_traffic(params, connect(params), check_mode=check_mode, diff=diff)
            except RolloutsError as exc:
                out = exc.result_fields()
                out.setdefault("changed", False)
                out.update(failed=True, msg=str(exc))
        out["invocation"] = dict(module_args=params)
        if warnings:
            out["warnings"] = warnings
        if deprecations:
            out["deprecations"] = deprecations
        # What JSON would make of it, as a module's result comes back (no tuples, no shared objects).
        return remove_values(json.loads(json.dumps(out, cls=AnsibleJSONEncoder)), secrets)
