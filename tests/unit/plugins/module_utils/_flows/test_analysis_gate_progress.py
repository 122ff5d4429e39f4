"""The analysis flow's progress hook and its lines: one call per measurement, with the fake clock."""

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import analysis as A
from ansible_collections.rollouts.istio.plugins.module_utils._flows.analysis_gate import (
    describe_check,
    describe_start,
    run_analysis,
)

VARS = {"namespace": "shop", "workload": "podinfo-v2", "service": "podinfo", "version": "v2"}
SUCCESS = {"name": "request-success-rate", "min": 99}
DURATION = {"name": "request-duration", "max": 500}


def config(metrics=(SUCCESS, DURATION), **kwargs):
    kwargs.setdefault("variables", VARS)
    kwargs.setdefault("interval", "10s")
    return A.build_config(list(metrics), **kwargs)


def vector(value):
    return {"resultType": "vector", "result": [{"metric": {}, "value": [1700000000.0, str(value)]}]}


EMPTY = {"resultType": "vector", "result": []}


class Script(object):
    """Answers the success-rate and duration queries from lists (the last answer repeats)."""

    def __init__(self, success=(100,), duration=(100,)):
        self.answers = {"success": list(success), "duration": list(duration)}
        self.asked = {"success": 0, "duration": 0}

    def __call__(self, promql):
        kind = "duration" if "istio_request_duration_milliseconds_bucket" in promql else "success"
        answers = self.answers[kind]
        answer = answers[min(self.asked[kind], len(answers) - 1)]
        self.asked[kind] += 1
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, dict) else vector(answer)


class FakeTime(object):
    def __init__(self):
        self.now = 1700000000.0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Down(Exception):
    pass


def progress(cfg, script):
    """Run the analysis with the hook; return (analysis, [(time, line)]), the lines as they came."""
    t = FakeTime()
    lines = []

    def on_check(records, analysis):
        lines.append((t.now, describe_check(records, analysis, "step 1")))

    analysis = run_analysis(cfg, script, t.clock, t.sleep, query_errors=(Down,), on_check=on_check)
    return analysis, lines


def test_one_line_per_check_as_it_is_made_with_values_thresholds_and_verdicts():
    script = Script(success=[100, 98.5, 99.9], duration=[1.5])
    analysis, lines = progress(config(iterations=3, failed_checks_limit=2), script)
    assert analysis.verdict == "pass"
    start = 1700000000.0
    # Each line comes when its check was made, one interval apart: not all at the end.
    assert [when for when, _line in lines] == [start, start + 10, start + 20]
    assert [line for _when, line in lines] == [
        "check 1 of 3 (step 1): request-success-rate = 100 (min 99) pass; request-duration = 1.5 (max 500) pass; "
        "next check in 10s",
        "check 2 of 3 (step 1): request-success-rate = 98.5 (min 99) fail; request-duration = 1.5 (max 500) pass; "
        "next check in 10s",
        "check 3 of 3 (step 1): request-success-rate = 99.9 (min 99) pass; request-duration = 1.5 (max 500) pass "
        "=> analysis pass",
    ]


def test_the_line_of_the_check_that_fails_the_analysis_says_so():
    _analysis, lines = progress(config([DURATION], iterations=5), Script(duration=[100, 900]))
    assert [line for _when, line in lines] == [
        "check 1 of 5 (step 1): request-duration = 100 (max 500) pass; next check in 10s",
        "check 2 of 5 (step 1): request-duration = 900 (max 500) fail => analysis fail",
    ]


def test_waiting_for_data_names_the_attempt_and_no_data_says_why():
    cfg = config([SUCCESS], iterations=1, no_data="wait", no_data_timeout="1m")
    _analysis, lines = progress(cfg, Script(success=[EMPTY, "NaN", 100]))
    assert [line for _when, line in lines] == [
        "check 1 of 1, attempt 1 (step 1): request-success-rate: no data (query returned no series) wait; "
        "waiting for data, again in 10s",
        "check 1 of 1, attempt 2 (step 1): request-success-rate: no data (query returned NaN) wait; "
        "waiting for data, again in 10s",
        "check 1 of 1 (step 1): request-success-rate = 100 (min 99) pass => analysis pass",
    ]


def test_an_infinity_is_shown_as_prometheus_said_it():
    _analysis, lines = progress(config([DURATION]), Script(duration=["+Inf"]))
    assert lines[0][1] == "check 1 of 1 (step 1): request-duration = +Inf (max 500) fail => analysis fail"


def test_until_passed_counts_against_the_most_checks_it_runs():
    cfg = config([SUCCESS], iterations=2, failed_checks_limit=3, until_passed=True)
    _analysis, lines = progress(cfg, Script(success=[50, 100, 100]))
    assert [line for _when, line in lines] == [
        "check 1 of at most 4 (step 1): request-success-rate = 50 (min 99) fail; 0 of the 2 passes needed; "
        "next check in 10s",
        "check 2 of at most 4 (step 1): request-success-rate = 100 (min 99) pass; 1 of the 2 passes needed; "
        "next check in 10s",
        "check 3 of at most 4 (step 1): request-success-rate = 100 (min 99) pass; 2 of the 2 passes needed "
        "=> analysis pass",
    ]


def test_the_error_that_stops_the_analysis_gets_its_line():
    analysis, lines = progress(config(iterations=3), Script(duration=[100, Down("Prometheus is unreachable")]))
    assert analysis.verdict == "fail" and analysis.error
    assert lines[-1][1] == (
        "check 2 of 3 (step 1): request-success-rate = 100 (min 99) pass; "
        "request-duration: Prometheus is unreachable error => analysis fail")
    assert len(lines) == 2


def test_no_hook_no_call_and_the_same_analysis():
    t = FakeTime()
    plain = run_analysis(config(iterations=2), Script(), t.clock, t.sleep).result()
    hooked, lines = progress(config(iterations=2), Script())
    assert len(lines) == 2
    assert plain == hooked.result()


def test_a_limit_reached_before_calls_no_hook():
    analysis, lines = progress(config(iterations=2, failed_checks_limit=2, failed_checks_so_far=2), Script())
    assert analysis.verdict == "fail" and lines == []


def test_hidden_values_show_only_verdicts():
    cfg = config(iterations=1)
    analysis = A.Analysis(cfg)
    records = A.measure(cfg, 1, 1, Script(success=[97]), 1700000000.0, True, [])
    analysis.record(records)
    assert describe_check(records, analysis, hide_values=True) == (
        "check 1 of 1: request-success-rate fail; request-duration pass => analysis fail")


@pytest.mark.parametrize("kwargs,label,expected", [
    (dict(iterations=3), None,
     "analysis: 3 checks, one every 10s, failed_checks_limit 1: request-success-rate, request-duration"),
    (dict(iterations=1, initial_delay="1m"), "step 2 (50 %)",
     "analysis (step 2 (50 %)): 1 check, one every 10s, failed_checks_limit 1: request-success-rate, "
     "request-duration; first check in 60s (initial_delay)"),
    (dict(iterations=3, until_passed=True, failed_checks_limit=4, failed_checks_so_far=1), None,
     "analysis: until 3 checks pass (at most 5), one every 10s, failed_checks_limit 4 (1 failed so far): "
     "request-success-rate, request-duration"),
])
def test_the_start_line_says_how_many_checks_how_often_and_when_the_first(kwargs, label, expected):
    assert describe_start(config(**kwargs), label) == expected
