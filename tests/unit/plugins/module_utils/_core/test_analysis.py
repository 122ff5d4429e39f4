"""The analysis core: rendering, judging, the no-data policy, counting, early stop, verdict, record."""

import itertools
import math
import re

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import analysis as A
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._flows.analysis_gate import run_analysis

VARS = {"namespace": "shop", "workload": "podinfo-v2", "service": "podinfo", "version": "v2"}
SUCCESS = {"name": "request-success-rate", "min": 99}
DURATION = {"name": "request-duration", "max": 500}


def config(metrics=(SUCCESS, DURATION), **kwargs):
    kwargs.setdefault("variables", VARS)
    kwargs.setdefault("interval", "10s")
    return A.build_config(list(metrics), **kwargs)


def vector(*values):
    return {"resultType": "vector",
            "result": [{"metric": {"i": str(i)}, "value": [1700000000.0, str(v)]} for i, v in enumerate(values)]}


EMPTY = {"resultType": "vector", "result": []}


class FakeQuery(object):
    """Answers the built-in queries from per-metric scripts: a list of answers (the last repeats) or
    a callable. An answer is a number, "NaN"/"+Inf", EMPTY, a data dict, or an exception to raise."""

    def __init__(self, success=100, duration=100, requests=1000, custom=None):
        self.scripts = {"success": success, "duration": duration, "requests": requests, "custom": custom}
        self.calls = []

    @staticmethod
    def kind(promql):
        if promql.startswith(("sum((increase(", "sum(increase(")):  # built in, or a requests_query of a test
            return "requests"
        if "istio_request_duration_milliseconds_bucket" in promql:
            return "duration"
        if "istio_requests_total" in promql:
            return "success"
        return "custom"

    def __call__(self, promql):
        kind = self.kind(promql)
        n = sum(1 for call in self.calls if call[0] == kind)
        self.calls.append((kind, promql))
        script = self.scripts[kind]
        if callable(script):
            answer = script(n)
        elif isinstance(script, list):
            answer = script[min(n, len(script) - 1)]
        else:
            answer = script
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, dict):
            return answer
        return vector(answer)


class FakeTime(object):
    def __init__(self, start=1700000000.0):
        self.now = start
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class QueryFailed(Exception):
    pass


def run(cfg, prom, clock=None):
    clock = clock or FakeTime()
    return run_analysis(cfg, prom, clock.clock, clock.sleep, query_errors=(QueryFailed,))


# ---------------------------------------------------------------- durations and rendering

@pytest.mark.parametrize("text,seconds", [
    ("30s", 30), ("1m", 60), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("1d", 86400), ("1w", 604800),
    ("0s", 0), ("1h1m1s", 3661),
])
def test_parse_duration(text, seconds):
    assert A.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["30", "", "1.5m", "-1s", "1s1m", "5 minutes", "m", "1M"])
def test_parse_duration_rejects_what_prometheus_would(text):
    with pytest.raises(ParameterError, match="^interval: .* is not a duration") as err:
        A.parse_duration(text, "interval")
    assert err.value.param == "interval"


def test_render_replaces_every_placeholder():
    assert A.render('x{ns="${namespace}",w=~"${workload}"}[${interval}]',
                    dict(VARS, interval="1m")) == 'x{ns="shop",w=~"podinfo-v2"}[1m]'


def test_render_leaves_regex_anchors_and_plain_dollars_alone():
    assert A.render('x{version=~"v2$",a="$b"}', {}) == 'x{version=~"v2$",a="$b"}'


def test_render_refuses_an_unset_variable_and_says_which():
    with pytest.raises(ParameterError) as err:
        A.render('x{ns="${namespace}",w="${workload}",v="${version}",t="${team}"}', {"namespace": "shop", "version": ""})
    assert str(err.value) == ("query: the query uses ${team}, ${version}, ${workload}, which are not set: add team to "
                              "vars, set the version option, set the workload option")


def test_render_refuses_a_placeholder_that_is_no_name():
    with pytest.raises(ParameterError, match=r"\$\{1x\} that is not a variable name"):
        A.render("x[${1x}]", {"1x": "5m"})


def _flagger(query):
    """Flagger's Istio queries (pkg/metrics/observers/istio.go), whitespace removed, rendered."""
    return re.sub(r"\s+", "", query)


def test_builtin_queries_are_flaggers_for_istio_counting_series_born_in_the_window():
    cfg = config(interval="30s")
    success, duration = [A.metric_query(cfg, m) for m in cfg.metrics]
    sel = 'reporter="destination",destination_workload_namespace="shop",destination_workload=~"podinfo-v2"'

    def counted(series):
        # What each series counted over the window: increase() where the series is older than the window,
        # its whole value where it is not (rate() has nothing of a series until its second sample).
        return "(increase(%s[30s]) and %s offset 30s) or (%s unless %s offset 30s)" % ((series,) * 4)

    # Flagger's success rate is the same ratio written as sum(ok) / sum(all) * 100, except that no
    # successful request at all is 0 (`or vector(0)`), not a missing series: a candidate answering only 5xx.
    assert _flagger(success) == _flagger(
        '100 * (sum(%s) or vector(0)) / sum(%s)' % (
            counted('istio_requests_total{%s,response_code!~"5.*"}' % sel), counted("istio_requests_total{%s}" % sel)))
    assert _flagger(duration) == _flagger(
        "histogram_quantile(0.99, sum by (le) (%s))" % counted("istio_request_duration_milliseconds_bucket{%s}" % sel))
    assert _flagger(A.requests_query_for(cfg, "30s")) == _flagger("sum(%s)" % counted("istio_requests_total{%s}" % sel))


def test_a_metric_window_is_its_own_interval_or_the_analysis_interval():
    cfg = config([dict(SUCCESS, interval="2m"), DURATION], interval="15s")
    success, duration = [A.metric_query(cfg, m) for m in cfg.metrics]
    assert "[2m]" in success and "[15s]" not in success
    assert "[15s]" in duration


def test_custom_query_uses_builtin_and_own_variables():
    cfg = config([{"name": "errors", "query": 'sum(x{ns="${namespace}",v="${version}",t="${team}"}[${interval}])',
                   "max": 1}], vars={"team": "blue"})
    assert A.metric_query(cfg, cfg.metrics[0]) == 'sum(x{ns="shop",v="v2",t="blue"}[10s])'


# ---------------------------------------------------------------- validation

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("kwargs,param,message", [
    ({"metrics": []}, "metrics", "is empty"),
    ({"metrics": [{"name": "latency", "max": 1}]}, "metrics[0].query", "'latency' is not built in .* so it needs a query"),
    ({"metrics": [{"name": "request-duration"}]}, "metrics[0]", "neither min nor max"),
    ({"metrics": [{"name": "request-duration", "min": 5, "max": 1}]}, "metrics[0].min", "min 5 above max 1"),
    ({"metrics": [{"name": "request-duration", "max": "fast"}]}, "metrics[0].max", "must be a number, got 'fast'"),
    ({"metrics": [{"name": "request-duration", "max": NAN}]}, "metrics[0].max", "must be a finite number, got nan"),
    ({"metrics": [SUCCESS, {"name": "request-duration", "max": INF}]}, "metrics[1].max", "must be a finite number"),
    ({"metrics": [{"name": "request-duration", "max": -INF}]}, "metrics[0].max", "must be a finite number"),
    ({"metrics": [{"name": "request-success-rate", "min": NAN}]}, "metrics[0].min", "must be a finite number"),
    ({"metrics": [{"name": "request-success-rate", "min": -INF, "max": 5}]}, "metrics[0].min", "must be a finite"),
    ({"metrics": [{"query": "up", "max": 1}]}, "metrics[0].name", "every metric needs a name"),
    ({"metrics": [DURATION, DURATION]}, "metrics[1].name", "listed twice"),
    ({"metrics": [dict(DURATION, interval="0s")]}, "metrics[0].interval", "must be longer than 0s"),
    ({"metrics": [dict(DURATION, interval="5min")]}, "metrics[0].interval", "'5min' is not a duration"),
    ({"metrics": [dict(DURATION, min_requests=-1)]}, "metrics[0].min_requests", "must be at least 0, got -1"),
    ({"iterations": 0}, "iterations", "must be at least 1, got 0"),
    ({"iterations": NAN}, "iterations", "must be an integer, got nan"),
    ({"iterations": 3, "failed_checks_limit": 4}, "failed_checks_limit", r"must be between 1 and iterations \(3\), got 4"),
    ({"failed_checks_limit": 0}, "failed_checks_limit", "must be at least 1"),
    ({"failed_checks_limit": INF}, "failed_checks_limit", "must be an integer"),
    ({"failed_checks_so_far": -1}, "failed_checks_so_far", "must be at least 0, got -1"),
    ({"min_requests": -5}, "min_requests", "must be at least 0, got -5"),
    ({"no_data": "ignore"}, "no_data", "must be one of fail, skip, wait"),
    ({"no_data_timeout": "soon"}, "no_data_timeout", "'soon' is not a duration"),
    ({"initial_delay": "-1s"}, "initial_delay", "'-1s' is not a duration"),
    ({"interval": "1 minute"}, "interval", "'1 minute' is not a duration"),
    ({"interval": "0s"}, "interval", "must be longer than 0s"),
    ({"vars": {"namespace": "other"}}, "vars", "may not set 'namespace'"),
    ({"vars": {"my-var": "x"}}, "vars", "is not a variable name"),
    ({"variables": {"namespace": "shop"}}, "metrics[0].query",
     r"query of metric 'request-success-rate' uses \$\{workload\}, which is not set: set the workload option"),
    ({"min_requests": 10, "requests_query": "sum(x{v=\"${version}\"})", "variables": {"namespace": "a", "workload": "b"}},
     "requests_query", r"uses \$\{version\}"),
])
def test_build_config_refuses_a_gate_that_cannot_be_judged_naming_the_option(kwargs, param, message):
    metrics = kwargs.pop("metrics", [SUCCESS, DURATION])
    with pytest.raises(ParameterError, match=message) as err:
        config(metrics, **kwargs)
    assert err.value.param == param
    assert str(err.value).startswith(param + ": ")


def test_build_config_normalises():
    cfg = config(interval="1m", iterations=5, failed_checks_limit=2, no_data_timeout="2m", initial_delay="5s",
                 min_requests=20)
    assert (cfg.interval, cfg.iterations, cfg.failed_checks_limit, cfg.no_data_timeout, cfg.initial_delay) == \
        (60, 5, 2, 120, 5)
    assert [(m.name, m.minimum, m.maximum, m.window, m.min_requests) for m in cfg.metrics] == [
        ("request-success-rate", 99.0, None, "1m", 20), ("request-duration", None, 500.0, "1m", 20)]


# ---------------------------------------------------------------- reading and judging one value

@pytest.mark.parametrize("data,expected", [
    (vector("99.5"), (99.5, "99.5", None)),
    ({"resultType": "scalar", "result": [1.0, "3"]}, (3.0, "3", None)),
    (EMPTY, (None, None, "query returned no series")),
    (vector("NaN"), (None, "NaN", "query returned NaN")),
    (vector("+Inf"), (math.inf, "+Inf", "query returned +Inf")),
    (vector("-Inf"), (-math.inf, "-Inf", "query returned -Inf")),
])
def test_read_value(data, expected):
    assert A.read_value(data) == expected


@pytest.mark.parametrize("data,message", [
    (vector(1, 2), r"returned 2 series \(\{i=\"0\"\}; \{i=\"1\"\}\), not one value: aggregate it"),
    (vector(1, 2, 3, 4), r"returned 4 series .* \.\.\.\)"),
    ({"resultType": "matrix", "result": []}, "returned a matrix"),
    ({"resultType": "string", "result": [1, "x"]}, "returned a string"),
    (vector("abc"), "not a number"),
    ({"resultType": "vector", "result": [{"metric": {}}]}, "not a number"),
    (None, "no data"),
])
def test_read_value_refuses_an_answer_that_is_not_one_number(data, message):
    with pytest.raises(A.AnalysisError, match=message):
        A.read_value(data)


@pytest.mark.parametrize("value,minimum,maximum,verdict,reason", [
    (99.0, 99, None, "pass", "99 within min 99"),
    (98.999, 99, None, "fail", "98.999 < min 99"),
    (94.73684, 99, None, "fail", "94.737 < min 99"),
    (500.0, None, 500, "pass", "500 within max 500"),
    (500.5, None, 500, "fail", "500.5 > max 500"),
    (5.0, 1, 10, "pass", "5 within min 1 and max 10"),
    (0.0, 1, 10, "fail", "0 < min 1"),
    (11.0, 1, 10, "fail", "11 > max 10"),
])
def test_judge_bounds_are_inclusive(value, minimum, maximum, verdict, reason):
    assert A.judge(value, minimum, maximum) == (verdict, reason)


def test_no_data_verdict():
    assert A.no_data_verdict("fail", True) == "fail"
    assert A.no_data_verdict("skip", False) == "skip"
    assert A.no_data_verdict("wait", True) == "wait"
    assert A.no_data_verdict("wait", False) == "fail"


@pytest.mark.parametrize("verdicts,expected", [
    (["pass", "pass"], "pass"), (["pass", "fail"], "fail"), (["wait", "fail"], "fail"),
    (["pass", "wait"], "wait"), (["skip", "skip"], "skip"),
    # A metric without data never lets its check pass: skip means neither pass nor fail.
    (["skip", "pass"], "skip"), (["pass", "skip"], "skip"), (["skip", "fail"], "fail"),
])
def test_check_verdict(verdicts, expected):
    assert A.check_verdict([{"verdict": v} for v in verdicts]) == expected


# ---------------------------------------------------------------- the analysis

def test_a_healthy_candidate_passes_after_every_iteration():
    t = FakeTime()
    prom = FakeQuery(success=100, duration=120)
    result = run(config(iterations=3), prom, t).result()
    assert result["verdict"] == "pass"
    assert result["iterations_run"] == 3 and result["failed_checks"] == 0 and not result["stopped_early"]
    assert t.sleeps == [10, 10]  # one check every interval, none after the last
    assert len(result["checks"]) == 6
    first = result["checks"][0]
    assert first == {"iteration": 1, "attempt": 1, "metric": "request-success-rate", "query": first["query"],
                     "value": 100.0, "min": 99.0, "max": None, "time": "2023-11-14T22:13:20Z", "verdict": "pass",
                     "reason": "request-success-rate = 100 within min 99"}
    assert result["checks"][2]["time"] == "2023-11-14T22:13:30Z"
    assert result["reason"] == ("3 of 3 checks passed; last: request-success-rate = 100 within min 99, "
                                "request-duration = 120 within max 500")
    assert len(prom.calls) == 6  # two queries per iteration: no request-count query without min_requests


def test_failure_reason_names_metric_value_threshold_and_count():
    prom = FakeQuery(success=[99.5, 94.7, 94.7, 93.21, 99.9])
    result = run(config([SUCCESS], iterations=5, failed_checks_limit=3), prom).result()
    assert result["verdict"] == "fail"
    assert result["iterations_run"] == 4 and result["stopped_early"]
    assert result["failed_checks"] == 3
    assert result["reason"] == ("request-success-rate = 93.21 < min 99 in 3 of 4 checks "
                                "(failed_checks_limit 3 reached)")
    assert [c["verdict"] for c in result["checks"]] == ["pass", "fail", "fail", "fail"]


def test_it_stops_as_soon_as_the_limit_is_reached():
    t = FakeTime()
    result = run(config(iterations=10, failed_checks_limit=2), FakeQuery(duration=[1000]), t).result()
    assert result["verdict"] == "fail" and result["iterations_run"] == 2 and result["stopped_early"]
    assert t.sleeps == [10]
    assert result["reason"] == ("request-duration = 1000 > max 500 in 2 of 2 checks "
                                "(failed_checks_limit 2 reached)")


def test_every_iteration_runs_on_a_pass_by_default():
    # iterations is the observation time asked for: 5 and limit 5 used to run ONE check.
    t = FakeTime()
    result = run(config(iterations=5, failed_checks_limit=5), FakeQuery(), t).result()
    assert result["verdict"] == "pass" and result["iterations_run"] == 5 and not result["stopped_early"]
    assert t.sleeps == [10, 10, 10, 10]
    assert result["reason"].startswith("5 of 5 checks passed; last: ")


def test_it_stops_with_a_pass_once_the_limit_is_out_of_reach_when_asked():
    # 5 iterations, limit 3: after 3 passes the 2 checks left cannot make 3 failures.
    result = run(config(iterations=5, failed_checks_limit=3, stop_early_on_pass=True), FakeQuery()).result()
    assert result["verdict"] == "pass" and result["iterations_run"] == 3 and result["stopped_early"]
    assert "stopped after 3 of 5 iterations: the rest could not reach failed_checks_limit 3" in result["reason"]


def test_a_fail_stops_at_once_whatever_stop_early_on_pass_says():
    for early in (False, True):
        result = run(config(iterations=5, failed_checks_limit=1, stop_early_on_pass=early),
                     FakeQuery(success=[100, 50])).result()
        assert result["verdict"] == "fail" and result["iterations_run"] == 2 and result["stopped_early"]


def test_stop_early_on_pass_never_stops_on_skipped_checks_alone():
    # No check passed yet: the limit is out of reach, but nothing shows the candidate healthy.
    prom = FakeQuery(success=["NaN", "NaN", "NaN", 100], duration=100)
    result = run(config(iterations=5, failed_checks_limit=3, no_data="skip", stop_early_on_pass=True), prom).result()
    assert result["verdict"] == "pass" and result["iterations_run"] == 4 and result["skipped_checks"] == 3


def test_failures_below_the_limit_pass_and_say_so():
    result = run(config([SUCCESS], iterations=3, failed_checks_limit=2), FakeQuery(success=[98, 100])).result()
    assert result["verdict"] == "pass" and result["failed_checks"] == 1
    assert result["reason"].startswith("2 of 3 checks passed, 1 failed (below failed_checks_limit 2)")


def test_several_metrics_failing_are_all_named_in_one_line():
    result = run(config(iterations=2, failed_checks_limit=2),
                 FakeQuery(success=[95, 99.5], duration=[700, 800])).result()
    assert result["verdict"] == "fail"
    assert result["reason"] == ("request-success-rate = 95 < min 99 in 1 of 2 checks; "
                                "request-duration = 800 > max 500 in 2 of 2 checks (failed_checks_limit 2 reached)")
    assert "\n" not in result["reason"]


def test_one_check_fails_once_however_many_metrics_fail_in_it():
    result = run(config(iterations=2, failed_checks_limit=2), FakeQuery(success=50, duration=900)).result()
    assert result["failed_checks"] == 2 and result["iterations_run"] == 2


@pytest.mark.parametrize("early", [False, True])
@pytest.mark.parametrize("iterations", range(1, 6))
def test_verdict_is_exactly_the_count_of_failures_against_the_limit(iterations, early):
    """Every sequence of pass/fail checks, every limit, failures carried in or not: stopping never changes
    the verdict. A fail stops at once; a pass runs every iteration unless stop_early_on_pass."""
    for limit in range(1, iterations + 1):
        for before in range(limit):
            for outcome in itertools.product((True, False), repeat=iterations):
                values = [100 if ok else 50 for ok in outcome]
                t = FakeTime()
                analysis = run(config([SUCCESS], iterations=iterations, failed_checks_limit=limit,
                                      failed_checks_so_far=before, stop_early_on_pass=early),
                               FakeQuery(success=values), t)
                failures = outcome.count(False)
                case = (outcome, limit, before, early)
                assert analysis.verdict == ("fail" if before + failures >= limit else "pass"), case
                # It ran exactly as far as asked or needed to know.
                needed = next(n for n in range(1, iterations + 1)
                              if before + outcome[:n].count(False) >= limit or n == iterations
                              or (early and before + outcome[:n].count(False) + iterations - n < limit))
                assert analysis.iterations_run == needed, case
                assert len(t.sleeps) == needed - 1
                assert analysis.result()["failed_checks_total"] == before + outcome[:needed].count(False)


# ---------------------------------------------------------------- no data

@pytest.mark.parametrize("answer,why", [("NaN", "query returned NaN"), (EMPTY, "query returned no series"),
                                        ("+Inf", "query returned +Inf")])
def test_no_data_fails_by_default(answer, why):
    result = run(config([SUCCESS]), FakeQuery(success=answer)).result()
    assert result["verdict"] == "fail"
    check = result["checks"][0]
    assert check["value"] is None and check["verdict"] == "fail" and check["no_data"] == why
    assert check["reason"] == "request-success-rate: no data (%s)" % why
    assert result["reason"] == "request-success-rate: no data (%s) in 1 of 1 checks (failed_checks_limit 1 reached)" % why
    if isinstance(answer, str):
        assert check["raw"] == answer


def test_nan_is_never_a_pass_whatever_the_thresholds():
    # NaN compares false with everything: a naive `value < min` would let it through.
    for metric in ({"name": "x", "query": "q", "min": 0}, {"name": "x", "query": "q", "max": 1e9},
                   {"name": "x", "query": "q", "min": -1e9, "max": 1e9}):
        result = run(config([metric]), FakeQuery(custom="NaN")).result()
        assert result["verdict"] == "fail"


def test_no_data_skip_does_not_count_and_says_so():
    result = run(config(iterations=3, failed_checks_limit=1, no_data="skip"),
                 FakeQuery(success=["NaN", 100, 100], duration=[EMPTY, 100, 100])).result()
    assert result["verdict"] == "pass"
    assert result["skipped_checks"] == 1 and result["iterations_run"] == 3 and result["failed_checks"] == 0
    assert [c["verdict"] for c in result["checks"][:2]] == ["skip", "skip"]
    assert result["checks"][0]["reason"] == "request-success-rate: no data (query returned NaN), skipped (no_data=skip)"
    assert result["reason"].startswith("2 of 3 checks passed, 1 skipped for no data (no_data=skip)")


def test_no_data_skip_with_no_data_at_all_fails_naming_every_skipped_metric():
    # Was a pass ("0 of 2 checks passed, 2 skipped"): a gate that saw nothing must not pass.
    result = run(config(iterations=2, no_data="skip"), FakeQuery(success="NaN", duration=EMPTY)).result()
    assert result["verdict"] == "fail" and result["skipped_checks"] == 2 and result["failed_checks"] == 0
    assert result["reasons"] == [
        "request-success-rate: no data (query returned NaN), skipped (no_data=skip) in 2 of 2 checks",
        "request-duration: no data (query returned no series), skipped (no_data=skip) in 2 of 2 checks"]
    assert result["reason"] == "no check passed, so nothing shows the candidate healthy: " + "; ".join(result["reasons"])


def test_a_metric_without_data_never_lets_its_check_pass():
    # The fail-open case: with no_data=skip a passing duration used to make the check (and the gate) pass
    # while the success rate had no data at all.
    result = run(config(iterations=1, no_data="skip"), FakeQuery(success=EMPTY, duration=100)).result()
    assert result["verdict"] == "fail"
    assert [c["verdict"] for c in result["checks"]] == ["skip", "pass"]
    assert result["skipped_checks"] == 1 and result["iterations_run"] == 1
    assert result["reasons"] == [
        "request-success-rate: no data (query returned no series), skipped (no_data=skip) in 1 of 1 checks"]


def test_no_data_skip_still_fails_a_metric_with_data():
    result = run(config(no_data="skip"), FakeQuery(success="NaN", duration=900)).result()
    assert result["verdict"] == "fail"
    assert [c["verdict"] for c in result["checks"]] == ["skip", "fail"]


def test_no_data_wait_measures_again_until_data_comes():
    t = FakeTime()
    prom = FakeQuery(success=[EMPTY, "NaN", 99.5, 100], duration=[100])
    result = run(config(iterations=2, no_data="wait", no_data_timeout="1m"), prom, t).result()
    assert result["verdict"] == "pass" and result["iterations_run"] == 2 and result["failed_checks"] == 0
    assert [(c["iteration"], c["attempt"], c["metric"][:9], c["verdict"]) for c in result["checks"]] == [
        (1, 1, "request-s", "wait"), (1, 1, "request-d", "pass"),
        (1, 2, "request-s", "wait"), (1, 2, "request-d", "pass"),
        (1, 3, "request-s", "pass"), (1, 3, "request-d", "pass"),
        (2, 4, "request-s", "pass"), (2, 4, "request-d", "pass")]
    assert result["checks"][0]["reason"].endswith("waiting for data (no_data=wait)")
    assert t.sleeps == [10, 10, 10]


def test_no_data_wait_fails_once_the_deadline_has_passed():
    t = FakeTime()
    result = run(config([SUCCESS], iterations=3, failed_checks_limit=1, no_data="wait", no_data_timeout="25s"),
                 FakeQuery(success="NaN"), t).result()
    # Attempts at 0s, 10s, 20s wait; the one at 30s is past the deadline and fails.
    assert [c["verdict"] for c in result["checks"]] == ["wait", "wait", "wait", "fail"]
    assert result["verdict"] == "fail" and result["iterations_run"] == 1
    assert result["reason"] == ("request-success-rate: no data (query returned NaN) in 1 of 1 checks "
                                "(failed_checks_limit 1 reached)")


def test_no_data_wait_does_not_hide_a_failure_of_another_metric():
    result = run(config(no_data="wait"), FakeQuery(success="NaN", duration=900)).result()
    assert result["verdict"] == "fail" and result["iterations_run"] == 1


def test_initial_delay_comes_before_the_first_check_and_the_wait_deadline_starts_after_it():
    t = FakeTime()
    result = run(config([SUCCESS], initial_delay="30s", no_data="wait", no_data_timeout="15s"),
                 FakeQuery(success=["NaN", "NaN", 100]), t).result()
    assert t.sleeps[0] == 30
    assert [c["verdict"] for c in result["checks"]] == ["wait", "wait", "pass"]


# ---------------------------------------------------------------- min_requests

def test_too_few_requests_is_no_data():
    prom = FakeQuery(success=100, duration=100, requests=3.4)
    result = run(config(min_requests=20), prom).result()
    assert result["verdict"] == "fail"
    check = result["checks"][0]
    assert check["value"] == 100.0 and check["requests"] == 3.4 and check["min_requests"] == 20
    assert check["reason"] == "request-success-rate: no data (3.4 requests < min_requests 20)"
    assert 'sum((increase(istio_requests_total{reporter="destination"' in check["requests_query"]
    assert "[10s]" in check["requests_query"]


def test_enough_requests_lets_the_value_count():
    prom = FakeQuery(success=100, duration=100, requests=[5, 200])
    result = run(config(min_requests=20, iterations=2, no_data="skip"), prom).result()
    assert [c["verdict"] for c in result["checks"]] == ["skip", "skip", "pass", "pass"]
    # One request-count query per iteration for both metrics (same window).
    assert [call[0] for call in prom.calls].count("requests") == 2


def test_no_requests_at_all_counts_as_zero():
    result = run(config([SUCCESS], min_requests=1), FakeQuery(requests=EMPTY)).result()
    assert result["checks"][0]["requests"] == 0.0 and result["verdict"] == "fail"


@pytest.mark.parametrize("raw", ["NaN", "+Inf"])
def test_a_request_count_that_is_not_a_number_is_no_evidence_and_says_so(raw):
    # A count of NaN (0/0 in a recording rule) or +Inf is not "0 requests": the reason says what it was.
    result = run(config([SUCCESS], min_requests=1), FakeQuery(requests=raw)).result()
    check = result["checks"][0]
    assert result["verdict"] == "fail" and check["verdict"] == "fail"
    assert check["requests"] is None and check["requests_raw"] == raw
    assert check["reason"] == ("request-success-rate: no data (the request count is %s, not a number of requests "
                               "(min_requests 1))" % raw)


def test_min_requests_per_metric_and_per_window():
    prom = FakeQuery(requests=10, custom=0)
    cfg = config([dict(SUCCESS, interval="1m"), dict(DURATION, min_requests=0),
                  {"name": "c", "query": "vector(0)", "max": 1, "interval": "5m"}], min_requests=5)
    result = run(cfg, prom).result()
    assert result["verdict"] == "pass"
    requests_queries = [call[1] for call in prom.calls if call[0] == "requests"]
    assert len(requests_queries) == 2 and "[1m]" in requests_queries[0] and "[5m]" in requests_queries[1]
    assert "requests" not in result["checks"][1]


def test_custom_requests_query():
    prom = FakeQuery(requests=50)
    cfg = config([SUCCESS], min_requests=10, requests_query='sum(increase(my_requests{app="${service}"}[${interval}]))')
    result = run(cfg, prom).result()
    assert result["checks"][0]["requests_query"] == 'sum(increase(my_requests{app="podinfo"}[10s]))'


# ---------------------------------------------------------------- errors fail closed

def test_a_query_error_stops_the_analysis_and_fails_it():
    prom = FakeQuery(success=[100, QueryFailed("invalid PromQL: 1:5: parse error: unexpected }")])
    t = FakeTime()
    result = run(config(iterations=5, failed_checks_limit=2), prom, t).result()
    assert result["verdict"] == "fail"
    assert result["error"] == "request-success-rate: invalid PromQL: 1:5: parse error: unexpected }"
    assert result["reason"] == ("analysis stopped after 1 of 5 checks: request-success-rate: "
                                "invalid PromQL: 1:5: parse error: unexpected }")
    assert result["checks"][-1]["verdict"] == "error" and result["checks"][-1]["iteration"] == 2
    assert not result["stopped_early"]
    assert len(t.sleeps) == 1


def test_an_error_in_the_request_count_names_its_query():
    prom = FakeQuery(requests=QueryFailed("Prometheus at http://p is unreachable: refused (4 attempts)"))
    result = run(config([SUCCESS], min_requests=5), prom).result()
    assert result["verdict"] == "fail"
    assert result["checks"][0]["requests_query"].startswith("sum((increase(")
    assert result["reason"].endswith("request-success-rate: Prometheus at http://p is unreachable: refused (4 attempts)")


def test_an_ambiguous_answer_fails_closed_naming_the_metrics_query():
    prom = FakeQuery(success=[100], custom=vector(1, 2))
    result = run(config([SUCCESS, {"name": "by-pod", "query": "up", "max": 5}]), prom).result()
    assert result["verdict"] == "fail"
    assert "by-pod: metrics[1].query: query returned 2 series" in result["reason"]
    assert result["checks"][-1]["verdict"] == "error"


def test_read_value_names_the_option_of_an_ambiguous_answer():
    with pytest.raises(A.AnalysisError) as err:
        A.read_value(vector(1, 2), param="metrics[3].query")
    assert err.value.param == "metrics[3].query"
    assert str(err.value).startswith("metrics[3].query: query returned 2 series")


def test_an_unexpected_exception_is_not_swallowed():
    prom = FakeQuery(success=ZeroDivisionError("bug"))
    with pytest.raises(ZeroDivisionError):
        run(config([SUCCESS]), prom)


def test_result_values_are_json_safe():
    import json
    result = run(config(iterations=2, no_data="skip"), FakeQuery(success="NaN", duration="+Inf")).result()
    text = json.dumps(result, allow_nan=False)
    assert "NaN" in text  # only as the raw string Prometheus sent
    assert all(c["value"] is None or math.isfinite(c["value"]) for c in result["checks"])


@pytest.mark.parametrize("value,text", [(None, "none"), (99.0, "99"), (94.73684, "94.737"), (0.0004, "0"),
                                        (1003.2, "1003.2"), (-1.5, "-1.5"), (1e6, "1000000")])
def test_format_number(value, text):
    assert A.format_number(value) == text


def test_failing_values_and_missing_data_of_one_metric_are_told_apart():
    prom = FakeQuery(success=[97.8, 99.9, 96.5], requests=[120, 5, 130])
    result = run(config([SUCCESS], iterations=5, failed_checks_limit=3, min_requests=20), prom).result()
    assert result["verdict"] == "fail"
    assert result["checks"][1]["no_data"] == "5 requests < min_requests 20"
    assert "no_data" not in result["checks"][0]
    assert result["reason"] == ("request-success-rate = 96.5 < min 99 in 2 of 3 checks; request-success-rate: "
                                "no data (5 requests < min_requests 20) in 1 of 3 checks (failed_checks_limit 3 reached)")


# ---------------------------------------------------------------- a candidate that fails every request

def test_no_successful_request_is_a_success_rate_of_0_not_no_data():
    # With traffic and only 5xx answers, `or vector(0)` makes the built-in query answer 0 (the test bed's
    # tests/integration/prometheus run it on a real Prometheus); the gate then names the real failure.
    result = run(config([SUCCESS]), FakeQuery(success=0)).result()
    assert result["verdict"] == "fail"
    assert result["checks"][0]["value"] == 0.0 and "no_data" not in result["checks"][0]
    assert result["reason"] == "request-success-rate = 0 < min 99 in 1 of 1 checks (failed_checks_limit 1 reached)"


# ---------------------------------------------------------------- infinities

def test_a_p99_of_inf_is_a_breach_of_max_not_no_data():
    # histogram_quantile answers +Inf when the p99 is slower than the highest bucket.
    result = run(config([DURATION], no_data="skip"), FakeQuery(duration="+Inf")).result()
    check = result["checks"][0]
    assert result["verdict"] == "fail"
    assert check["verdict"] == "fail" and check["value"] is None and check["raw"] == "+Inf" and "no_data" not in check
    assert check["reason"] == "request-duration = +Inf > max 500"
    assert result["reasons"] == ["request-duration = +Inf > max 500 in 1 of 1 checks"]


def test_minus_inf_is_a_breach_of_min():
    result = run(config([{"name": "x", "query": "q", "min": 0}]), FakeQuery(custom="-Inf")).result()
    assert result["checks"][0]["reason"] == "x = -Inf < min 0" and result["verdict"] == "fail"


def test_a_p99_of_nan_is_still_no_data():
    result = run(config([DURATION]), FakeQuery(duration="NaN")).result()
    assert result["verdict"] == "fail"
    assert result["checks"][0]["no_data"] == "query returned NaN"
    assert result["reason"] == "request-duration: no data (query returned NaN) in 1 of 1 checks (failed_checks_limit 1 reached)"


def test_an_infinity_within_the_bounds_is_no_data_never_a_pass():
    for policy, verdict in (("fail", "fail"), ("skip", "skip")):
        result = run(config([SUCCESS], no_data=policy), FakeQuery(success="+Inf")).result()
        assert result["checks"][0]["verdict"] == verdict and result["verdict"] == "fail"


# ---------------------------------------------------------------- escaping template values

def test_a_quote_or_backslash_in_a_workload_stays_in_the_string():
    cfg = config([SUCCESS], variables=dict(VARS, workload='podinfo-"v2\\d'))
    query = A.metric_query(cfg, cfg.metrics[0])
    assert 'destination_workload=~"podinfo-\\"v2\\\\d"' in query
    assert query.count("destination_workload=~") == 8  # 2 selectors, each 4 times (window_count)
    assert query.count('destination_workload=~"podinfo-\\"v2\\\\d"') == 8


def test_a_workload_cannot_inject_promql():
    # Unescaped, this workload turned the success rate into `... * 0 + 1 or vector(100)`: always 100 %.
    evil = 'x"}[1m]))*0+1 or vector(100) #'
    cfg = config([SUCCESS], variables=dict(VARS, workload=evil))
    query = A.metric_query(cfg, cfg.metrics[0])
    assert 'destination_workload=~"x\\"}[1m]))*0+1 or vector(100) #"' in query
    # Outside the string literals the query is exactly the built-in one.
    outside = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    assert outside == re.sub(r'"(?:[^"\\]|\\.)*"', '""', A.metric_query(config([SUCCESS]), config([SUCCESS]).metrics[0]))


@pytest.mark.parametrize("template,value,rendered", [
    ("x{a='${v}'}", "it's", "x{a='it\\'s'}"),
    ('x{a="${v}"}', "line\nbreak", 'x{a="line\\nbreak"}'),
    ("x{a=`${v}`}", 'a"b\\c', 'x{a=`a"b\\c`}'),
    ('x{a="\\"${v}"}', '"', 'x{a="\\"\\""}'),
    ("x > ${v}", "0.5", "x > 0.5"),
    ("x > ${v}", "-1e-3", "x > -1e-3"),
    ("rate(x[${v}])", "5m", "rate(x[5m])"),
])
def test_values_are_escaped_for_where_they_stand(template, value, rendered):
    assert A.render(template, {"v": value}) == rendered


@pytest.mark.parametrize("template,value,message", [
    ("x > ${v}", "1 or vector(1)", r"\$\{v\} stands outside a string literal, so its value '1 or vector\(1\)'"),
    ("x{a=`${v}`}", "a`b", r"\$\{v\} is inside a `raw string` and its value"),
])
def test_a_value_that_would_change_the_query_is_refused(template, value, message):
    with pytest.raises(ParameterError, match=message) as err:
        A.render(template, {"v": value}, "metrics[2].query")
    assert err.value.param == "metrics[2].query"


# ---------------------------------------------------------------- failed checks across steps

def test_failed_checks_are_counted_across_steps():
    # A canary of three steps, one limit of 2 failed checks over all of them (Flagger's threshold).
    total = 0
    verdicts = []
    for step_values in ([100, 50], [50, 100], [50, 100]):
        result = run(config([SUCCESS], iterations=2, failed_checks_limit=2, failed_checks_so_far=total),
                     FakeQuery(success=step_values)).result()
        assert result["failed_checks_so_far"] == total
        total = result["failed_checks_total"]
        verdicts.append((result["verdict"], result["failed_checks"], total))
    # Step 1 fails once (below the limit) and passes; step 2's failure is the second in all and fails it
    # though each step alone stayed below the limit; step 3 fails at once, without a check.
    assert verdicts == [("pass", 1, 1), ("fail", 1, 2), ("fail", 0, 2)]


def test_failures_carried_in_are_named_in_the_reason():
    result = run(config([SUCCESS], iterations=3, failed_checks_limit=2, failed_checks_so_far=1),
                 FakeQuery(success=[100, 97])).result()
    assert result["verdict"] == "fail" and result["iterations_run"] == 2 and result["failed_checks_total"] == 2
    assert result["reason"] == ("request-success-rate = 97 < min 99 in 1 of 2 checks "
                                "(failed_checks_limit 2 reached with 1 failed in earlier steps)")
    passed = run(config([SUCCESS], iterations=2, failed_checks_limit=2, failed_checks_so_far=0),
                 FakeQuery(success=[100, 97])).result()
    assert passed["verdict"] == "pass" and passed["failed_checks_total"] == 1


def test_a_limit_already_reached_fails_before_any_query():
    t = FakeTime()
    prom = FakeQuery()
    result = run(config(iterations=2, failed_checks_limit=2, failed_checks_so_far=2, initial_delay="30s"), prom, t).result()
    assert result["verdict"] == "fail" and prom.calls == [] and t.sleeps == []
    assert result["reason"] == "failed_checks_so_far 2 already reaches failed_checks_limit 2: no check was run"
    assert result["reasons"] == [result["reason"]] and not result["stopped_early"] and result["failed_checks_total"] == 2


# ---------------------------------------------------------------- Prometheus' warnings

def test_prometheus_warnings_are_kept_per_check_and_in_all():
    said = {"success": ["partial answer: store x unreachable"], "duration": [], "requests": ["results truncated"]}
    prom = FakeQuery(requests=100)
    result = run_analysis(config(min_requests=5, iterations=2), prom, FakeTime().clock, FakeTime().sleep,
                          warnings=lambda: said[prom.calls[-1][0]])
    result = result.result()
    assert result["checks"][0]["prometheus_warnings"] == ["results truncated", "partial answer: store x unreachable"]
    assert result["checks"][1]["prometheus_warnings"] == ["results truncated"]
    assert result["prometheus_warnings"] == ["results truncated", "partial answer: store x unreachable"]
    assert result["verdict"] == "pass"


def test_without_warnings_there_is_no_warnings_field_per_check():
    result = run(config(), FakeQuery()).result()
    assert result["prometheus_warnings"] == [] and all("prometheus_warnings" not in c for c in result["checks"])


# ---------------------------------------------------------------- until_passed (Flagger's threshold)

def test_until_passed_lets_the_limit_exceed_iterations():
    cfg = config(iterations=2, failed_checks_limit=5, until_passed=True)
    assert cfg.until_passed and cfg.failed_checks_limit == 5
    with pytest.raises(ParameterError, match=r"must be between 1 and iterations \(2\), got 5"):
        config(iterations=2, failed_checks_limit=5)


def test_until_passed_refuses_stop_early_on_pass_naming_both():
    with pytest.raises(ParameterError) as err:
        config(iterations=3, failed_checks_limit=2, until_passed=True, stop_early_on_pass=True)
    assert err.value.param == "stop_early_on_pass"
    assert str(err.value).startswith("stop_early_on_pass: cannot be combined with until_passed")


def test_until_passed_still_refuses_a_limit_below_1():
    with pytest.raises(ParameterError, match="must be at least 1") as err:
        config(failed_checks_limit=0, until_passed=True)
    assert err.value.param == "failed_checks_limit"


def test_until_passed_a_failure_below_the_limit_does_not_use_up_an_iteration():
    t = FakeTime()
    result = run(config([SUCCESS], iterations=3, failed_checks_limit=2, until_passed=True),
                 FakeQuery(success=[100, 50, 100, 100]), t).result()
    assert result["verdict"] == "pass"
    assert (result["iterations_run"], result["passed_checks"], result["failed_checks"]) == (4, 3, 1)
    assert result["max_checks"] == 4 and result["until_passed"] is True and not result["stopped_early"]
    assert t.sleeps == [10, 10, 10]
    assert result["reason"].startswith("3 of 4 checks passed (3 needed, until_passed), 1 failed "
                                       "(below failed_checks_limit 2); request-success-rate = 50 < min 99 in 1 of 4")


def test_until_passed_passes_once_iterations_checks_have_passed():
    result = run(config(iterations=2, failed_checks_limit=3, until_passed=True), FakeQuery()).result()
    assert result["verdict"] == "pass" and result["iterations_run"] == 2 and result["max_checks"] == 4
    assert result["reason"].startswith("2 of 2 checks passed (2 needed, until_passed); last: ")


def test_until_passed_fails_when_the_limit_is_reached():
    result = run(config([SUCCESS], iterations=2, failed_checks_limit=3, until_passed=True),
                 FakeQuery(success=[50, 100, 96.5, 40])).result()
    assert result["verdict"] == "fail" and result["iterations_run"] == 4 and result["failed_checks"] == 3
    assert result["stopped_early"] is False  # 4 = max_checks: 2 + 3 - 1
    assert result["reason"] == "request-success-rate = 40 < min 99 in 3 of 4 checks (failed_checks_limit 3 reached)"


def test_until_passed_counts_failures_carried_in():
    result = run(config([SUCCESS], iterations=3, failed_checks_limit=3, failed_checks_so_far=2, until_passed=True),
                 FakeQuery(success=[100, 50])).result()
    assert result["max_checks"] == 3  # 3 + (3 - 2) - 1: no failure left to spare
    assert result["verdict"] == "fail" and result["iterations_run"] == 2 and result["stopped_early"]
    assert result["reason"].endswith("(failed_checks_limit 3 reached with 2 failed in earlier steps)")


def test_until_passed_caps_the_checks_and_skips_count_towards_the_cap():
    # iterations 3, limit 2: at most 4 checks. Two skips leave 2 checks for 3 passes: it fails at once.
    t = FakeTime()
    prom = FakeQuery(success=[100, "NaN", "NaN", 100, 100, 100])
    result = run(config(iterations=3, failed_checks_limit=2, until_passed=True, no_data="skip"), prom, t).result()
    assert result["verdict"] == "fail"
    assert (result["iterations_run"], result["passed_checks"], result["skipped_checks"]) == (3, 1, 2)
    assert result["stopped_early"] and len(t.sleeps) == 2
    assert result["reason"] == (
        "only 1 of the 3 passed checks needed after 3 checks, and the 1 check left of at most 4 "
        "(iterations 3 + failed_checks_limit 2 - 1) cannot make up the rest: request-success-rate: no data "
        "(query returned NaN), skipped (no_data=skip) in 2 of 3 checks")


def test_until_passed_reaching_the_cap_without_enough_passes_fails_and_says_so():
    prom = FakeQuery(success=[100, 100, "NaN", 100, 100])
    result = run(config([SUCCESS], iterations=3, failed_checks_limit=2, until_passed=True, no_data="skip"),
                 prom).result()
    # Check 4 passes: 3 passes in 4 checks, within the cap.
    assert result["verdict"] == "pass" and result["iterations_run"] == 4
    prom = FakeQuery(success=[100, "NaN", 100, "NaN", 100], duration=100)
    result = run(config([SUCCESS], iterations=3, failed_checks_limit=3, failed_checks_so_far=1, until_passed=True,
                        no_data="skip"), prom).result()
    assert result["max_checks"] == 4
    assert result["verdict"] == "fail" and result["iterations_run"] == 4 and not result["stopped_early"]
    assert result["reason"].startswith(
        "only 2 of the 3 passed checks needed after 4 checks, the most until_passed runs "
        "(iterations 3 + failed_checks_limit 3 - 1 - failed_checks_so_far 1): request-success-rate: no data")


def test_until_passed_with_a_limit_of_1_is_the_plain_gate():
    result = run(config([SUCCESS], iterations=3, failed_checks_limit=1, until_passed=True),
                 FakeQuery(success=[100, 50])).result()
    assert result["verdict"] == "fail" and result["iterations_run"] == 2 and result["max_checks"] == 3


def test_until_passed_waiting_for_data_does_not_count():
    prom = FakeQuery(success=[EMPTY, 100, 100])
    result = run(config([SUCCESS], iterations=2, failed_checks_limit=2, until_passed=True, no_data="wait"),
                 prom).result()
    assert result["verdict"] == "pass" and result["iterations_run"] == 2 and len(result["checks"]) == 3


def test_without_until_passed_the_result_says_so():
    result = run(config(iterations=2, failed_checks_limit=1), FakeQuery()).result()
    assert result["until_passed"] is False and result["max_checks"] == 2 and result["passed_checks"] == 2


@pytest.mark.parametrize("iterations", range(1, 4))
def test_until_passed_verdict_is_flaggers_over_every_sequence(iterations):
    """Every sequence of pass/fail/skip checks, every limit up to iterations + 2, failures carried in or not:
    the verdict is that of Flagger's loop (count failures against the limit, stop on `iterations` passes),
    cut at max_checks; never more checks than max_checks, and stopping early never changes the verdict."""
    values = {"p": 100, "f": 50, "s": "NaN"}
    for limit in range(1, iterations + 3):
        for before in range(limit):
            cap = iterations + limit - before - 1
            for outcome in itertools.product("pfs", repeat=cap):
                analysis = run(config([SUCCESS], iterations=iterations, failed_checks_limit=limit,
                                      failed_checks_so_far=before, until_passed=True, no_data="skip"),
                               FakeQuery(success=[values[o] for o in outcome]))
                expected, passes, fails = "fail", 0, before
                for o in outcome:
                    passes += o == "p"
                    fails += o == "f"
                    if fails >= limit:
                        break
                    if passes >= iterations:
                        expected = "pass"
                        break
                case = (outcome, iterations, limit, before)
                assert analysis.verdict == expected, case
                assert analysis.iterations_run <= cap, case
                ran = "".join(outcome[:analysis.iterations_run])
                if expected == "pass":
                    assert ran.count("p") == iterations and ran.endswith("p"), case


# ---------------------------------------------------------------- until_passed fails closed too
# The mode shift_traffic runs every gate in: a limit above iterations must never turn missing
# evidence into a pass. Each kind of non-evidence is a failed check until the limit is reached.

@pytest.mark.parametrize("metric,prom,named", [
    (SUCCESS, dict(success=EMPTY), "request-success-rate: no data (query returned no series)"),
    (SUCCESS, dict(success="NaN"), "request-success-rate: no data (query returned NaN)"),
    (DURATION, dict(duration="+Inf"), "request-duration"),
    (SUCCESS, dict(requests=3), "request-success-rate: no data (3 requests < min_requests 10)"),
])
def test_until_passed_fails_on_no_data_nan_inf_and_too_few_requests(metric, prom, named):
    result = run(config([metric], iterations=2, failed_checks_limit=3, until_passed=True, min_requests=10),
                 FakeQuery(**prom)).result()
    assert result["verdict"] == "fail" and result["passed_checks"] == 0
    assert result["failed_checks"] == 3 and named in result["reason"], result["reason"]
    assert result["reason"].endswith("(failed_checks_limit 3 reached)")


@pytest.mark.parametrize("error", ["invalid PromQL: 1:5: parse error", "timed out after 10 s", "connection refused"])
def test_until_passed_stops_and_fails_on_an_error_or_a_timeout(error):
    result = run(config([SUCCESS], iterations=2, failed_checks_limit=3, until_passed=True),
                 FakeQuery(success=QueryFailed(error))).result()
    assert result["verdict"] == "fail" and result["error"] == "request-success-rate: " + error
    assert "request-success-rate" in result["reason"]
