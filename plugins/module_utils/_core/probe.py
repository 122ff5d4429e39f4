# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What traffic_probe decides: its options, the verdict on what it measured, and the message. Pure.

The verdict has two parts, and both must hold for a pass:

* the split: the counts of the responses that named their version, tested against the expected
  weights (``split_stats.compare_split``), with at least ``requests_needed`` of them, the number at
  which the test would notice the smallest expected share getting nothing;
* the errors: requests that failed (no response, or a status outside 200-399) or whose response
  named no version are evidence against the split, not noise to leave out (a candidate whose pods
  are all down answers 503 from the proxy, without its version). Their share of all requests must
  not exceed ``max_error_pct`` (default 0: any one fails the verdict).
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.params import check_number
from ansible_collections.rollouts.istio.plugins.module_utils._core.split import check_weight_map
from ansible_collections.rollouts.istio.plugins.module_utils._core.split_stats import (
    TESTS, compare_split, describe, requests_needed, smallest_share)

DEFAULT_VERSION_HEADER = "X-Version"
NOT_COMPARED = "not compared"


class ProbeOptions(object):
    """The probe's checked options (the module's params are left as they are)."""

    def __init__(self, params):
        p = params
        self.url = p["url"]
        self.host = p.get("host")
        self.path = p.get("path")
        self.method = p.get("method") or "GET"
        self.headers = dict(p.get("headers") or {})
        self.body = p.get("body")
        self.validate_certs = p.get("validate_certs", True)
        self.version_header = p.get("version_header") or DEFAULT_VERSION_HEADER
        self.version_regex = p.get("version_regex")
        self.requests = check_number(p.get("requests", 100), "requests", minimum=1, integer=True)
        self.concurrency = check_number(p.get("concurrency", 4), "concurrency", minimum=1, integer=True)
        self.timeout = check_number(p.get("timeout", 10.0), "timeout", above=0)
        self.test = p.get("test") or "chi_square"
        if self.test not in TESTS:
            raise ParameterError("test", "must be one of %s, got %r" % (", ".join(TESTS), self.test))
        self.confidence = check_number(p.get("confidence", 0.99), "confidence", above=0, below=1)
        self.tolerance_pp = check_number(p.get("tolerance_pp", 5.0), "tolerance_pp", minimum=0, maximum=100)
        self.max_error_pct = check_number(p.get("max_error_pct", 0.0), "max_error_pct", minimum=0, maximum=100)
        self.fail_task = p.get("fail_task", True)
        self.expected = None
        if p.get("expected_weights") is not None:
            self.expected = check_weight_map(p["expected_weights"], "expected_weights")
            if requests_needed(self.expected, self.test, self.confidence, self.tolerance_pp) is None:
                version, weight = smallest_share(self.expected)
                raise ParameterError("tolerance_pp", "must be below the smallest expected share, %s's %g%%, or a "
                                     "version that gets nothing passes test=absolute; got %g"
                                     % (version, weight, self.tolerance_pp))


def check_options(params):
    """ProbeOptions for the module's params, or a ParameterError naming the option at fault."""
    return ProbeOptions(params)


def error_reason(summary, max_error_pct):
    """The reason the errors fail the verdict, or None: their share of the requests is above the limit."""
    bad = summary["failed_or_unidentified"]
    if not summary["requests"]:
        return None
    pct = 100.0 * bad / summary["requests"]
    if pct <= max_error_pct:
        return None
    kinds = ["%s x%d" % kv for kv in sorted(summary["errors"]["by_status"].items())]
    kinds += ["%s x%d" % kv for kv in sorted(summary["errors"]["by_exception"].items())]
    unnamed = summary["failed_or_unidentified"] - summary["errors"]["count"]
    if unnamed:
        kinds.append("no version x%d" % unnamed)
    return ("errors: %d of %d requests (%.2f%%) failed or named no version (%s), more than max_error_pct %g"
            % (bad, summary["requests"], pct, ", ".join(kinds), max_error_pct))


def judge(summary, options):
    """The module's result for a probe's summary: the summary plus verdict, reason, reasons, msg and,
    with expected weights, comparison and requests_needed."""
    result = dict(summary, changed=False)
    observed = describe(summary["counts"], options.expected)
    if not summary["responses"]:
        exceptions = ", ".join("%s x%d" % kv for kv in sorted(summary["errors"]["by_exception"].items()))
        reason = "no response to any of %d requests to %s: %s" % (summary["requests"], options.url, exceptions)
        result.update(verdict="fail", reason=reason, reasons=[reason], msg=reason)
        if options.expected is not None:
            result["comparison"] = compare_split(summary["counts"], options.expected, options.test,
                                                 options.confidence, options.tolerance_pp)
            result["requests_needed"] = result["comparison"]["requests_needed"]
        return result
    if options.expected is None:
        msg = "split %s over %d requests, %d errors" % (observed, summary["requests"], summary["errors"]["count"])
        result.update(verdict=NOT_COMPARED, reason="no expected_weights given: measured only", reasons=[], msg=msg)
        return result
    comparison = compare_split(summary["counts"], options.expected, options.test, options.confidence,
                               options.tolerance_pp)
    errors = error_reason(summary, options.max_error_pct)
    comparison["max_error_pct"] = options.max_error_pct
    comparison["failed_or_unidentified"] = summary["failed_or_unidentified"]
    if errors:
        comparison["reasons"].append(errors)
        comparison["verdict"] = "fail"
    reasons = list(comparison["reasons"])
    verdict = comparison["verdict"]
    result.update(comparison=comparison, requests_needed=comparison["requests_needed"], verdict=verdict,
                  reasons=reasons)
    if verdict == "pass":
        result["reason"] = _passed_because(comparison, options)
        result["msg"] = "split %s matches: %s" % (observed, result["reason"])
    else:
        result["reason"] = "; ".join(reasons)
        result["msg"] = "split %s %s: %s" % (
            observed, "does not match" if verdict == "fail" else "is inconclusive", result["reason"])
    return result


def _passed_because(comparison, options):
    if comparison["test"] == "chi_square":
        how = "chi-square p=%.3g >= %.3g" % (comparison["p_value"], comparison["alpha"])
    elif comparison["test"] == "wilson":
        how = "every expected weight inside its Wilson interval at %g confidence" % comparison["per_version_confidence"]
    else:
        how = "every version within %g percentage points" % comparison["tolerance_pp"]
    return "%s, %d identified responses (%d needed), %d failed or named no version (max_error_pct %g)" % (
        how, comparison["samples"], comparison["requests_needed"], comparison["failed_or_unidentified"],
        options.max_error_pct)


def task_failure(result, options):
    """The message the task fails with, or None: no response at all always fails; a verdict other
    than pass fails unless fail_task is false."""
    if not result["responses"]:
        return result["msg"]
    if result["verdict"] in ("fail", "inconclusive") and options.fail_task:
        return result["msg"]
    return None
