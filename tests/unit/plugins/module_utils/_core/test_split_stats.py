"""The split statistics against textbook values: distributions, intervals, percentiles, verdicts."""

import math
import random
import statistics

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import split_stats as S
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.split_stats import Sample


# ---------------------------------------------------------------- chi-square distribution

# Critical values from any chi-square table (upper tail probability, df, x).
CHI_SQUARE_TABLE = [
    (0.05, 1, 3.841), (0.01, 1, 6.635), (0.001, 1, 10.828),
    (0.05, 2, 5.991), (0.01, 2, 9.210), (0.001, 2, 13.816),
    (0.05, 3, 7.815), (0.01, 3, 11.345), (0.001, 3, 16.266),
    (0.05, 4, 9.488), (0.01, 4, 13.277),
    (0.05, 5, 11.070), (0.01, 5, 15.086),
    (0.05, 10, 18.307), (0.01, 10, 23.209),
    (0.05, 30, 43.773), (0.01, 30, 50.892),
    (0.05, 100, 124.342), (0.01, 100, 135.807),
    (0.95, 1, 0.00393), (0.95, 2, 0.103), (0.95, 10, 3.940), (0.99, 5, 0.554),
]


@pytest.mark.parametrize("p,df,x", CHI_SQUARE_TABLE)
def test_chi_square_survival_matches_the_table(p, df, x):
    # The table rounds x to 3 decimals: compare at the precision that rounding leaves.
    assert S.chi_square_sf(x, df) == pytest.approx(p, rel=2e-3, abs=2e-5)


@pytest.mark.parametrize("x", [0.01, 0.5, 1, 2.5, 7, 15, 40, 90])
def test_chi_square_closed_forms(x):
    # df=1: P = erfc(sqrt(x/2)); df=2: P = exp(-x/2); df=4: P = exp(-x/2) (1 + x/2).
    assert S.chi_square_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9, abs=1e-300)
    assert S.chi_square_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-9)
    assert S.chi_square_sf(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=1e-9)


def test_chi_square_edges():
    assert S.chi_square_sf(0, 3) == 1.0
    assert S.chi_square_sf(-1, 3) == 1.0
    assert S.chi_square_sf(float("inf"), 3) == 0.0
    with pytest.raises(ValueError):
        S.chi_square_sf(1, 0)
    # Monotone decreasing in x.
    values = [S.chi_square_sf(x / 10.0, 3) for x in range(0, 300)]
    assert all(a >= b for a, b in zip(values, values[1:]))


# ---------------------------------------------------------------- normal quantile and Wilson interval

@pytest.mark.parametrize("p,z", [(0.5, 0.0), (0.975, 1.959963984540054), (0.995, 2.5758293035489004),
                                 (0.95, 1.6448536269514722), (0.025, -1.959963984540054), (0.9995, 3.2905267314918945)])
def test_normal_quantile_known_values(p, z):
    assert S.normal_quantile(p) == pytest.approx(z, abs=1e-12)


def test_normal_quantile_agrees_with_statistics_everywhere():
    nd = statistics.NormalDist()
    for p in [1e-12, 1e-6, 0.001, 0.02, 0.02425, 0.1, 0.3, 0.7, 0.97575, 0.99, 0.999999]:
        assert S.normal_quantile(p) == pytest.approx(nd.inv_cdf(p), abs=1e-9)
    for bad in (0, 1, -0.1, 1.5):
        with pytest.raises(ValueError):
            S.normal_quantile(bad)


# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Statistics in Medicine
# 17:857-872, Table I, method 3 (Wilson score interval without continuity correction), 95%.
NEWCOMBE = [((81, 263), (0.2553, 0.3662)), ((15, 148), (0.0624, 0.1605)), ((0, 20), (0.0, 0.1611)),
            ((1, 29), (0.0061, 0.1718)), ((29, 29), (0.8830, 1.0))]


@pytest.mark.parametrize("counts,interval", NEWCOMBE)
def test_wilson_interval_newcombe(counts, interval):
    low, high = S.wilson_interval(counts[0], counts[1], 0.95)
    assert low == pytest.approx(interval[0], abs=5e-5)
    assert high == pytest.approx(interval[1], abs=5e-5)


def test_wilson_interval_properties():
    assert S.wilson_interval(0, 0, 0.95) == (0.0, 1.0)
    # Symmetric in successes and failures, narrower with n, wider with confidence.
    low, high = S.wilson_interval(30, 100, 0.95)
    low2, high2 = S.wilson_interval(70, 100, 0.95)
    assert low == pytest.approx(1 - high2) and high == pytest.approx(1 - low2)

    def width(interval):
        return interval[1] - interval[0]

    # More observations narrow the interval; more confidence widens it.
    assert width(S.wilson_interval(30, 100, 0.95)) > width(S.wilson_interval(300, 1000, 0.95))
    assert width(S.wilson_interval(30, 100, 0.95)) < width(S.wilson_interval(30, 100, 0.99))


# ---------------------------------------------------------------- percentiles

@pytest.mark.parametrize("values,q,expected", [
    ([15, 20, 35, 40, 50], 40, 29.0),   # NumPy's documented linear example
    ([15, 20, 35, 40, 50], 0, 15), ([15, 20, 35, 40, 50], 100, 50), ([15, 20, 35, 40, 50], 50, 35),
    ([1, 2, 3, 4], 50, 2.5), ([1, 2, 3, 4], 75, 3.25), ([7], 99, 7), ([3, 1, 2], 50, 2),
    (list(range(1, 101)), 90, 90.1), (list(range(1, 101)), 99, 99.01),
])
def test_percentile_linear_interpolation(values, q, expected):
    assert S.percentile(values, q) == pytest.approx(expected)


def test_percentile_edges():
    assert S.percentile([], 50) is None
    with pytest.raises(ValueError):
        S.percentile([1], 101)


# ---------------------------------------------------------------- summarizing samples

def test_summarize_counts_errors_and_latency():
    samples = ([Sample("v1", 200, None, 10.0)] * 8 + [Sample("v2", 200, None, 20.0)] * 2
               + [Sample("v2", 500, None, 30.0)] + [Sample(None, 404, None, 1.0)]
               + [Sample(error="timeout")] * 2 + [Sample(error="connection refused")])
    out = S.summarize(samples)
    assert out["requests"] == 15 and out["responses"] == 12
    assert out["counts"] == {"v1": 8, "v2": 3}
    assert out["split"] == {"v1": 72.73, "v2": 27.27}
    assert out["unidentified"] == 1
    # Five errors (the 404 is one) and no other response without a version.
    assert out["failed_or_unidentified"] == 5
    assert out["errors"] == {"count": 5, "by_status": {"500": 1, "404": 1},
                             "by_exception": {"timeout": 2, "connection refused": 1}}
    assert out["latency_ms"]["p50"] == 10.0 and out["latency_ms"]["min"] == 1.0 and out["latency_ms"]["max"] == 30.0
    assert out["latency_ms"]["p99"] == pytest.approx(28.9)  # rank 10.89 of 12: 20 + 0.89 * (30 - 20)


def test_summarize_nothing():
    out = S.summarize([])
    assert out["counts"] == {} and out["split"] == {} and out["latency_ms"]["p50"] is None


def test_redirects_are_not_errors():
    assert not S.is_error(Sample("v1", 302))
    assert S.is_error(Sample("v1", 400)) and S.is_error(Sample(None, None, "timeout"))


# ---------------------------------------------------------------- the comparison

def test_mendel_peas_chi_square():
    # Mendel's dihybrid cross: 315 round-yellow, 108 round-green, 101 wrinkled-yellow, 32 wrinkled-green
    # against 9:3:3:1. The textbook statistic is 0.470 on 3 degrees of freedom, p = 0.925. (9:3:3:1 is
    # no split of integer weights, so the statistic is tested on its own.)
    observed = [315, 108, 101, 32]
    expected = [556 * w / 16.0 for w in (9, 3, 3, 1)]
    statistic, df, p_value = S.goodness_of_fit(observed, expected)
    assert statistic == pytest.approx(0.470, abs=5e-4)
    assert df == 3 and p_value == pytest.approx(0.925, abs=5e-4)
    # And through the comparison, at the nearest integer split, 56/19/19/6.
    out = S.compare_split({"RY": 315, "RG": 108, "WY": 101, "WG": 32}, {"RY": 56, "RG": 19, "WY": 19, "WG": 6},
                          "chi_square", 0.95)
    assert out["df"] == 3 and out["verdict"] == "pass" and out["reasons"] == []


def test_ninety_ten_passes_and_fifty_fifty_fails():
    ok = S.compare_split({"v1": 271, "v2": 29}, {"v1": 90, "v2": 10})
    assert ok["verdict"] == "pass" and ok["test"] == "chi_square" and ok["confidence"] == 0.99
    assert ok["statistic"] == pytest.approx((271 - 270) ** 2 / 270.0 + (29 - 30) ** 2 / 30.0)
    assert ok["versions"]["v2"] == {"observed": 29, "observed_pct": 9.67, "expected": 30.0, "expected_pct": 10.0,
                                    "diff_pp": -0.33}
    bad = S.compare_split({"v1": 152, "v2": 148}, {"v1": 90, "v2": 10})
    assert bad["verdict"] == "fail" and bad["p_value"] < 1e-50
    assert "chi-square goodness of fit" in bad["reasons"][0]


def test_chi_square_boundary_at_the_critical_value():
    # One degree of freedom: the split fails exactly when the statistic passes 6.635 (99%).
    n = 1000
    for v2 in range(60, 141):
        stat = (v2 - 100) ** 2 / 100.0 + (v2 - 100) ** 2 / 900.0
        out = S.compare_split({"v1": n - v2, "v2": v2}, {"v1": 90, "v2": 10}, confidence=0.99)
        assert out["verdict"] == ("fail" if stat > 6.6349 else "pass"), (v2, stat)


def test_false_alarm_rate_is_about_one_minus_confidence():
    rng = random.Random(20261122)
    fails = 0
    for dummy in range(2000):
        v2 = sum(1 for dummy in range(200) if rng.random() < 0.1)
        fails += S.compare_split({"v1": 200 - v2, "v2": v2}, {"v1": 90, "v2": 10}, confidence=0.95)["verdict"] == "fail"
    # 5% of 2000 = 100; the discrete distribution makes it a little less; 3 sd is about 30.
    assert 50 <= fails <= 130


def test_unexpected_version_fails_every_test():
    for test in S.TESTS:
        out = S.compare_split({"v1": 999, "v2": 1}, {"v1": 100, "v2": 0}, test, tolerance_pp=5)
        assert out["verdict"] == "fail", test
        assert any("v2 answered 1 of 1000 requests but is expected to get none" in r for r in out["reasons"])
    out = S.compare_split({"v1": 50, "v3": 1}, {"v1": 100})
    assert out["statistic"] == float("inf") and out["p_value"] == 0.0


def test_everything_to_one_version():
    out = S.compare_split({"v2": 40}, {"v1": 0, "v2": 100})
    assert out["verdict"] == "pass" and out["df"] == 0 and out["p_value"] == 1.0
    assert S.compare_split({"v1": 40}, {"v1": 0, "v2": 100})["verdict"] == "fail"


def test_wilson_comparison():
    ok = S.compare_split({"v1": 271, "v2": 29}, {"v1": 90, "v2": 10}, "wilson", 0.95)
    assert ok["verdict"] == "pass" and ok["per_version_confidence"] == 0.975
    low, high = S.wilson_interval(29, 300, 0.975)
    assert ok["versions"]["v2"]["interval_pct"] == [round(100 * low, 3), round(100 * high, 3)]
    bad = S.compare_split({"v1": 250, "v2": 50}, {"v1": 90, "v2": 10}, "wilson", 0.95)
    assert bad["verdict"] == "fail" and "outside its Wilson interval" in bad["reasons"][0]


def test_absolute_comparison():
    assert S.compare_split({"v1": 86, "v2": 14}, {"v1": 90, "v2": 10}, "absolute", tolerance_pp=5)["verdict"] == "pass"
    out = S.compare_split({"v1": 84, "v2": 16}, {"v1": 90, "v2": 10}, "absolute", tolerance_pp=5)
    assert out["verdict"] == "fail" and out["tolerance_pp"] == 5 and "off by 6.00 points" in out["reasons"][0]


def test_small_samples_are_inconclusive_and_nothing_fails_without_data():
    # 20 responses cannot tell a 90/10 split from v2 getting nothing (60 are needed): not a pass.
    out = S.compare_split({"v1": 18, "v2": 2}, {"v1": 90, "v2": 10})
    assert out["verdict"] == "inconclusive" and "below 5" in out["notes"][0]
    assert out["requests_needed"] == 60 and "needs 60" in out["reasons"][0]
    empty = S.compare_split({}, {"v1": 90, "v2": 10})
    assert empty["verdict"] == "fail" and "no response named its version" in empty["reasons"][0]


@pytest.mark.parametrize("weights,param,message", [
    ({}, "expected_weights", "give the weight of each version"),
    ({"v1": 90, "v2": 20}, "expected_weights", "add up to 110"),
    ({"v1": -10, "v2": 110}, "expected_weights.v1", "from 0 to 100"),
    ({"v1": "x"}, "expected_weights.v1", "integer"),
    ({"v1": float("nan"), "v2": 100}, "expected_weights.v1", "integer"),
    ({"v1": 99.5, "v2": 0.5}, "expected_weights.v1", "integer"),
])
def test_bad_weights_are_refused_by_the_split_rule(weights, param, message):
    with pytest.raises(ParameterError) as err:
        S.compare_split({"v1": 1}, weights)
    assert err.value.param == param and message in str(err.value)
    assert not hasattr(S, "validate_weights")


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        S.compare_split({"v1": 1}, {"v1": 100}, "t_test")
    with pytest.raises(ValueError):
        S.compare_split({"v1": 1}, {"v1": 100}, confidence=1.0)
    for name, kwargs in (("confidence", {"confidence": float("nan")}), ("tolerance_pp", {"tolerance_pp": float("nan")}),
                         ("tolerance_pp", {"tolerance_pp": -1})):
        with pytest.raises(ParameterError) as err:
            S.compare_split({"v1": 1}, {"v1": 100}, "absolute", **kwargs)
        assert err.value.param == name


def test_describe():
    assert S.describe({"v1": 52, "v2": 48}, {"v1": 90, "v2": 10}) == "v1 52.0% / v2 48.0% (expected v1 90% / v2 10%)"
    assert S.describe({}, None) == "nothing"
    assert S.describe({"v2": 1}, {"v1": 100}) == "v1 0.0% / v2 100.0% (expected v1 100% / v2 0%)"


# ---------------------------------------------------------------- power: the candidate missing

def test_chi_square_critical_matches_the_table():
    for p, df, x in CHI_SQUARE_TABLE:
        # The table rounds x to 3 decimals (or 3 significant digits).
        assert S.chi_square_critical(p, df) == pytest.approx(x, rel=1e-3, abs=5e-4)
    with pytest.raises(ValueError):
        S.chi_square_critical(0, 1)


@pytest.mark.parametrize("weights,test,confidence,needed", [
    # chi-square: n p / (1 - p) must pass the critical value, 6.635 at 99% and 3.841 at 95% (df 1).
    ({"v1": 95, "v2": 5}, "chi_square", 0.99, 127), ({"v1": 90, "v2": 10}, "chi_square", 0.99, 60),
    ({"v1": 50, "v2": 50}, "chi_square", 0.99, 7), ({"v1": 99, "v2": 1}, "chi_square", 0.99, 657),
    ({"v1": 95, "v2": 5}, "chi_square", 0.95, 73),
    # Wilson: 0 of n has the upper bound z^2 / (n + z^2), z at 1 - 0.01 / 2 / 2.
    ({"v1": 95, "v2": 5}, "wilson", 0.99, 150), ({"v1": 90, "v2": 10}, "wilson", 0.99, 71),
    # One version takes all: any other answer fails at once.
    ({"v1": 0, "v2": 100}, "chi_square", 0.99, 1), ({"v2": 100}, "wilson", 0.99, 1),
    ({"v1": 90, "v2": 10}, "absolute", 0.99, 1),
])
def test_requests_needed(weights, test, confidence, needed):
    assert S.requests_needed(weights, test, confidence, tolerance_pp=5) == needed


@pytest.mark.parametrize("weights", [{"v1": 95, "v2": 5}, {"v1": 90, "v2": 10}, {"v1": 80, "v2": 10, "v3": 10},
                                     {"v1": 50, "v2": 30, "v3": 20}, {"v1": 98, "v2": 1, "v3": 1}])
@pytest.mark.parametrize("test", ["chi_square", "wilson"])
def test_requests_needed_is_where_a_missing_candidate_starts_to_fail(weights, test):
    needed = S.requests_needed(weights, test)
    small = S.smallest_share(weights)[0]
    others = dict((v, w) for v, w in weights.items() if v != small)

    def nothing_for_the_smallest(n):
        # Every way to give the others n responses, here: in proportion, and all to the largest.
        share = [(v, n * w // sum(others.values())) for v, w in sorted(others.items())]
        spread = dict(share)
        spread[share[0][0]] += n - sum(spread.values())
        top = max(others, key=others.get)
        return [spread, {top: n}]

    for counts in nothing_for_the_smallest(needed):
        assert S.compare_split(counts, weights, test)["verdict"] == "fail", counts
    for counts in nothing_for_the_smallest(needed - 1):
        assert S.compare_split(counts, weights, test)["verdict"] != "pass", counts


def test_a_candidate_that_gets_nothing_never_passes_at_the_old_advice():
    # The old advice: 100 requests for 95/5. The candidate got none of them: p = 0.022 > 0.01, so the
    # chi-square test alone cannot reject it, and the probe must not call that a match.
    out = S.compare_split({"v1": 100}, {"v1": 95, "v2": 5})
    assert out["p_value"] == pytest.approx(0.0218, abs=1e-4)
    assert out["verdict"] == "inconclusive" and out["requests_needed"] == 127
    assert out["reasons"] == ["100 identified responses are too few to notice v2 (expected 5%) getting nothing: "
                              "chi-square at confidence 0.99 needs 127"]
    # With enough responses the same split fails, and a correct 95/5 split passes.
    assert S.compare_split({"v1": 127}, {"v1": 95, "v2": 5})["verdict"] == "fail"
    ok = S.compare_split({"v1": 190, "v2": 10}, {"v1": 95, "v2": 5})
    assert ok["verdict"] == "pass" and ok["reasons"] == [] and ok["samples"] == 200


def test_absolute_without_power_is_never_a_pass():
    # tolerance 5 and a 5% share: v2 at 0% is 5 points off, within tolerance, at any number of requests.
    assert S.requests_needed({"v1": 95, "v2": 5}, "absolute", tolerance_pp=5) is None
    out = S.compare_split({"v1": 1000}, {"v1": 95, "v2": 5}, "absolute", tolerance_pp=5)
    assert out["verdict"] == "inconclusive" and "tolerance_pp 5 is not below 5" in out["reasons"][0]
    assert S.compare_split({"v1": 1000}, {"v1": 95, "v2": 5}, "absolute", tolerance_pp=4)["verdict"] == "fail"
