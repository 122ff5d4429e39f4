# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The analysis gate of rollouts.istio.prometheus_check, shared by its module and its action plugin.

One argument spec and one ``analyse``: the module runs them as a module (on whatever host the task
runs on), the action plugin runs the same in the controller's worker, where it can show each check
as it is made. Both return the same result and fail with the same messages.
"""

from __future__ import annotations

import os
import time

from ansible_collections.rollouts.istio.plugins.module_utils._core.analysis import build_config, rfc3339
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._edges.prometheus_client import PrometheusError
from ansible_collections.rollouts.istio.plugins.module_utils._flows.analysis_gate import run_analysis
from ansible_collections.rollouts.istio.plugins.module_utils._runner.prometheus_args import (
    PROMETHEUS_MUTUALLY_EXCLUSIVE,
    PROMETHEUS_REQUIRED_TOGETHER,
    client_from_params,
)

MODULE_NAME = "rollouts.istio.prometheus_check"

MODULE_SPEC = dict(
    metrics=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        query=dict(type="str"),
        min=dict(type="float"),
        max=dict(type="float"),
        interval=dict(type="str"),
        min_requests=dict(type="int"),
    )),
    namespace=dict(type="str"),
    workload=dict(type="str"),
    service=dict(type="str"),
    version=dict(type="str"),
    vars=dict(type="dict", default={}),
    interval=dict(type="str", default="1m"),
    iterations=dict(type="int", default=1),
    failed_checks_limit=dict(type="int", default=1),
    failed_checks_so_far=dict(type="int", default=0),
    # no_log=False: the name looks like a password to AnsibleModule, which would warn on every run.
    stop_early_on_pass=dict(type="bool", default=False, no_log=False),
    until_passed=dict(type="bool", default=False),
    initial_delay=dict(type="str", default="0s"),
    no_data=dict(type="str", choices=["fail", "skip", "wait"], default="fail"),
    no_data_timeout=dict(type="str", default="5m"),
    min_requests=dict(type="int", default=0),
    requests_query=dict(type="str"),
    fail_task=dict(type="bool", default=True, aliases=["fail_on_breach"], deprecated_aliases=[
        dict(name="fail_on_breach", version="2.0.0", collection_name="rollouts.istio")]),
)

# What the module's AnsibleModule is built with, besides the spec (prometheus_module adds these too).
MUTUALLY_EXCLUSIVE = list(PROMETHEUS_MUTUALLY_EXCLUSIVE)
REQUIRED_TOGETHER = list(PROMETHEUS_REQUIRED_TOGETHER)

_ANALYSIS_OPTIONS = ("interval", "iterations", "failed_checks_limit", "failed_checks_so_far", "stop_early_on_pass",
                     "until_passed", "no_data", "no_data_timeout", "initial_delay", "min_requests", "requests_query", "vars")


def secret_values(params, environ):
    """What must never be shown: the credentials, the token read from PROMETHEUS_TOKEN included."""
    values = set()
    for value in (params.get("token"), params.get("password"), environ.get("PROMETHEUS_TOKEN")):
        if value:
            values.add(value)
    return values


def analysis_config(params):
    """The analysis' Config from validated parameters (a ParameterError names the option at fault)."""
    return build_config(params["metrics"],
                        variables=dict((k, params[k]) for k in ("namespace", "workload", "service", "version")),
                        **dict((k, params[k]) for k in _ANALYSIS_OPTIONS))


def analyse(params, warn, on_check=None, on_start=None, clock=time.time, sleep=time.sleep):
    """Run the analysis of validated parameters; return the result, or raise a RolloutsError.

    ``warn(text)`` takes each of Prometheus' warnings; ``on_start(config)`` (optional) is called once
    the options are known good, before the first wait or query; ``on_check(records, analysis)`` after
    every measurement (see run_analysis). A verdict other than pass raises when fail_task is set.
    """
    config = analysis_config(params)
    client = client_from_params(params)
    if on_start:
        on_start(config)
    started = clock()
    analysis = run_analysis(config, client.query, clock, sleep, query_errors=(PrometheusError,),
                            warnings=lambda: client.warnings, on_check=on_check)
    result = analysis.result()
    decided = clock()
    result.update(changed=False, queries=client.queries, elapsed=round(decided - started, 3),
                  decided_at=rfc3339(decided))
    for warning in result["prometheus_warnings"]:
        warn("Prometheus: %s" % warning)
    if result["verdict"] != "pass" and params["fail_task"]:
        raise RolloutsError("analysis failed: " + result["reason"], **result)
    return result


def analyse_module(module):
    """The module's action: ``analyse`` with an AnsibleModule's parameters and warnings."""
    module.no_log_values.update(secret_values(module.params, os.environ))
    return analyse(module.params, module.warn)
