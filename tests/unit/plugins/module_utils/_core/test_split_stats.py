"""The split statistics against textbook values: distributions, intervals, percentiles, verdicts."""

import math
import random
import statistics

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import split_stats as S
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
    # against 9:3:3:1. The textbook statistic is 0.470 on 3 degrees of freedom, p = 0.925.
    counts = {"RY": 315, "RG": 108, "WY": 101, "WG": 32}
    expected = {"RY": 56.25, "RG": 18.75, "WY": 18.75, "WG": 6.25}
    out = S.compare_split(counts, expected, "chi_square", 0.95)
    assert out["statistic"] == pytest.approx(0.470, abs=5e-4)
    assert out["df"] == 3 and out["p_value"] == pytest.approx(0.925, abs=5e-4)
    assert out["verdict"] == "pass" and out["reasons"] == []


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


def test_small_samples_carry_a_note_and_nothing_fails_without_data():
    out = S.compare_split({"v1": 18, "v2": 2}, {"v1": 90, "v2": 10})
    assert out["verdict"] == "pass" and "below 5" in out["notes"][0]
    empty = S.compare_split({}, {"v1": 90, "v2": 10})
    assert empty["verdict"] == "fail" and "no response named its version" in empty["reasons"][0]


@pytest.mark.parametrize("weights,message", [
    ({}, "empty"), ({"v1": 90, "v2": 20}, "add up to 100"), ({"v1": -10, "v2": 110}, "from 0 to 100"),
    ({"v1": "x"}, "number"),
])
def test_bad_weights_are_refused(weights, message):
    assert message in S.validate_weights(weights)
    with pytest.raises(ValueError):
        S.compare_split({"v1": 1}, weights)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        S.compare_split({"v1": 1}, {"v1": 100}, "t_test")
    with pytest.raises(ValueError):
        S.compare_split({"v1": 1}, {"v1": 100}, confidence=1.0)


def test_describe():
    assert S.describe({"v1": 52, "v2": 48}, {"v1": 90, "v2": 10}) == "v1 52.0% / v2 48.0% (expected v1 90% / v2 10%)"
    assert S.describe({}, None) == "nothing"
    assert S.describe({"v2": 1}, {"v1": 100}) == "v1 0.0% / v2 100.0% (expected v1 100% / v2 0%)"
