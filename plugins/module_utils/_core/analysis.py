# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The analysis gate: how a set of metric checks becomes a verdict.

Pure: no I/O here. The flow `_flows.analysis_gate.run_analysis` drives the checks through a `query`
callable, a clock and a sleep that the caller passes in, so every decision (rendering, judging, the no-data policy,
counting failed checks, stopping early, the verdict and its reason) is tested without a server.

Vocabulary: a *metric* is a named query with thresholds; a *check* is one iteration of the
analysis, in which every metric is measured once and judged; the check fails when any metric
fails. `failed_checks` counts failed checks, as Flagger's `threshold` / the seed's checkFailedTimes.
"""

from __future__ import annotations

import datetime
import math
import re

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError

NO_DATA_POLICIES = ("fail", "skip", "wait")

# The selector Istio practice uses for the server side of a workload: reporter="destination" counts
# what the candidate's own proxies saw, so the stable version's traffic is not in the numbers.
_DESTINATION = ('reporter="destination",destination_workload_namespace="${namespace}",'
                'destination_workload=~"${workload}"')

# As Flagger defines them for Istio (pkg/metrics/observers/istio.go), with ${} placeholders.
BUILTIN_METRICS = {
    "request-success-rate": {  # percent
        "query": ('100 * sum(rate(istio_requests_total{' + _DESTINATION + ',response_code!~"5.*"}[${interval}]))'
                  ' / sum(rate(istio_requests_total{' + _DESTINATION + '}[${interval}]))'),
    },
    "request-duration": {  # milliseconds, p99
        "query": ('histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{'
                  + _DESTINATION + '}[${interval}])) by (le))'),
    },
}

# How many requests the workload served over the window; gates `min_requests`.
REQUEST_COUNT_QUERY = 'sum(increase(istio_requests_total{' + _DESTINATION + '}[${interval}]))'

# Names a query template can use besides the caller's own `vars`.
BUILTIN_VARIABLES = ("namespace", "workload", "service", "version", "interval")

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Prometheus' own duration syntax, so a window renders into a valid range selector as written.
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


class AnalysisError(RolloutsError):
    """A gate that cannot be judged as configured: a bad option, a template variable that is not
    set, or a query whose answer is not one number. The gate fails closed on it."""


# ---------------------------------------------------------------- inputs

def parse_duration(text, what="duration"):
    """Seconds in a Prometheus duration such as "30s", "1m30s", "500ms"."""
    text = str(text).strip()
    match = _DURATION.match(text)
    if not text or not match:
        raise AnalysisError("%s %r is not a duration such as 30s, 1m, 1m30s or 500ms" % (what, text))
    return sum(int(n) * unit for n, unit in zip(match.groups(), _DURATION_UNITS) if n)


def render(template, variables, what="query"):
    """`template` with every ${name} replaced by its variable; an unknown or unset one is an error,
    never an empty string, so a half-rendered query cannot match everything (or nothing)."""
    missing = []

    def value(match):
        name = match.group(1)
        if not _NAME.match(name):
            raise AnalysisError("%s has a placeholder ${%s} that is not a variable name" % (what, name))
        got = variables.get(name)
        if got is None or got == "":
            missing.append(name)
            return match.group(0)
        return str(got)

    rendered = _PLACEHOLDER.sub(value, template)
    if missing:
        missing = sorted(set(missing))
        hints = ["set the %s option" % n if n in BUILTIN_VARIABLES else "add %s to vars" % n for n in missing]
        raise AnalysisError("%s uses %s, which %s not set: %s" % (
            what, ", ".join("${%s}" % n for n in missing), "is" if len(missing) == 1 else "are", ", ".join(hints)))
    return rendered


class Metric(object):
    """One metric of the gate: a query template and its thresholds (both inclusive)."""

    __slots__ = ("name", "template", "minimum", "maximum", "window", "min_requests")

    def __init__(self, name, template, minimum=None, maximum=None, window="1m", min_requests=0):
        self.name = name
        self.template = template
        self.minimum = minimum
        self.maximum = maximum
        self.window = window
        self.min_requests = min_requests


class Config(object):
    """Everything an analysis needs, validated. Build it with `build_config`."""

    __slots__ = ("metrics", "variables", "interval", "iterations", "failed_checks_limit", "no_data",
                 "no_data_timeout", "initial_delay", "requests_template")

    def __init__(self, **kwargs):
        for name in self.__slots__:
            setattr(self, name, kwargs[name])


def _number(value, what):
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnalysisError("%s must be a number, got %r" % (what, value))
    if math.isnan(number) or math.isinf(number):
        raise AnalysisError("%s must be a finite number, got %r" % (what, value))
    return number


def build_metric(spec, default_window, default_min_requests):
    """A Metric from one entry of the `metrics` option (a dict)."""
    name = spec.get("name")
    if not name:
        raise AnalysisError("every metric needs a name")
    builtin = BUILTIN_METRICS.get(name, {})
    template = spec.get("query") or builtin.get("query")
    if not template:
        raise AnalysisError("metric %r is not built in (%s), so it needs a query"
                            % (name, ", ".join(sorted(BUILTIN_METRICS))))
    minimum = _number(spec.get("min"), "min of metric %r" % name)
    maximum = _number(spec.get("max"), "max of metric %r" % name)
    if minimum is None and maximum is None:
        raise AnalysisError("metric %r has neither min nor max, so no value could fail it" % name)
    if minimum is not None and maximum is not None and minimum > maximum:
        raise AnalysisError("metric %r has min %s above max %s, so every value would fail it"
                            % (name, format_number(minimum), format_number(maximum)))
    window = spec.get("interval") or default_window
    if parse_duration(window, "interval of metric %r" % name) <= 0:
        raise AnalysisError("interval of metric %r must be longer than 0s" % name)
    min_requests = spec.get("min_requests")
    if min_requests is None:
        min_requests = default_min_requests
    if int(min_requests) < 0:
        raise AnalysisError("min_requests of metric %r must be 0 or more" % name)
    return Metric(name, template, minimum, maximum, window, int(min_requests))


def build_config(metrics, variables=None, interval="1m", iterations=1, failed_checks_limit=1, no_data="fail",
                 no_data_timeout="5m", initial_delay="0s", min_requests=0, requests_query=None, vars=None):
    """Validate the options of an analysis; raise AnalysisError with the first problem found.

    `variables` holds the built-in template variables (namespace, workload, service, version);
    `vars` the caller's own, which may not shadow them. Each metric's window (its `interval`, or the
    analysis interval) is the ${interval} of its query.
    """
    if not metrics:
        raise AnalysisError("metrics is empty: a gate needs at least one metric")
    interval_s = parse_duration(interval, "interval")
    iterations = int(iterations)
    failed_checks_limit = int(failed_checks_limit)
    if iterations < 1:
        raise AnalysisError("iterations must be 1 or more, got %d" % iterations)
    if not 1 <= failed_checks_limit <= iterations:
        # A limit above the number of checks could never be reached: the gate would always pass.
        raise AnalysisError("failed_checks_limit must be between 1 and iterations (%d), got %d"
                            % (iterations, failed_checks_limit))
    if no_data not in NO_DATA_POLICIES:
        raise AnalysisError("no_data must be one of %s, got %r" % (", ".join(NO_DATA_POLICIES), no_data))
    merged = dict((k, v) for k, v in (variables or {}).items() if k in BUILTIN_VARIABLES)
    for name, value in (vars or {}).items():
        if not _NAME.match(str(name)):
            raise AnalysisError("vars key %r is not a variable name (letters, digits, _)" % (name,))
        if name in BUILTIN_VARIABLES:
            raise AnalysisError("vars may not set %r: it is a built-in variable, set it with its own option" % name)
        merged[name] = value
    built = []
    for spec in metrics:
        metric = build_metric(spec, interval, min_requests)
        if any(m.name == metric.name for m in built):
            raise AnalysisError("metric %r is listed twice" % metric.name)
        built.append(metric)
    config = Config(metrics=built, variables=merged, interval=interval_s, iterations=iterations,
                    failed_checks_limit=failed_checks_limit, no_data=no_data,
                    no_data_timeout=parse_duration(no_data_timeout, "no_data_timeout"),
                    initial_delay=parse_duration(initial_delay, "initial_delay"),
                    requests_template=requests_query or REQUEST_COUNT_QUERY)
    # Render once up front: a missing variable is a configuration error, found before any query.
    for metric in built:
        metric_query(config, metric)
        if metric.min_requests:
            requests_query_for(config, metric.window)
    return config


def metric_query(config, metric):
    variables = dict(config.variables, interval=metric.window)
    return render(metric.template, variables, "query of metric %r" % metric.name)


def requests_query_for(config, window):
    return render(config.requests_template, dict(config.variables, interval=window), "requests_query")


# ---------------------------------------------------------------- judging one value

def format_number(value):
    """A value as a person reads it: at most three decimals, no trailing zeros."""
    if value is None:
        return "none"
    text = "%.3f" % value
    return text.rstrip("0").rstrip(".") if "." in text else text


def read_value(data):
    """(value, raw, why_no_data) from the data of an instant query.

    A value is a finite float; NaN, +Inf, -Inf and an empty result are no data (value None, `why`
    says which). More than one series is an error: a gate needs one number, never a pick among many.
    """
    if not isinstance(data, dict):
        raise AnalysisError("the query's answer has no data")
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        sample = result
    elif kind == "vector":
        if not result:
            return None, None, "query returned no series"
        if len(result) > 1:
            labels = [s.get("metric", {}) for s in result[:3]]
            raise AnalysisError("query returned %d series (%s%s), not one value: aggregate it, "
                                "for example with sum()" % (len(result), "; ".join(_labels(lab) for lab in labels),
                                                            " ..." if len(result) > 3 else ""))
        sample = result[0].get("value")
    else:
        raise AnalysisError("query returned a %s, not an instant vector or scalar" % kind)
    try:
        raw = str(sample[1])
        value = float(raw)
    except (TypeError, ValueError, IndexError):
        raise AnalysisError("query returned a sample that is not a number: %r" % (sample,))
    if math.isnan(value):
        return None, raw, "query returned NaN"
    if math.isinf(value):
        return None, raw, "query returned %s" % raw
    return value, raw, None


def _labels(labels):
    return "{%s}" % ", ".join('%s="%s"' % kv for kv in sorted(labels.items()))


def judge(value, minimum, maximum):
    """("pass" | "fail", reason) of a finite value against inclusive bounds."""
    if minimum is not None and value < minimum:
        return "fail", "%s < min %s" % (format_number(value), format_number(minimum))
    if maximum is not None and value > maximum:
        return "fail", "%s > max %s" % (format_number(value), format_number(maximum))
    bounds = []
    if minimum is not None:
        bounds.append("min %s" % format_number(minimum))
    if maximum is not None:
        bounds.append("max %s" % format_number(maximum))
    return "pass", "%s within %s" % (format_number(value), " and ".join(bounds))


def no_data_verdict(policy, may_wait):
    """What a check without data counts as: "fail", "skip", or "wait" (not counted yet).

    Once the wait deadline has passed (`may_wait` false), waiting turns into failing."""
    if policy == "wait":
        return "wait" if may_wait else "fail"
    return policy


# ---------------------------------------------------------------- the analysis

def _timestamp(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def measure(config, iteration, attempt, query, now, may_wait, records):
    """Measure every metric once, appending one check record per metric to `records`.

    `query(promql)` returns the data of an instant query (Prometheus' `data` object). A record is
    appended before its queries run, so when one raises, the last record names the metric it was for.
    """
    requests_by_window = {}
    for metric in config.metrics:
        record = {"iteration": iteration, "attempt": attempt, "metric": metric.name,
                  "query": metric_query(config, metric), "value": None,
                  "min": metric.minimum, "max": metric.maximum, "time": _timestamp(now)}
        records.append(record)
        too_few = None
        if metric.min_requests:
            record["requests_query"] = requests_query_for(config, metric.window)
            if metric.window not in requests_by_window:
                requests_by_window[metric.window] = query(record["requests_query"])
            count = read_value(requests_by_window[metric.window])[0] or 0.0
            record.update(requests=count, min_requests=metric.min_requests)
            if count < metric.min_requests:
                too_few = "%s requests < min_requests %d" % (format_number(count), metric.min_requests)
        value, raw, why = read_value(query(record["query"]))
        record["value"] = value
        if raw is not None and value is None:
            record["raw"] = raw
        if why or too_few:
            verdict = no_data_verdict(config.no_data, may_wait)
            record["verdict"] = verdict
            record["no_data"] = too_few or why
            record["reason"] = "%s: no data (%s)%s" % (metric.name, too_few or why, {
                "fail": "", "skip": ", skipped (no_data=skip)", "wait": ", waiting for data (no_data=wait)"}[verdict])
        else:
            record["verdict"], detail = judge(value, metric.minimum, metric.maximum)
            record["reason"] = "%s = %s" % (metric.name, detail)
    return records


def check_verdict(records):
    """The verdict of one check from its metrics: one failure fails it; a metric still waiting
    keeps it from counting; all skipped skips it; otherwise it passes."""
    verdicts = set(r["verdict"] for r in records)
    for verdict in ("fail", "wait"):
        if verdict in verdicts:
            return verdict
    if verdicts == {"skip"}:
        return "skip"
    return "pass"


class Analysis(object):
    """The decision state of an analysis: counts, stop rule, verdict and reason.

    Stop rule: the verdict is "fail" once failed checks reach failed_checks_limit, and "pass" once
    the checks left can no longer reach it. The analysis stops as soon as either holds, which is
    at the latest after `iterations` checks.
    """

    def __init__(self, config):
        self.config = config
        self.checks = []
        self.iterations_run = 0
        self.attempts = 0
        self.failed_checks = 0
        self.skipped_checks = 0
        self.error = None
        self.verdict = None

    @property
    def done(self):
        return self.verdict is not None

    def record(self, records):
        """Take the records of one attempt; return the check's verdict."""
        self.attempts += 1
        self.checks.extend(records)
        verdict = check_verdict(records)
        if verdict == "wait":
            return verdict
        self.iterations_run += 1
        if verdict == "fail":
            self.failed_checks += 1
        elif verdict == "skip":
            self.skipped_checks += 1
        left = self.config.iterations - self.iterations_run
        if self.failed_checks >= self.config.failed_checks_limit:
            self.verdict = "fail"
        elif self.failed_checks + left < self.config.failed_checks_limit:
            self.verdict = "pass"
        return verdict

    def abort(self, message):
        """Stop on an error: the gate fails closed."""
        self.error = message
        self.verdict = "fail"

    @property
    def stopped_early(self):
        return self.done and self.error is None and self.iterations_run < self.config.iterations

    def reason(self):
        """One line: why the verdict is what it is, naming metrics, values and thresholds."""
        if self.error:
            return "analysis stopped after %d of %d checks: %s" % (
                self.iterations_run, self.config.iterations, self.error)
        counted = [r for r in self.checks if r["verdict"] != "wait"]
        if self.verdict == "fail":
            parts = []
            for metric in self.config.metrics:
                failed = [r for r in counted if r["metric"] == metric.name and r["verdict"] == "fail"]
                # Failing values and missing data are told apart: they call for different fixes.
                for group in ([r for r in failed if "no_data" not in r], [r for r in failed if "no_data" in r]):
                    if group:
                        parts.append("%s in %d of %d checks" % (group[-1]["reason"], len(group), self.iterations_run))
            return "%s (failed_checks_limit %d reached)" % ("; ".join(parts), self.config.failed_checks_limit)
        text = "%d of %d checks passed" % (self.iterations_run - self.failed_checks - self.skipped_checks,
                                           self.iterations_run)
        if self.failed_checks:
            text += ", %d failed (below failed_checks_limit %d)" % (self.failed_checks, self.config.failed_checks_limit)
        if self.skipped_checks:
            text += ", %d skipped for no data (no_data=skip)" % self.skipped_checks
        if self.stopped_early:
            text += "; stopped after %d of %d iterations: the rest could not reach failed_checks_limit %d" % (
                self.iterations_run, self.config.iterations, self.config.failed_checks_limit)
        latest = {}
        for r in counted:
            if r["verdict"] == "pass":
                latest[r["metric"]] = r["reason"]
        if latest:
            text += "; last: " + ", ".join(latest[m.name] for m in self.config.metrics if m.name in latest)
        return text

    def result(self):
        """The decision record returned to the user."""
        out = {
            "verdict": self.verdict,
            "reason": self.reason(),
            "checks": self.checks,
            "failed_checks": self.failed_checks,
            "skipped_checks": self.skipped_checks,
            "iterations_run": self.iterations_run,
            "iterations": self.config.iterations,
            "failed_checks_limit": self.config.failed_checks_limit,
            "stopped_early": self.stopped_early,
        }
        if self.error:
            out["error"] = self.error
        return out
