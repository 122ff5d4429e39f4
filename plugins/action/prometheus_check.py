# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rollouts.istio.prometheus_check, with one line of progress per check.

The analysis takes minutes (iterations x interval), and a module says nothing until it ends. When
the task runs on the controller (connection local, as the collection's roles run it) this runs the
module's own analysis (module_utils/_runner/prometheus_gate.py: the same argument spec, the same
``analyse``) in the controller's worker, and shows each check through Display as it is made: the
worker hands each line to the main process at once, so it appears in ansible-playbook's output (and
in AWX's job output) while the task runs. The result is the module's: the same keys and messages,
``changed`` false, secrets removed as AnsibleModule removes them.

Anywhere else (delegated to a host reached over a connection, become, async) it runs the module
as a module, without progress.
"""

from __future__ import annotations

import json
import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._flows.analysis_gate import describe_check, describe_start
from ansible_collections.rollouts.istio.plugins.module_utils._runner.prometheus_gate import (
    MODULE_NAME,
    MODULE_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_TOGETHER,
    analyse,
    secret_values,
)
from ansible_collections.rollouts.istio.plugins.module_utils._runner.arg_validation import validate_as_module
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import prometheus_argument_spec
from ansible_collections.rollouts.istio.plugins.plugin_utils.in_worker import environment, runs_on_controller

display = Display()

# The task variable whose value, when set, names the analysis in its progress lines ("step 1 (10 %)").
LABEL_VAR = "prometheus_check_progress_label"


def validate(args, name=MODULE_NAME):
    """(params, no_log_values, warnings, deprecations, error message or None), as AnsibleModule validates."""
    validator = ArgumentSpecValidator(prometheus_argument_spec(**MODULE_SPEC), mutually_exclusive=MUTUALLY_EXCLUSIVE,
                                      required_together=REQUIRED_TOGETHER)
    return validate_as_module(validator, args, name)


def _progress_printer():
    """Display.display for the progress lines; to stderr when the stdout callback writes JSON
    (ansible.posix.json, jsonl ...), whose stdout a program parses and a line of text would break."""
    from ansible import constants as C  # pylint: disable=import-outside-toplevel

    callback = str(getattr(C, "DEFAULT_STDOUT_CALLBACK", "") or "")
    if callback.rsplit(".", maxsplit=1)[-1] in ("json", "jsonl"):
        return lambda line: display.display(line, stderr=True)
    return display.display


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
        label = task_vars.get(LABEL_VAR)
        label = self._templar.template(label) if label else None
        # The arguments as the module gets them: plain JSON, not the templar's string types.
        args = json.loads(json.dumps(self._task.args, cls=AnsibleJSONEncoder))
        with environment(env):
            result.update(self.analyse(args, label=label))
        return result

    def analyse(self, args, label=None, show=None, **analyse_kwargs):
        """The module's result for ``args``, run here, showing each check with ``show`` (Display)."""
        show = show or _progress_printer()
        params, secrets, warnings, deprecations, error = validate(args)
        secrets |= secret_values(params, os.environ)
        hidden = bool(self._task.no_log)

        def say(line):
            show(remove_values("prometheus_check: %s" % line, secrets))

        def warn(text):
            warnings.append(text)

        def on_start(config):
            say(describe_start(config, label))

        def on_check(records, analysis):
            say(describe_check(records, analysis, label, hide_values=hidden))

        if error:
            out = dict(failed=True, msg=error)
        else:
            try:
                out = analyse(params, warn, on_check=on_check, on_start=on_start, **analyse_kwargs)
            except RolloutsError as exc:
                out = exc.result_fields()
                out.setdefault("changed", False)
                out.update(failed=True, msg=str(exc))
        out["invocation"] = dict(module_args=params)
        if warnings:
            out["warnings"] = warnings
        if deprecations:
            out["deprecations"] = deprecations
        return remove_values(out, secrets)
