# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The analysis gate: how a set of metric checks becomes a verdict.

Pure: no I/O here. The flow `_flows.analysis_gate.run_analysis` drives the checks through a `query`
callable, a clock and a sleep that the caller passes in, so every decision (rendering, judging, the no-data policy,
counting failed checks, stopping, the verdict and its reason) is tested without a server.

Vocabulary: a *metric* is a named query with thresholds; a *check* is one iteration of the
analysis, in which every metric is measured once and judged; the check fails when any metric
fails. `failed_checks` counts failed checks, as Flagger's `threshold` / the seed's checkFailedTimes;
`failed_checks_so_far` carries the count of earlier steps in, so one limit holds across a whole canary.
With `until_passed` (Flagger's threshold semantics) a failed check below the limit does not use up one of
`iterations`: the analysis goes on until `iterations` checks have passed or the limit is reached.
"""

from __future__ import annotations

import datetime
import math
import re

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError, RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._core.params import check_number

NO_DATA_POLICIES = ("fail", "skip", "wait")

# The selector Istio practice uses for the server side of a workload: reporter="destination" counts
# what the candidate's own proxies saw, so the stable version's traffic is not in the numbers.
_DESTINATION = ('reporter="destination",destination_workload_namespace="${namespace}",'
                'destination_workload=~"${workload}"')


def window_count(selector, metric="istio_requests_total"):
    """PromQL for what each counter series of `selector` counted over the window, one element a series.

    `increase()` needs two samples of a series inside the window, so a series born inside it (the
    first 5xx of a candidate, the first request of a new pod) has no increase until its second scrape:
    Flagger's rate() ratio then leaves those requests out, and a candidate answering a third of its
    requests with a 500 reads 100 % for one scrape interval. A series that did not exist one window
    ago counted all of its value inside the window, so it counts with that value instead."""
    series = "%s{%s}" % (metric, selector)
    return ("(increase(%s[${interval}]) and %s offset ${interval}) or (%s unless %s offset ${interval})"
            % (series, series, series, series))


# As Flagger defines them for Istio (pkg/metrics/observers/istio.go), with ${} placeholders, and two
# changes. The success rate is 0 (not "no series") when there were requests and none succeeded: a
# candidate that answers everything with a 5xx has no non-5xx series, and `or vector(0)` makes that a
# 0 % success rate; no data remains what it should be: no requests at all (an empty denominator). And
# every series counts what it counted over the window, those born inside it included (window_count).
BUILTIN_METRICS = {
    "request-success-rate": {  # percent
        "query": ('100 * (sum(' + window_count(_DESTINATION + ',response_code!~"5.*"') + ') or vector(0))'
                  ' / sum(' + window_count(_DESTINATION) + ')'),
    },
    "request-duration": {  # milliseconds, p99
        "query": ('histogram_quantile(0.99, sum by (le) ('
                  + window_count(_DESTINATION, "istio_request_duration_milliseconds_bucket") + '))'),
    },
}

# How many requests the workload served over the window; gates `min_requests`.
REQUEST_COUNT_QUERY = 'sum(' + window_count(_DESTINATION) + ')'

# Names a query template can use besides the caller's own `vars`.
BUILTIN_VARIABLES = ("namespace", "workload", "service", "version", "interval")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What a value may be outside a string literal: a number, a duration or a name, nothing that changes the query.
_BARE = re.compile(r"^[+-]?[A-Za-z0-9_.:]+(?:[eE][+-]?[0-9]+)?$")
# Prometheus' own duration syntax, so a window renders into a valid range selector as written.
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


class AnalysisError(RolloutsError):
    """A query whose answer cannot be judged (not one number). The gate fails closed on it."""


# ---------------------------------------------------------------- inputs

def parse_duration(text, param="duration"):
    """Seconds in a Prometheus duration such as "30s", "1m30s", "500ms"."""
    text = str(text).strip()
    match = _DURATION.match(text)
    if not text or not match:
        raise ParameterError(param, "%r is not a duration such as 30s, 1m, 1m30s or 500ms" % text)
    return sum(int(n) * unit for n, unit in zip(match.groups(), _DURATION_UNITS) if n)


def _placeholders(template):
    """(start, end, name, quote) of every ${name} in a PromQL template; `quote` is the quote character of
    the string literal the placeholder sits in, or None outside any string."""
    found = []
    quote = None
    i = 0
    while i < len(template):
        char = template[i]
        if template.startswith("${", i):
            end = template.find("}", i + 2)
            if end < 0:
                break
            found.append((i, end + 1, template[i + 2:end], quote))
            i = end + 1
            continue
        if quote and quote != "`" and char == "\\":
            i += 2
            continue
        if quote is None and char in "\"'`":
            quote = char
        elif char == quote:
            quote = None
        i += 1
    return found


def promql_literal(value, quote, name, param):
    """`value` as it may stand in a query at a place inside `quote` (None: outside any string literal).

    Inside a string it is escaped, so a `"` or `\\` in a workload name stays part of the name instead
    of changing the query; outside one only a number, a duration or a name is accepted."""
    if quote == "`":
        if "`" in value:
            raise ParameterError(param, "${%s} is inside a `raw string` and its value %r has a backtick" % (name, value))
        return value
    if quote:
        escaped = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
        return escaped.replace("\n", "\\n").replace("\r", "\\r")
    if not _BARE.match(value):
        raise ParameterError(param, "${%s} stands outside a string literal, so its value %r must be a number, "
                             "a duration or a name; put the placeholder in quotes to use it as a string" % (name, value))
    return value


def render(template, variables, param="query", what="the query"):
    """`template` with every ${name} replaced by its variable, escaped for where it stands; an unknown or
    unset one is an error, never an empty string, so a half-rendered query cannot match everything (or nothing)."""
    missing = []
    parts = []
    last = 0
    for start, end, name, quote in _placeholders(template):
        if not _NAME.match(name):
            raise ParameterError(param, "%s has a placeholder ${%s} that is not a variable name" % (what, name))
        parts.append(template[last:start])
        last = end
        got = variables.get(name)
        if got is None or got == "":
            missing.append(name)
            parts.append(template[start:end])
        else:
            parts.append(promql_literal(str(got), quote, name, param))
    parts.append(template[last:])
    if missing:
        missing = sorted(set(missing))
        hints = ["set the %s option" % n if n in BUILTIN_VARIABLES else "add %s to vars" % n for n in missing]
        raise ParameterError(param, "%s uses %s, which %s not set: %s" % (
            what, ", ".join("${%s}" % n for n in missing), "is" if len(missing) == 1 else "are", ", ".join(hints)))
    return "".join(parts)


class Metric(object):
    """One metric of the gate: a query template and its thresholds (both inclusive).
    `param` is where it came from (``metrics[0]``), for error messages."""

    __slots__ = ("name", "template", "minimum", "maximum", "window", "min_requests", "param")

    def __init__(self, name, template, minimum=None, maximum=None, window="1m", min_requests=0, param="metrics[0]"):
        self.name = name
        self.template = template
        self.minimum = minimum
        self.maximum = maximum
        self.window = window
        self.min_requests = min_requests
        self.param = param


class Config(object):
    """Everything an analysis needs, validated. Build it with `build_config`."""

    __slots__ = ("metrics", "variables", "interval", "iterations", "failed_checks_limit", "failed_checks_so_far",
                 "stop_early_on_pass", "until_passed", "no_data", "no_data_timeout", "initial_delay",
                 "requests_template")

    def __init__(self, **kwargs):
        for name in self.__slots__:
            setattr(self, name, kwargs[name])


def _bound(value, param):
    value = check_number(value, param)
    return None if value is None else float(value)


def build_metric(spec, index, default_window, default_min_requests):
    """A Metric from entry `index` of the `metrics` option (a dict)."""
    where = "metrics[%d]" % index
    name = spec.get("name")
    if not name:
        raise ParameterError(where + ".name", "every metric needs a name")
    builtin = BUILTIN_METRICS.get(name, {})
    template = spec.get("query") or builtin.get("query")
    if not template:
        raise ParameterError(where + ".query", "metric %r is not built in (%s), so it needs a query"
                             % (name, ", ".join(sorted(BUILTIN_METRICS))))
    minimum = _bound(spec.get("min"), where + ".min")
    maximum = _bound(spec.get("max"), where + ".max")
    if minimum is None and maximum is None:
        raise ParameterError(where, "metric %r has neither min nor max, so no value could fail it" % name)
    if minimum is not None and maximum is not None and minimum > maximum:
        raise ParameterError(where + ".min", "metric %r has min %s above max %s, so every value would fail it"
                             % (name, format_number(minimum), format_number(maximum)))
    window = spec.get("interval") or default_window
    if parse_duration(window, where + ".interval") <= 0:
        raise ParameterError(where + ".interval", "the window of metric %r must be longer than 0s" % name)
    min_requests = spec.get("min_requests")
    if min_requests is None:
        min_requests = default_min_requests
    check_number(min_requests, where + ".min_requests", minimum=0, integer=True)
    return Metric(name, template, minimum, maximum, window, min_requests, where)


def build_config(metrics, variables=None, interval="1m", iterations=1, failed_checks_limit=1, no_data="fail",
                 no_data_timeout="5m", initial_delay="0s", min_requests=0, requests_query=None, vars=None,
                 failed_checks_so_far=0, stop_early_on_pass=False, until_passed=False):
    """Validate the options of an analysis; raise ParameterError, naming the option, at the first problem.

    `variables` holds the built-in template variables (namespace, workload, service, version);
    `vars` the caller's own, which may not shadow them. Each metric's window (its `interval`, or the
    analysis interval) is the ${interval} of its query. With `until_passed` the limit may exceed
    `iterations`: failed checks then add checks instead of using them up, so the limit stays reachable.
    """
    if not metrics:
        raise ParameterError("metrics", "is empty: a gate needs at least one metric")
    interval_s = parse_duration(interval, "interval")
    if interval_s <= 0:
        raise ParameterError("interval", "must be longer than 0s")
    check_number(iterations, "iterations", minimum=1, integer=True)
    check_number(failed_checks_limit, "failed_checks_limit", minimum=1, integer=True)
    if until_passed and stop_early_on_pass:
        # until_passed stops on `iterations` passes; stopping on fewer would pass on less evidence than asked for.
        raise ParameterError("stop_early_on_pass", "cannot be combined with until_passed: until_passed passes once "
                             "iterations checks have passed, stop_early_on_pass would pass on fewer")
    if failed_checks_limit > iterations and not until_passed:
        # A limit above the number of checks could never be reached: the gate would always pass.
        raise ParameterError("failed_checks_limit", "must be between 1 and iterations (%d), got %d: a limit the "
                             "checks could never reach would let every analysis pass" % (iterations, failed_checks_limit))
    check_number(failed_checks_so_far, "failed_checks_so_far", minimum=0, integer=True)
    check_number(min_requests, "min_requests", minimum=0, integer=True)
    if no_data not in NO_DATA_POLICIES:
        raise ParameterError("no_data", "must be one of %s, got %r" % (", ".join(NO_DATA_POLICIES), no_data))
    merged = dict((k, v) for k, v in (variables or {}).items() if k in BUILTIN_VARIABLES)
    for name, value in (vars or {}).items():
        if not _NAME.match(str(name)):
            raise ParameterError("vars", "key %r is not a variable name (letters, digits, _)" % (name,))
        if name in BUILTIN_VARIABLES:
            raise ParameterError("vars", "may not set %r: it is a built-in variable, set it with its own option" % name)
        merged[name] = value
    built = []
    for index, spec in enumerate(metrics):
        metric = build_metric(spec, index, interval, min_requests)
        if any(m.name == metric.name for m in built):
            raise ParameterError(metric.param + ".name", "metric %r is listed twice" % metric.name)
        built.append(metric)
    config = Config(metrics=built, variables=merged, interval=interval_s, iterations=iterations,
                    failed_checks_limit=failed_checks_limit, failed_checks_so_far=failed_checks_so_far,
                    stop_early_on_pass=bool(stop_early_on_pass), until_passed=bool(until_passed), no_data=no_data,
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
    return render(metric.template, variables, metric.param + ".query", "the query of metric %r" % metric.name)


def requests_query_for(config, window):
    return render(config.requests_template, dict(config.variables, interval=window), "requests_query")


# ---------------------------------------------------------------- judging one value

def format_number(value):
    """A value as a person reads it: at most three decimals, no trailing zeros."""
    if value is None:
        return "none"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = "%.3f" % value
    return text.rstrip("0").rstrip(".") if "." in text else text


def read_value(data, param=None):
    """(value, raw, why_no_data) from the data of an instant query.

    NaN and an empty result are no data (value None, `why` says which). An infinity is returned as
    the value, with `why` set: it is a breach of the bound it lies beyond (a p99 slower than the
    highest histogram bucket is +Inf), and no data otherwise. More than one series is an error: a gate
    needs one number, never a pick among many: an error about `param` (``metrics[0].query``), when given.
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
                                                            " ..." if len(result) > 3 else ""), param=param)
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
        return value, raw, "query returned %s" % raw
    return value, raw, None


def _labels(labels):
    return "{%s}" % ", ".join('%s="%s"' % kv for kv in sorted(labels.items()))


def judge(value, minimum, maximum):
    """("pass" | "fail", reason) of a value against inclusive bounds."""
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
    """What a metric without data counts as: "fail", "skip", or "wait" (not counted yet).

    Once the wait deadline has passed (`may_wait` false), waiting turns into failing."""
    if policy == "wait":
        return "wait" if may_wait else "fail"
    return policy


# ---------------------------------------------------------------- the analysis

def rfc3339(seconds):
    """An epoch time as RFC 3339 UTC, as check records and verdicts carry it."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _warned(record, warnings):
    """Add what Prometheus warned about with its last answer (a partial answer) to the record."""
    for text in (warnings() if warnings else None) or ():
        got = record.setdefault("prometheus_warnings", [])
        if text not in got:
            got.append(text)


def measure(config, iteration, attempt, query, now, may_wait, records, warnings=None):
    """Measure every metric once, appending one check record per metric to `records`.

    `query(promql)` returns the data of an instant query (Prometheus' `data` object), `warnings()`
    (optional) the warnings of its last answer. A record is appended before its queries run, so when
    one raises, the last record names the metric it was for.
    """
    requests_by_window = {}
    for metric in config.metrics:
        record = {"iteration": iteration, "attempt": attempt, "metric": metric.name,
                  "query": metric_query(config, metric), "value": None,
                  "min": metric.minimum, "max": metric.maximum, "time": rfc3339(now)}
        records.append(record)
        too_few = None
        if metric.min_requests:
            record["requests_query"] = requests_query_for(config, metric.window)
            if metric.window not in requests_by_window:
                requests_by_window[metric.window] = (query(record["requests_query"]), warnings and warnings())
            data, said = requests_by_window[metric.window]
            _warned(record, lambda: said)
            count, raw_count = read_value(data)[:2]
            if raw_count is not None and (count is None or not math.isfinite(count)):
                # NaN or +Inf is not a number of requests: no evidence, whatever the bound.
                record.update(requests=None, requests_raw=raw_count, min_requests=metric.min_requests)
                too_few = "the request count is %s, not a number of requests (min_requests %d)" % (
                    raw_count, metric.min_requests)
            else:
                # No series at all: no request was counted in the window.
                count = count if count is not None else 0.0
                record.update(requests=count, min_requests=metric.min_requests)
                if count < metric.min_requests:
                    too_few = "%s requests < min_requests %d" % (format_number(count), metric.min_requests)
        value, raw, why = read_value(query(record["query"]), param=metric.param + ".query")
        _warned(record, warnings)
        finite = value is not None and math.isfinite(value)
        record["value"] = value if finite else None
        if raw is not None and not finite:
            record["raw"] = raw
        if value is not None and not finite and judge(value, metric.minimum, metric.maximum)[0] == "fail":
            why = None  # an infinity beyond a bound is a breach (value +Inf > max), not missing data
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
    """The verdict of one check from its metrics: one failure fails it; a metric still waiting keeps it
    from counting; a metric without data (skipped) makes it a skipped check, never a pass: a check
    passes only when every metric passed on data."""
    verdicts = set(r["verdict"] for r in records)
    for verdict in ("fail", "wait", "skip"):
        if verdict in verdicts:
            return verdict
    return "pass"


class Analysis(object):
    """The decision state of an analysis: counts, stop rule, verdict and reason.

    Stop rule: the verdict is "fail" as soon as the failed checks (with `failed_checks_so_far`) reach
    failed_checks_limit. Otherwise every one of `iterations` checks runs, as the observation time asked
    for; with `stop_early_on_pass` the analysis passes as soon as the checks left could no longer reach the
    limit. A pass needs evidence: at least one passed check, so an analysis whose checks were all skipped
    for no data fails.

    With `until_passed` (Flagger's threshold) a check that fails below the limit does not use up one of
    `iterations`: the verdict is "pass" once `iterations` checks have passed, "fail" once the failed checks
    reach the limit. Skipped checks would let it run for ever, so it runs at most `max_checks` =
    iterations + (limit - failed_checks_so_far) - 1 checks (the most that can run without reaching the
    limit when every check is passed or failed), and fails as soon as the passes still needed no longer fit.
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
        # Earlier steps may have used up the limit already: nothing this analysis sees can undo that.
        self.limit_reached_before = config.failed_checks_so_far >= config.failed_checks_limit
        if self.limit_reached_before:
            self.verdict = "fail"

    @property
    def done(self):
        return self.verdict is not None

    @property
    def passed_checks(self):
        return self.iterations_run - self.failed_checks - self.skipped_checks

    @property
    def failed_checks_total(self):
        return self.config.failed_checks_so_far + self.failed_checks

    @property
    def max_checks(self):
        """The most checks this analysis runs."""
        config = self.config
        if not config.until_passed:
            return config.iterations
        return max(config.iterations, config.iterations + config.failed_checks_limit - config.failed_checks_so_far - 1)

    @property
    def passes_out_of_reach(self):
        """until_passed: the checks left cannot make up the passed checks still needed."""
        return (self.config.until_passed and self.passed_checks < self.config.iterations
                and self.max_checks - self.iterations_run < self.config.iterations - self.passed_checks)

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
        if self.failed_checks_total >= self.config.failed_checks_limit:
            self.verdict = "fail"
        elif self.config.until_passed:
            if self.passed_checks >= self.config.iterations:
                self.verdict = "pass"
            elif self.passes_out_of_reach:
                self.verdict = "fail"
        elif not left:
            self.verdict = "pass" if self.passed_checks else "fail"
        elif (self.config.stop_early_on_pass and self.passed_checks
              and self.failed_checks_total + left < self.config.failed_checks_limit):
            self.verdict = "pass"
        return verdict

    def abort(self, message):
        """Stop on an error: the gate fails closed."""
        self.error = message
        self.verdict = "fail"

    @property
    def stopped_early(self):
        if not self.done or self.error is not None or self.limit_reached_before:
            return False
        if self.config.until_passed:
            # Its natural end is the last pass needed; only a failure ends it before max_checks.
            return self.verdict == "fail" and self.iterations_run < self.max_checks
        return self.iterations_run < self.config.iterations

    def _cap_text(self):
        config = self.config
        text = "iterations %d + failed_checks_limit %d - 1" % (config.iterations, config.failed_checks_limit)
        if config.failed_checks_so_far:
            text += " - failed_checks_so_far %d" % config.failed_checks_so_far
        return text

    def _too_few_passes_text(self):
        needed = self.config.iterations
        text = "only %d of the %d passed checks needed after %d checks" % (self.passed_checks, needed,
                                                                           self.iterations_run)
        if self.iterations_run >= self.max_checks:
            return text + ", the most until_passed runs (%s)" % self._cap_text()
        left = self.max_checks - self.iterations_run
        return text + ", and the %d check%s left of at most %d (%s) cannot make up the rest" % (
            left, "" if left == 1 else "s", self.max_checks, self._cap_text())

    def _limit_text(self):
        text = "failed_checks_limit %d reached" % self.config.failed_checks_limit
        if self.config.failed_checks_so_far:
            text += " with %d failed in earlier steps" % self.config.failed_checks_so_far
        return text

    def reasons(self):
        """One line per failing or skipped metric (or the error), naming its value and threshold."""
        if self.limit_reached_before:
            return ["failed_checks_so_far %d already reaches failed_checks_limit %d: no check was run"
                    % (self.config.failed_checks_so_far, self.config.failed_checks_limit)]
        if self.error:
            return [self.error]
        counted = [r for r in self.checks if r["verdict"] != "wait"]
        parts = []
        for metric in self.config.metrics:
            mine = [r for r in counted if r["metric"] == metric.name]
            # Failing values, missing data and skipped metrics are told apart: they call for different fixes.
            for group in ([r for r in mine if r["verdict"] == "fail" and "no_data" not in r],
                          [r for r in mine if r["verdict"] == "fail" and "no_data" in r],
                          [r for r in mine if r["verdict"] == "skip"]):
                if group:
                    parts.append("%s in %d of %d checks" % (group[-1]["reason"], len(group), self.iterations_run))
        return parts

    def reason(self):
        """One line: why the verdict is what it is, naming metrics, values and thresholds."""
        if self.limit_reached_before:
            return self.reasons()[0]
        if self.error:
            return "analysis stopped after %d of %d checks: %s" % (
                self.iterations_run, self.config.iterations, self.error)
        parts = "; ".join(self.reasons())
        if self.verdict == "fail" and self.failed_checks_total >= self.config.failed_checks_limit:
            return "%s (%s)" % (parts, self._limit_text())
        if self.verdict == "fail" and self.config.until_passed:
            return "%s: %s" % (self._too_few_passes_text(), parts)
        if self.verdict == "fail":
            return "no check passed, so nothing shows the candidate healthy: %s" % parts
        text = "%d of %d checks passed" % (self.passed_checks, self.iterations_run)
        if self.config.until_passed:
            text += " (%d needed, until_passed)" % self.config.iterations
        if self.failed_checks:
            text += ", %d failed (below failed_checks_limit %d" % (self.failed_checks, self.config.failed_checks_limit)
            if self.config.failed_checks_so_far:
                text += ", %d failed in all" % self.failed_checks_total
            text += ")"
        if self.skipped_checks:
            text += ", %d skipped for no data (no_data=skip)" % self.skipped_checks
        if self.stopped_early:
            text += "; stopped after %d of %d iterations: the rest could not reach failed_checks_limit %d" % (
                self.iterations_run, self.config.iterations, self.config.failed_checks_limit)
        if parts:
            text += "; " + parts
        latest = {}
        for r in self.checks:
            if r["verdict"] == "pass":
                latest[r["metric"]] = r["reason"]
        if latest:
            text += "; last: " + ", ".join(latest[m.name] for m in self.config.metrics if m.name in latest)
        return text

    def result(self):
        """The decision record returned to the user."""
        warnings = []
        for record in self.checks:
            warnings.extend(w for w in record.get("prometheus_warnings", ()) if w not in warnings)
        out = {
            "verdict": self.verdict,
            "reason": self.reason(),
            "reasons": self.reasons(),
            "checks": self.checks,
            "failed_checks": self.failed_checks,
            "failed_checks_so_far": self.config.failed_checks_so_far,
            "failed_checks_total": self.failed_checks_total,
            "passed_checks": self.passed_checks,
            "skipped_checks": self.skipped_checks,
            "iterations_run": self.iterations_run,
            "iterations": self.config.iterations,
            "until_passed": self.config.until_passed,
            "max_checks": self.max_checks,
            "failed_checks_limit": self.config.failed_checks_limit,
            "stopped_early": self.stopped_early,
            "prometheus_warnings": warnings,
        }
        if self.error:
            out["error"] = self.error
        return out
