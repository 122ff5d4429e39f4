# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The analysis gate as a flow: query through an edge, let the core judge, repeat every interval.

The Prometheus query, the clock and the sleep are passed in, so unit tests drive it with a fake
Prometheus and a fake clock, and the module with the real client.
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.analysis import Analysis, AnalysisError, measure


def run_analysis(config, query, clock, sleep, query_errors=(), warnings=None):
    """Run the analysis: measure every `config.interval` until the verdict is reached.

    `query(promql)` returns an instant query's data and raises one of `query_errors` when
    Prometheus cannot answer; such an error, like an AnalysisError, ends the analysis with the
    verdict "fail" at once. With no_data=wait a check without data is measured again, without
    counting, until `no_data_timeout` after the start; from then on no data fails the check.
    `warnings()` (optional) returns what Prometheus warned about in its last answer; it goes into
    the check records. Returns the Analysis.
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
            return analysis
        analysis.record(records)
        if analysis.done:
            return analysis
        sleep(config.interval)
