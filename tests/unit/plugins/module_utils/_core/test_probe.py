"""traffic_probe's decisions from deterministic counts: options, the verdict with its power and error rule, messages."""

import math

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import probe as P
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.split_stats import Sample, summarize


def params(**kw):
    p = dict(url="http://gw/", host=None, path=None, method="GET", headers={}, body=None, requests=100, concurrency=4,
             timeout=10.0, validate_certs=True, version_header=None, version_regex=None, expected_weights=None,
             test="chi_square", confidence=0.99, tolerance_pp=5.0, max_error_pct=0.0, fail_task=True)
    p.update(kw)
    return p


def samples(v1=0, v2=0, v2_errors=0, unnamed_503=0, timeouts=0, unnamed_200=0):
    return ([Sample("v1", 200, None, 1.0)] * v1 + [Sample("v2", 200, None, 1.0)] * v2
            + [Sample("v2", 500, None, 1.0)] * v2_errors + [Sample(None, 503, None, 1.0)] * unnamed_503
            + [Sample(error="timeout")] * timeouts + [Sample(None, 200, None, 1.0)] * unnamed_200)


def judged(expected, max_error_pct=0.0, **counts):
    options = P.check_options(params(expected_weights=expected, max_error_pct=max_error_pct))
    return P.judge(summarize(samples(**counts)), options), options


# ---------------------------------------------------------------- options

@pytest.mark.parametrize("bad,param", [
    (dict(requests=0), "requests"), (dict(concurrency=0), "concurrency"),
    (dict(timeout=0), "timeout"), (dict(timeout=-1.0), "timeout"), (dict(timeout=float("nan")), "timeout"),
    (dict(timeout=float("inf")), "timeout"),
    (dict(confidence=1.0), "confidence"), (dict(confidence=float("nan")), "confidence"),
    (dict(tolerance_pp=-1), "tolerance_pp"), (dict(tolerance_pp=float("nan")), "tolerance_pp"),
    (dict(max_error_pct=-1), "max_error_pct"), (dict(max_error_pct=101), "max_error_pct"),
    (dict(max_error_pct=float("nan")), "max_error_pct"),
    (dict(expected_weights={"v1": 90, "v2": 20}), "expected_weights"),
    (dict(expected_weights={"v1": "lots"}), "expected_weights.v1"),
    (dict(expected_weights={"v1": float("nan"), "v2": 100}), "expected_weights.v1"),
    (dict(expected_weights={"v1": 90, "v2": 10}, test="absolute", tolerance_pp=10), "tolerance_pp"),
    (dict(test="t_test"), "test"),
])
def test_bad_options_are_refused_naming_the_option(bad, param):
    given = params(**bad)
    before = dict(given)
    with pytest.raises(ParameterError) as err:
        P.check_options(given)
    assert err.value.param == param and str(err.value).startswith(param + ": ")
    assert given == before


def test_options_are_checked_without_rewriting_the_params():
    given = params(expected_weights={"v1": 90.0, "v2": 10})
    options = P.check_options(given)
    assert options.expected == {"v1": 90, "v2": 10} and given["expected_weights"] == {"v1": 90.0, "v2": 10}
    assert options.version_header == "X-Version" and options.fail_task is True


# ---------------------------------------------------------------- the verdict

def test_old_sample_size_with_the_candidate_getting_nothing_is_inconclusive_and_fails_the_task():
    # The old advice, 100 requests for 95/5; the VirtualService sends the candidate nothing.
    result, options = judged({"v1": 95, "v2": 5}, v1=100)
    assert result["verdict"] == "inconclusive" and result["requests_needed"] == 127
    assert result["reason"] == ("100 identified responses are too few to notice v2 (expected 5%) getting nothing: "
                                "chi-square at confidence 0.99 needs 127")
    assert result["reasons"] == [result["reason"]]
    assert result["msg"] == "split v1 100.0% / v2 0.0% (expected v1 95% / v2 5%) is inconclusive: " + result["reason"]
    assert P.task_failure(result, options) == result["msg"]


def test_enough_requests_with_the_candidate_getting_nothing_fail():
    result, dummy = judged({"v1": 95, "v2": 5}, v1=127)
    assert result["verdict"] == "fail" and result["comparison"]["p_value"] < 0.01
    assert "chi-square goodness of fit" in result["reason"] and "does not match" in result["msg"]


def test_a_correct_split_with_enough_requests_passes():
    result, options = judged({"v1": 95, "v2": 5}, v1=190, v2=10)
    assert result["verdict"] == "pass" and result["reasons"] == [] and P.task_failure(result, options) is None
    assert result["reason"].startswith("chi-square p=1 >= 0.01, 200 identified responses (127 needed), "
                                       "0 failed or named no version (max_error_pct 0)")
    assert result["msg"] == "split v1 95.0% / v2 5.0% (expected v1 95% / v2 5%) matches: " + result["reason"]
    assert result["changed"] is False


def test_a_candidate_whose_pods_are_down_fails_by_its_errors():
    # The proxy answers 503 without a version for the candidate's share; what names a version is all v1.
    result, dummy = judged({"v1": 95, "v2": 5}, v1=95, unnamed_503=5)
    assert result["verdict"] == "fail" and result["failed_or_unidentified"] == 5
    assert result["reasons"][-1] == ("errors: 5 of 100 requests (5.00%) failed or named no version (503 x5), "
                                     "more than max_error_pct 0")
    # Errors allowed: too few identified responses to say, and with enough the split sees v2 missing.
    result, dummy = judged({"v1": 95, "v2": 5}, max_error_pct=50, v1=95, unnamed_503=5)
    assert result["verdict"] == "inconclusive" and "95 identified responses are too few" in result["reason"]
    result, dummy = judged({"v1": 95, "v2": 5}, max_error_pct=50, v1=190, unnamed_503=10)
    assert result["verdict"] == "fail" and result["reasons"] == [result["comparison"]["reasons"][0]]
    assert result["reason"].startswith("chi-square goodness of fit")


def test_every_kind_of_error_counts_once_against_the_limit():
    result, dummy = judged({"v1": 90, "v2": 10}, max_error_pct=5, v1=180, v2=10, v2_errors=4, timeouts=3,
                           unnamed_200=3)
    # 10 of 200 = 5%: at the limit, not above it.
    assert result["failed_or_unidentified"] == 10 and result["verdict"] == "pass", result["reason"]
    result, dummy = judged({"v1": 90, "v2": 10}, max_error_pct=4.9, v1=180, v2=10, v2_errors=4, timeouts=3,
                           unnamed_200=3)
    assert result["verdict"] == "fail"
    assert result["reason"] == ("errors: 10 of 200 requests (5.00%) failed or named no version (500 x4, timeout x3, "
                                "no version x3), more than max_error_pct 4.9")


def test_split_and_error_reasons_are_one_line_each():
    result, dummy = judged({"v1": 50, "v2": 50}, v1=90, v2=10, unnamed_503=1)
    assert result["verdict"] == "fail" and len(result["reasons"]) == 2
    assert result["reasons"][0].startswith("chi-square goodness of fit") and result["reasons"][1].startswith("errors:")
    assert result["reason"] == "; ".join(result["reasons"]) and "\n" not in result["reason"]


def test_fail_task_false_returns_the_verdict():
    options = P.check_options(params(expected_weights={"v1": 95, "v2": 5}, fail_task=False))
    result = P.judge(summarize(samples(v1=100)), options)
    assert result["verdict"] == "inconclusive" and P.task_failure(result, options) is None


def test_measure_only_is_not_compared():
    options = P.check_options(params())
    result = P.judge(summarize(samples(v1=9, v2=1, unnamed_503=1)), options)
    assert result["verdict"] == "not compared" and "comparison" not in result and result["reasons"] == []
    assert result["msg"] == "split v1 90.0% / v2 10.0% over 11 requests, 1 errors"
    assert P.task_failure(result, options) is None


def test_no_response_at_all_fails_whatever_fail_task_says():
    options = P.check_options(params(expected_weights={"v1": 100}, fail_task=False))
    result = P.judge(summarize(samples(timeouts=3)), options)
    assert result["verdict"] == "fail"
    assert result["msg"] == "no response to any of 3 requests to http://gw/: timeout x3" == result["reason"]
    assert P.task_failure(result, options) == result["msg"]


def test_nan_never_reaches_the_comparison():
    # Before, a NaN weight or tolerance passed the checks and then no comparison could fail.
    for bad in (dict(expected_weights={"v1": math.nan, "v2": 100}),
                dict(tolerance_pp=math.nan, test="absolute", expected_weights={"v1": 100})):
        with pytest.raises(ParameterError):
            P.check_options(params(**bad))
