"""The analysis core: rendering, judging, the no-data policy, counting, early stop, verdict, record."""

import itertools
import math
import re

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import analysis as A
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
        if promql.startswith("sum(increase("):
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
    with pytest.raises(A.AnalysisError, match="is not a duration"):
        A.parse_duration(text, "interval")


def test_render_replaces_every_placeholder():
    assert A.render('x{ns="${namespace}",w=~"${workload}"}[${interval}]',
                    dict(VARS, interval="1m")) == 'x{ns="shop",w=~"podinfo-v2"}[1m]'


def test_render_leaves_regex_anchors_and_plain_dollars_alone():
    assert A.render('x{version=~"v2$",a="$b"}', {}) == 'x{version=~"v2$",a="$b"}'


def test_render_refuses_an_unset_variable_and_says_which():
    with pytest.raises(A.AnalysisError) as err:
        A.render('x{ns="${namespace}",w="${workload}",v="${version}",t="${team}"}', {"namespace": "shop", "version": ""})
    assert str(err.value) == ("query uses ${team}, ${version}, ${workload}, which are not set: add team to vars, "
                              "set the version option, set the workload option")


def test_render_refuses_a_placeholder_that_is_no_name():
    with pytest.raises(A.AnalysisError, match=r"\$\{1x\} that is not a variable name"):
        A.render("x[${1x}]", {"1x": "5m"})


def _flagger(query):
    """Flagger's Istio queries (pkg/metrics/observers/istio.go), whitespace removed, rendered."""
    return re.sub(r"\s+", "", query)


def test_builtin_queries_are_flaggers_for_istio():
    cfg = config(interval="30s")
    success, duration = [A.metric_query(cfg, m) for m in cfg.metrics]
    sel = 'reporter="destination",destination_workload_namespace="shop",destination_workload=~"podinfo-v2"'
    # Flagger's success rate is the same ratio written as  sum(ok) / sum(all) * 100.
    assert _flagger(success) == _flagger(
        '100 * sum(rate(istio_requests_total{%s,response_code!~"5.*"}[30s]))'
        ' / sum(rate(istio_requests_total{%s}[30s]))' % (sel, sel))
    assert _flagger(duration) == _flagger(
        "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{%s}[30s])) by (le))" % sel)


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

@pytest.mark.parametrize("kwargs,message", [
    ({"metrics": []}, "metrics is empty"),
    ({"metrics": [{"name": "latency", "max": 1}]}, "'latency' is not built in .* so it needs a query"),
    ({"metrics": [{"name": "request-duration"}]}, "neither min nor max"),
    ({"metrics": [{"name": "request-duration", "min": 5, "max": 1}]}, "min 5 above max 1"),
    ({"metrics": [{"name": "request-duration", "max": "fast"}]}, "max of metric 'request-duration' must be a number"),
    ({"metrics": [{"name": "request-duration", "max": float("nan")}]}, "must be a finite number"),
    ({"metrics": [{"query": "up", "max": 1}]}, "every metric needs a name"),
    ({"metrics": [DURATION, DURATION]}, "listed twice"),
    ({"metrics": [dict(DURATION, interval="0s")]}, "must be longer than 0s"),
    ({"metrics": [dict(DURATION, interval="5min")]}, "interval of metric 'request-duration' '5min' is not a duration"),
    ({"metrics": [dict(DURATION, min_requests=-1)]}, "min_requests of metric 'request-duration' must be 0 or more"),
    ({"iterations": 0}, "iterations must be 1 or more"),
    ({"iterations": 3, "failed_checks_limit": 4}, r"failed_checks_limit must be between 1 and iterations \(3\), got 4"),
    ({"failed_checks_limit": 0}, "failed_checks_limit must be between 1"),
    ({"no_data": "ignore"}, "no_data must be one of fail, skip, wait"),
    ({"no_data_timeout": "soon"}, "no_data_timeout 'soon' is not a duration"),
    ({"interval": "1 minute"}, "interval '1 minute' is not a duration"),
    ({"vars": {"namespace": "other"}}, "vars may not set 'namespace'"),
    ({"vars": {"my-var": "x"}}, "is not a variable name"),
    ({"variables": {"namespace": "shop"}}, r"query of metric 'request-success-rate' uses \$\{workload\}, which is not set: set the workload option"),
    ({"min_requests": 10, "requests_query": "sum(x{v=\"${version}\"})", "variables": {"namespace": "a", "workload": "b"}},
     r"requests_query uses \$\{version\}"),
])
def test_build_config_refuses_a_gate_that_cannot_be_judged(kwargs, message):
    metrics = kwargs.pop("metrics", [SUCCESS, DURATION])
    with pytest.raises(A.AnalysisError, match=message):
        config(metrics, **kwargs)


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
    (vector("+Inf"), (None, "+Inf", "query returned +Inf")),
    (vector("-Inf"), (None, "-Inf", "query returned -Inf")),
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
    (["pass", "wait"], "wait"), (["skip", "skip"], "skip"), (["skip", "pass"], "pass"),
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


def test_it_stops_with_a_pass_once_the_limit_is_out_of_reach():
    # 5 iterations, limit 3: after 3 passes the 2 checks left cannot make 3 failures.
    result = run(config(iterations=5, failed_checks_limit=3), FakeQuery()).result()
    assert result["verdict"] == "pass" and result["iterations_run"] == 3 and result["stopped_early"]
    assert "stopped after 3 of 5 iterations: the rest could not reach failed_checks_limit 3" in result["reason"]


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


@pytest.mark.parametrize("iterations", range(1, 6))
def test_verdict_is_exactly_the_count_of_failures_against_the_limit(iterations):
    """Every sequence of pass/fail checks, every limit: early stop never changes the verdict."""
    for limit in range(1, iterations + 1):
        for outcome in itertools.product((True, False), repeat=iterations):
            values = [100 if ok else 50 for ok in outcome]
            t = FakeTime()
            analysis = run(config([SUCCESS], iterations=iterations, failed_checks_limit=limit),
                           FakeQuery(success=values), t)
            failures = outcome.count(False)
            assert analysis.verdict == ("fail" if failures >= limit else "pass"), (outcome, limit)
            # It ran exactly as far as needed to know.
            needed = next(n for n in range(1, iterations + 1)
                          if outcome[:n].count(False) >= limit or outcome[:n].count(False) + iterations - n < limit)
            assert analysis.iterations_run == needed, (outcome, limit)
            assert len(t.sleeps) == needed - 1


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


def test_no_data_skip_with_no_data_at_all_passes_but_shows_it():
    result = run(config(iterations=2, no_data="skip"), FakeQuery(success="NaN", duration="NaN")).result()
    assert result["verdict"] == "pass"
    assert result["reason"] == "0 of 2 checks passed, 2 skipped for no data (no_data=skip)"


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
    assert 'sum(increase(istio_requests_total{reporter="destination"' in check["requests_query"]
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
    assert result["checks"][0]["requests_query"].startswith("sum(increase(")
    assert result["reason"].endswith("request-success-rate: Prometheus at http://p is unreachable: refused (4 attempts)")


def test_an_ambiguous_answer_fails_closed():
    prom = FakeQuery(custom=vector(1, 2))
    result = run(config([{"name": "by-pod", "query": "up", "max": 5}]), prom).result()
    assert result["verdict"] == "fail"
    assert "by-pod: query returned 2 series" in result["reason"]


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
