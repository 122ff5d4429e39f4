# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The analysis gate as a flow: query through an edge, let the core judge, repeat every interval.

The Prometheus query, the clock and the sleep are passed in, so unit tests drive it with a fake
Prometheus and a fake clock, and the module with the real client.
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.analysis import (
    Analysis,
    AnalysisError,
    check_verdict,
    format_number,
    measure,
)


def run_analysis(config, query, clock, sleep, query_errors=(), warnings=None, on_check=None):
    """Run the analysis: measure every `config.interval` until the verdict is reached.

    `query(promql)` returns an instant query's data and raises one of `query_errors` when
    Prometheus cannot answer; such an error, like an AnalysisError, ends the analysis with the
    verdict "fail" at once. With no_data=wait a check without data is measured again, without
    counting, until `no_data_timeout` after the start; from then on no data fails the check.
    `warnings()` (optional) returns what Prometheus warned about in its last answer; it goes into
    the check records. `on_check(records, analysis)` (optional) is called after every measurement,
    counted or not, and after the error that stops the analysis, with that measurement's records, so
    a caller can show the analysis as it goes; what it returns is ignored. Returns the Analysis.
    """
    analysis = Analysis(config)
    if analysis.done:  # failed_checks_so_far already reaches the limit
        return analysis
    start = clock()
    if config.initial_delay:
        sleep(config.initial_delay)
    deadline = start + config.initial_delay + config.no_data_timeout
    stops = (AnalysisError,) + tuple(query_errors)
    while True:
        now = clock()
        records = []
        try:
            measure(config, analysis.iterations_run + 1, analysis.attempts + 1, query, now, now < deadline, records,
                    warnings)
        except stops as exc:
            message = str(exc)
            if records:
                failing = records[-1]
                message = "%s: %s" % (failing["metric"], message)
                failing.update(verdict="error", reason=message)
                analysis.checks.extend(records)
            analysis.abort(message)
            if on_check:
                on_check(records, analysis)
            return analysis
        analysis.record(records)
        if on_check:
            on_check(records, analysis)
        if analysis.done:
            return analysis
        sleep(config.interval)


def _bounds(record):
    bounds = []
    if record.get("min") is not None:
        bounds.append("min %s" % format_number(record["min"]))
    if record.get("max") is not None:
        bounds.append("max %s" % format_number(record["max"]))
    return ", ".join(bounds)


def _metric_text(record):
    verdict = record.get("verdict")
    if verdict == "error":
        return "%s error" % record["reason"]
    if "no_data" in record:
        return "%s: no data (%s) %s" % (record["metric"], record["no_data"], verdict)
    value = record.get("value")
    if value is None and record.get("raw") is not None:
        shown = record["raw"]
    else:
        shown = format_number(value)
    return "%s = %s (%s) %s" % (record["metric"], shown, _bounds(record), verdict)


def describe_start(config, label=None):
    """The line that opens an analysis: how many checks, how often, and when the first one comes."""
    if config.until_passed:
        text = "until %d checks pass (at most %d), one every %ss" % (
            config.iterations, Analysis(config).max_checks, format_number(config.interval))
    else:
        plural = "" if config.iterations == 1 else "s"
        text = "%d check%s, one every %ss" % (config.iterations, plural, format_number(config.interval))
    text += ", failed_checks_limit %d" % config.failed_checks_limit
    if config.failed_checks_so_far:
        text += " (%d failed so far)" % config.failed_checks_so_far
    text += ": %s" % ", ".join(m.name for m in config.metrics)
    if config.initial_delay:
        text += "; first check in %ss (initial_delay)" % format_number(config.initial_delay)
    return "analysis%s: %s" % (" (%s)" % label if label else "", text)


def describe_check(records, analysis, label=None, hide_values=False):
    """One line of progress for a measurement just made: which check of how many, each metric's value
    against its threshold and verdict, and the analysis' verdict once it is reached.

    For example ``check 2 of 3 (step 1): request-success-rate = 100 (min 99) pass; request-duration = 1.5
    (max 500) pass``. A measurement that waits for data (no_data=wait) names its attempt. With
    ``hide_values`` (a task with no_log) only the verdicts are shown.
    """
    config = analysis.config
    waiting = bool(records) and check_verdict(records) == "wait" and analysis.error is None
    number = analysis.iterations_run + (1 if waiting or analysis.error is not None else 0)
    head = "check %d of %s%d" % (number, "at most " if config.until_passed else "", analysis.max_checks)
    if waiting:
        head += ", attempt %d" % analysis.attempts
    if label:
        head += " (%s)" % label
    if hide_values:
        parts = ["%s %s" % (r["metric"], r.get("verdict")) for r in records]
    else:
        parts = [_metric_text(r) for r in records]
    if analysis.error is not None and not records:
        parts.append("error: %s" % analysis.error)
    line = "%s: %s" % (head, "; ".join(parts))
    if config.until_passed and not waiting and analysis.error is None:
        line += "; %d of the %d passes needed" % (analysis.passed_checks, config.iterations)
    if waiting:
        line += "; waiting for data, again in %ss" % format_number(config.interval)
    elif analysis.done:
        line += " => analysis %s" % analysis.verdict
    else:
        line += "; next check in %ss" % format_number(config.interval)
    return line
