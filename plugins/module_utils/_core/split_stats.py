# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The traffic split a probe observed, and whether it agrees with the weights expected. Pure: no I/O.

A probe gives one Sample per request. ``summarize`` counts them; ``compare_split`` judges the
observed counts against the expected weights with one of three tests:

chi_square
    Pearson's chi-square goodness-of-fit test of the counts per version against the expected
    weights, k - 1 degrees of freedom. The split fails when p < 1 - confidence. One test for all
    versions, so its false-alarm rate is exactly 1 - confidence.
wilson
    A Wilson score interval for each version's share, at a Bonferroni-corrected level
    (1 - (1 - confidence) / k for k versions, so all k together hold at ``confidence``). The split
    fails when an expected share lies outside its version's interval.
absolute
    No statistics: fails when any version's share is more than ``tolerance_pp`` percentage points
    from its expected weight.

A version seen but given no weight (or weight 0) fails every test: Istio never routes there.

A comparison passes only with the power to see the candidate missing: ``requests_needed`` is the
number of identified responses at which the test rejects the split when the smallest expected
share got none of them. With fewer, a comparison that found nothing wrong is "inconclusive".
"""

from __future__ import annotations

import math

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.params import check_number
from ansible_collections.rollouts.istio.plugins.module_utils._core.split import check_weight_map

TESTS = ("chi_square", "wilson", "absolute")


class Sample(object):
    """One request's outcome: the version that answered (None if unknown), the HTTP status (None if no
    response), the error class name (None if it got a response) and the latency in ms (None if none)."""

    __slots__ = ("version", "status", "error", "latency_ms")

    def __init__(self, version=None, status=None, error=None, latency_ms=None):
        self.version = version
        self.status = status
        self.error = error
        self.latency_ms = latency_ms


# ---------------------------------------------------------------- counting

def is_error(sample):
    """A request that failed: no response at all, or a status outside 200-399."""
    return sample.error is not None or sample.status is None or not 200 <= sample.status < 400


def percentile(values, q):
    """The q-th percentile (0-100) by linear interpolation between closest ranks (NumPy's default,
    Hyndman and Fan's type 7); None for no values."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError("percentile must be between 0 and 100, got %r" % (q,))
    ordered = sorted(values)
    h = (len(ordered) - 1) * q / 100.0
    lo = int(math.floor(h))
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


def shares(counts):
    """{version: percent of the total}, rounded to 0.01; {} when nothing was counted."""
    total = sum(counts.values())
    if not total:
        return {}
    return dict((v, round(100.0 * n / total, 2)) for v, n in counts.items())


def summarize(samples):
    """Counts, observed split, errors and latency percentiles of a probe's samples."""
    counts = {}
    by_status = {}
    by_exception = {}
    latencies = []
    unidentified = 0
    errors = 0
    for s in samples:
        if s.version is not None:
            counts[s.version] = counts.get(s.version, 0) + 1
        elif s.status is not None:
            unidentified += 1
        if s.latency_ms is not None:
            latencies.append(s.latency_ms)
        if is_error(s):
            errors += 1
            if s.error is not None:
                by_exception[s.error] = by_exception.get(s.error, 0) + 1
            else:
                key = str(s.status)
                by_status[key] = by_status.get(key, 0) + 1
    latency = dict(("p%d" % q, _round(percentile(latencies, q))) for q in (50, 90, 99))
    latency.update(min=_round(min(latencies)) if latencies else None,
                   max=_round(max(latencies)) if latencies else None,
                   mean=_round(sum(latencies) / len(latencies)) if latencies else None)
    return {
        "requests": len(samples),
        "responses": sum(1 for s in samples if s.status is not None),
        "counts": counts,
        "unidentified": unidentified,
        "failed_or_unidentified": sum(1 for s in samples if s.version is None or is_error(s)),
        "split": shares(counts),
        "errors": {"count": errors, "by_status": by_status, "by_exception": by_exception},
        "latency_ms": latency,
    }


def _round(value, digits=3):
    return None if value is None else round(value, digits)


# ---------------------------------------------------------------- distributions

def chi_square_sf(x, df):
    """P(X >= x) for a chi-square variable with df degrees of freedom (the test's p-value)."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive, got %r" % (df,))
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    return _gamma_q(df / 2.0, x / 2.0)


def _gamma_q(a, x):
    """The regularized upper incomplete gamma function Q(a, x) (Numerical Recipes, 6.2)."""
    if x < a + 1.0:
        # Series for P(a, x); Q = 1 - P.
        term = total = 1.0 / a
        n = a
        for dummy in range(10000):
            n += 1.0
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - math.lgamma(a)))
    # Continued fraction for Q(a, x) (modified Lentz).
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def normal_quantile(p):
    """z such that P(Z <= z) = p for a standard normal Z (Acklam's rational approximation, refined
    by one Halley step: accurate to about 1e-15)."""
    if not 0.0 < p < 1.0:
        raise ValueError("probability must be strictly between 0 and 1, got %r" % (p,))
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
         -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
         -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
         4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
    low = 0.02425
    if p < low:
        q = math.sqrt(-2 * math.log(p))
        z = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    elif p <= 1 - low:
        q = p - 0.5
        r = q * q
        z = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    else:
        q = math.sqrt(-2 * math.log(1 - p))
        z = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    e = 0.5 * math.erfc(-z / math.sqrt(2)) - p
    u = e * math.sqrt(2 * math.pi) * math.exp(z * z / 2)
    return z - u / (1 + z * u / 2)


def wilson_interval(successes, n, confidence):
    """The Wilson score interval (without continuity correction) for a proportion, as (low, high)."""
    if n <= 0:
        return 0.0, 1.0
    z = normal_quantile(1 - (1 - confidence) / 2.0)
    p = float(successes) / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# ---------------------------------------------------------------- power

def chi_square_critical(alpha, df):
    """x such that P(X >= x) = alpha for a chi-square variable with df degrees of freedom."""
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be strictly between 0 and 1, got %r" % (alpha,))
    low, high = 0.0, 1.0
    while chi_square_sf(high, df) > alpha:
        high *= 2.0
    for dummy in range(200):
        mid = (low + high) / 2.0
        if chi_square_sf(mid, df) > alpha:
            low = mid
        else:
            high = mid
        if high - low <= 1e-12 * high:
            break
    return high


def smallest_share(expected):
    """(version, weight) of the smallest weight above 0: the share a probe must be able to see missing."""
    return min(((v, w) for v, w in expected.items() if w > 0), key=lambda item: (item[1], item[0]))


def _rejects_nothing_for_smallest(n, expected, test, confidence, tolerance_pp):
    """Whether `test` rejects n identified responses of which the smallest expected share got none,
    the others sharing them in proportion to their weights (for chi-square the observation closest to
    the expected split, so every other observation with that share at 0 is rejected too)."""
    k = sum(1 for w in expected.values() if w > 0)
    weight = smallest_share(expected)[1]
    if test == "chi_square":
        p = weight / 100.0
        return chi_square_sf(n * p / (1.0 - p), k - 1) < 1.0 - confidence
    if test == "wilson":
        return 100 * wilson_interval(0, n, 1.0 - (1.0 - confidence) / k)[1] < weight
    return weight > tolerance_pp


def requests_needed(expected, test="chi_square", confidence=0.99, tolerance_pp=5.0):
    """The fewest identified responses at which `test` rejects the split when the version with the
    smallest expected share answered none of them: below it, a candidate that gets no traffic
    would pass. None when no number suffices (absolute with tolerance_pp >= the smallest share).

    With one version expected to take everything any other answer fails, so one response suffices.
    """
    if sum(1 for w in expected.values() if w > 0) < 2:
        return 1
    if test == "absolute":
        return 1 if _rejects_nothing_for_smallest(1, expected, test, confidence, tolerance_pp) else None
    k = sum(1 for w in expected.values() if w > 0)
    p = smallest_share(expected)[1] / 100.0
    if test == "chi_square":
        # The statistic of that observation is n p / (1 - p).
        estimate = chi_square_critical(1.0 - confidence, k - 1) * (1.0 - p) / p
    else:
        # Wilson's upper bound for 0 of n is z^2 / (n + z^2).
        z = normal_quantile(1.0 - (1.0 - confidence) / k / 2.0)
        estimate = z * z * (1.0 - p) / p
    n = max(1, int(math.floor(estimate)))
    # The closed forms are exact; rounding is settled by the test's own decision.
    while n > 1 and _rejects_nothing_for_smallest(n - 1, expected, test, confidence, tolerance_pp):
        n -= 1
    while not _rejects_nothing_for_smallest(n, expected, test, confidence, tolerance_pp):
        n += 1
    return n


def power_reason(expected, test, confidence, tolerance_pp, identified, needed):
    """Why a comparison that found no mismatch still cannot pass, or None when it has the power."""
    version, weight = smallest_share(expected)
    if needed is None:
        return ("test=absolute cannot notice %s (expected %g%%) getting nothing: tolerance_pp %g is not below %g"
                % (version, weight, tolerance_pp, weight))
    if identified >= needed:
        return None
    what = "chi-square at confidence %g" % confidence if test == "chi_square" else (
        "Wilson intervals at confidence %g" % confidence)
    return ("%d identified responses are too few to notice %s (expected %g%%) getting nothing: %s needs %d"
            % (identified, version, weight, what, needed))


# ---------------------------------------------------------------- the comparison

def compare_split(counts, expected, test="chi_square", confidence=0.99, tolerance_pp=5.0):
    """Judge observed counts {version: n} against expected weights {version: percent}, checked by
    the split rule (_core/split.check_weight_map: integers 0..100 adding up to 100).

    Returns a dict: test, its parameters, statistic / p_value (chi_square), per-version rows with
    observed and expected share, difference in percentage points and (wilson) the interval,
    requests_needed (identified responses for the power to see the smallest share missing), the
    verdict ("pass", "fail", or "inconclusive" when nothing failed but there were fewer identified
    responses than requests_needed), reasons (why it did not pass) and notes (caveats worth knowing).
    """
    if test not in TESTS:
        raise ParameterError("test", "must be one of %s, got %r" % (", ".join(TESTS), test))
    check_number(confidence, "confidence", above=0, below=1)
    check_number(tolerance_pp, "tolerance_pp", minimum=0, maximum=100)
    expected = check_weight_map(expected, "expected_weights")
    versions = sorted(set(expected) | set(counts))
    n = sum(counts.get(v, 0) for v in versions)
    needed = requests_needed(expected, test, confidence, tolerance_pp)
    result = {"test": test, "samples": n, "requests_needed": needed, "verdict": "pass", "reasons": [], "notes": []}
    if test == "absolute":
        result["tolerance_pp"] = tolerance_pp
    else:
        result["confidence"] = confidence
    rows = {}
    for v in versions:
        observed = counts.get(v, 0)
        exp_share = expected.get(v, 0)
        obs_share = 100.0 * observed / n if n else 0.0
        rows[v] = {"observed": observed, "observed_pct": round(obs_share, 2),
                   "expected": round(n * exp_share / 100.0, 3), "expected_pct": exp_share,
                   "diff_pp": round(obs_share - exp_share, 2)}
    result["versions"] = rows
    if n == 0:
        result["verdict"] = "fail"
        result["reasons"].append("no response named its version, so there is no split to compare")
        return result

    unexpected = [v for v in versions if expected.get(v, 0) == 0 and counts.get(v, 0) > 0]
    for v in unexpected:
        result["reasons"].append("%s answered %d of %d requests but is expected to get none"
                                 % (v, counts[v], n))

    if test == "chi_square":
        _chi_square(result, rows, n, confidence, unexpected)
    elif test == "wilson":
        _wilson(result, rows, n, confidence, unexpected)
    else:
        for v, row in rows.items():
            if v not in unexpected and abs(row["diff_pp"]) > tolerance_pp:
                result["reasons"].append("%s got %.2f%%, expected %g%% (off by %.2f points, tolerance %g)"
                                         % (v, row["observed_pct"], row["expected_pct"], abs(row["diff_pp"]),
                                            tolerance_pp))
    if result["reasons"]:
        result["verdict"] = "fail"
        return result
    weak = power_reason(expected, test, confidence, tolerance_pp, n, needed)
    if weak:
        result["verdict"] = "inconclusive"
        result["reasons"].append(weak)
    return result


def goodness_of_fit(observed, expected):
    """Pearson's chi-square statistic and its p-value for counts against expected counts (same order,
    every expected count above 0): (statistic, df, p_value)."""
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected))
    df = len(expected) - 1
    return statistic, df, chi_square_sf(statistic, df)


def _chi_square(result, rows, n, confidence, unexpected):
    alpha = 1 - confidence
    cells = [(row["observed"], n * row["expected_pct"] / 100.0) for row in rows.values() if row["expected_pct"] > 0]
    df = len(cells) - 1
    result["df"] = df
    result["alpha"] = round(alpha, 12)
    if unexpected:
        result["statistic"] = float("inf")
        result["p_value"] = 0.0
        return
    if df == 0:
        # One version expected to take all: every request went there (unexpected is empty).
        result["statistic"] = 0.0
        result["p_value"] = 1.0
        return
    statistic, df, p_value = goodness_of_fit([o for o, dummy in cells], [e for dummy, e in cells])
    result["statistic"] = round(statistic, 6)
    result["p_value"] = p_value
    if min(e for dummy, e in cells) < 5:
        result["notes"].append("an expected count is below 5, where the chi-square approximation is rough; "
                               "send more requests")
    if p_value < alpha:
        result["reasons"].append("chi-square goodness of fit: statistic %.3f with %d degrees of freedom, p=%.3g "
                                 "< %.3g (confidence %g)" % (statistic, df, p_value, alpha, confidence))


def _wilson(result, rows, n, confidence, unexpected):
    k = sum(1 for row in rows.values() if row["expected_pct"] > 0) or 1
    level = 1 - (1 - confidence) / k
    result["per_version_confidence"] = round(level, 12)
    for v, row in rows.items():
        low, high = wilson_interval(row["observed"], n, level)
        row["interval_pct"] = [round(100 * low, 3), round(100 * high, 3)]
        if v not in unexpected and not 100 * low <= row["expected_pct"] <= 100 * high:
            result["reasons"].append("%s got %.2f%%, expected %g%% outside its Wilson interval [%.2f%%, %.2f%%] "
                                     "at %g confidence" % (v, row["observed_pct"], row["expected_pct"],
                                                           100 * low, 100 * high, level))


def describe(counts, expected):
    """'v1 52.0% / v2 48.0% (expected v1 90% / v2 10%)' for messages."""
    obs = shares(counts)
    versions = sorted(set(expected or {}) | set(counts))
    text = " / ".join("%s %.1f%%" % (v, obs.get(v, 0.0)) for v in versions) or "nothing"
    if expected:
        text += " (expected %s)" % " / ".join("%s %g%%" % (v, expected.get(v, 0)) for v in versions)
    return text
