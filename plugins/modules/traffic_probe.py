#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: traffic_probe
short_description: Send requests to an app and measure which version answers them
version_added: 0.1.0
author:
  - rollouts.istio maintainers (@rollouts-istio)
description:
  - Sends O(requests) HTTP requests to O(url) with O(concurrency) workers, each on a persistent
    connection, and tells which version of the app answered each one, by a response header
    (O(version_header)) or by a regular expression on the body (O(version_regex)).
  - Returns the count per version, the observed split in percent, the errors, and latency percentiles.
  - With O(expected_weights), compares the observed split with the weights the VirtualService sets and
    fails when they differ beyond the stated tolerance, so "watch the responses alternate" becomes an
    assertion. The comparison is a statistical test, named with its parameters in RV(comparison).
  - "O(test=chi_square) (the default): Pearson's chi-square goodness-of-fit test of the counts against
    the weights, with k-1 degrees of freedom for k versions; fails when its p-value is below
    1 - O(confidence). One test for the whole split, so a correct split fails it with probability
    1 - O(confidence)."
  - "O(test=wilson): a Wilson score interval for each version's share, at the Bonferroni-corrected level
    1 - (1 - O(confidence)) / k so that all k intervals together hold at O(confidence); fails when an
    expected weight lies outside its version's interval."
  - "O(test=absolute): fails when a version's share is more than O(tolerance_pp) percentage points from
    its weight. No statistics: with few requests it fails correct splits, with many it lets small
    deviations pass."
  - Every test fails when a version answers that has no weight (or weight 0), since Istio never sends it traffic.
  - Responses that name no version (for example a 404 from a gateway without a route) are counted in
    RV(unidentified) and left out of the split; errors (no response, or a status outside 200-399) are
    counted in RV(errors) and do not fail the task by themselves; a probe that got no response at all fails.
  - Only reads; never changes anything.
extends_documentation_fragment:
  - rollouts.istio.attributes
  - rollouts.istio.attributes.READ_ONLY
options:
  url:
    description:
      - Where to connect, for example the ingress gateway V(http://192.168.49.2:31380) or V(https://gateway.example.com).
      - Its path (and query) is the request path unless O(path) is set.
    type: str
    required: true
  host:
    description:
      - The C(Host) header to send, for example the VirtualService's host V(app.example.com) when O(url) is
        the ingress gateway's address. For V(https) it is also the TLS server name (SNI).
      - Default is the host of O(url).
    type: str
  path:
    description:
      - The request path (and query), replacing the path of O(url).
    type: str
  method:
    description:
      - The HTTP method.
    type: str
    default: GET
  headers:
    description:
      - Extra request headers, for example a cookie or header that a VirtualService matches on.
    type: dict
    default: {}
  body:
    description:
      - The request body.
    type: str
  requests:
    description:
      - How many requests to send.
      - For a statistical comparison, enough that the smallest expected share gets at least 5 requests
        (100 requests for a 95/5 split); more requests detect smaller deviations.
    type: int
    default: 100
  concurrency:
    description:
      - How many requests are in flight at once (one connection each).
    type: int
    default: 4
  timeout:
    description:
      - Seconds to wait for one response; a request that takes longer counts as an error C(timeout).
    type: float
    default: 10
  validate_certs:
    description:
      - Whether to verify the server's TLS certificate (V(https) only).
    type: bool
    default: true
  version_header:
    description:
      - The response header that names the version, as podinfo's C(X-Version) does. Case-insensitive.
      - Used when O(version_regex) is not set; when neither is set, C(X-Version).
    type: str
  version_regex:
    description:
      - A Python regular expression searched in the response body; its first group is the version, for
        example V("version":\\s*"([^"]+)") for podinfo's JSON.
    type: str
  expected_weights:
    description:
      - "The split expected, as version -> weight in percent, adding up to 100, for example C({v1: 90, v2: 10})."
      - The versions are the values O(version_header) or O(version_regex) read.
      - Without it, the module only measures.
    type: dict
  test:
    description:
      - How to compare the observed split with O(expected_weights) (see the description).
    type: str
    choices: [chi_square, wilson, absolute]
    default: chi_square
  confidence:
    description:
      - The confidence level of O(test=chi_square) and O(test=wilson), strictly between 0 and 1.
      - A correct split fails with probability 1 - O(confidence); a higher level tolerates more chance
        deviation and needs a larger real one to fail.
    type: float
    default: 0.99
  tolerance_pp:
    description:
      - With O(test=absolute), the largest difference allowed between a version's share and its weight,
        in percentage points.
    type: float
    default: 5.0
  fail_on_mismatch:
    description:
      - Whether the task fails when the split does not match O(expected_weights). When V(false) the verdict
        is still returned in RV(verdict) for an assert of your own.
    type: bool
    default: true
notes:
  - The probe measures the split as the client sees it, through whatever is in between (gateway, caches,
    session affinity). Send enough requests, and keep O(concurrency) modest against small test installations.
seealso:
  - module: rollouts.istio.prometheus_check
    description: Gate on what Istio's own telemetry counted instead.
"""

EXAMPLES = r"""
- name: The tutorial's canary step, as an assertion - 90/10 between v1 and v2
  rollouts.istio.traffic_probe:
    url: "http://{{ ingress_address }}"
    host: app.example.com
    requests: 300
    expected_weights:
      v1: 90
      v2: 10
  register: probe

- name: Read the version from podinfo's JSON body and allow 10 points either way
  rollouts.istio.traffic_probe:
    url: https://app.example.com/
    validate_certs: false
    version_regex: '"version":\s*"([^"]+)"'
    expected_weights: {v1: 50, v2: 50}
    test: absolute
    tolerance_pp: 10

- name: Testers with the canary cookie always reach v2
  rollouts.istio.traffic_probe:
    url: "http://{{ ingress_address }}"
    host: app.example.com
    headers:
      Cookie: user=test
    requests: 50
    expected_weights: {v2: 100}

- name: Only measure, and look at the numbers
  rollouts.istio.traffic_probe:
    url: "http://{{ ingress_address }}/status/200"
    host: app.example.com
    requests: 200
    concurrency: 8
  register: measured

- name: Show them
  ansible.builtin.debug:
    msg: "{{ measured.split }} p99 {{ measured.latency_ms.p99 }} ms, {{ measured.errors.count }} errors"
"""

RETURN = r"""
requests:
  description: How many requests were sent.
  returned: always
  type: int
  sample: 300
responses:
  description: How many got an HTTP response (of any status).
  returned: always
  type: int
  sample: 300
counts:
  description: Responses per version.
  returned: always
  type: dict
  sample: {v1: 271, v2: 29}
split:
  description: The observed share of each version, in percent of the responses that named a version.
  returned: always
  type: dict
  sample: {v1: 90.33, v2: 9.67}
unidentified:
  description: Responses that named no version (left out of the split).
  returned: always
  type: int
  sample: 0
errors:
  description: Requests that failed, by HTTP status (outside 200-399) or by exception.
  returned: always
  type: dict
  contains:
    count:
      description: How many.
      type: int
    by_status:
      description: Count per HTTP status, as a string.
      type: dict
    by_exception:
      description: Count per kind of failure without a response (C(timeout), C(connection refused) ...).
      type: dict
  sample: {count: 2, by_status: {"503": 2}, by_exception: {}}
latency_ms:
  description: Response time percentiles (linear interpolation between closest ranks), min, max and mean, in ms.
  returned: always
  type: dict
  sample: {p50: 2.1, p90: 3.4, p99: 8.0, min: 1.2, max: 9.3, mean: 2.4}
comparison:
  description:
    - The comparison with O(expected_weights); absent without them.
    - C(test), its parameters (C(confidence) and C(alpha), or C(tolerance_pp)), C(samples) compared,
      C(statistic), C(df) and C(p_value) (chi_square), C(per_version_confidence) (wilson), C(versions)
      (per version C(observed), C(observed_pct), C(expected), C(expected_pct), C(diff_pp), and for wilson
      C(interval_pct)), C(verdict), C(reasons) (why it failed) and C(notes) (caveats).
  returned: when expected_weights is set
  type: dict
  sample:
    test: chi_square
    confidence: 0.99
    alpha: 0.01
    samples: 300
    df: 1
    statistic: 0.0370
    p_value: 0.8474
    verdict: pass
    reasons: []
    notes: []
    versions:
      v1: {observed: 271, observed_pct: 90.33, expected: 270.0, expected_pct: 90, diff_pp: 0.33}
      v2: {observed: 29, observed_pct: 9.67, expected: 30.0, expected_pct: 10, diff_pp: -0.33}
verdict:
  description: V(pass) or V(fail) when compared with O(expected_weights), else V(not compared).
  returned: always
  type: str
  sample: pass
msg:
  description: One line on the outcome, naming the observed and expected split.
  returned: always
  type: str
  sample: "split v1 90.3% / v2 9.7% (expected v1 90% / v2 10%) matches: chi-square p=0.847 >= 0.01"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.rollouts.istio.plugins.module_utils._edges.http_probe import (
    ProbeError, Target, VersionReader, run_probe)
from ansible_collections.rollouts.istio.plugins.module_utils._core.split_stats import (
    TESTS, compare_split, describe, summarize, validate_weights)

DEFAULT_VERSION_HEADER = "X-Version"


def argument_spec():
    return dict(
        url=dict(type="str", required=True),
        host=dict(type="str"),
        path=dict(type="str"),
        method=dict(type="str", default="GET"),
        headers=dict(type="dict", default={}),
        body=dict(type="str"),
        requests=dict(type="int", default=100),
        concurrency=dict(type="int", default=4),
        timeout=dict(type="float", default=10.0),
        validate_certs=dict(type="bool", default=True),
        version_header=dict(type="str"),
        version_regex=dict(type="str"),
        expected_weights=dict(type="dict"),
        test=dict(type="str", choices=list(TESTS), default="chi_square"),
        confidence=dict(type="float", default=0.99),
        tolerance_pp=dict(type="float", default=5.0),
        fail_on_mismatch=dict(type="bool", default=True),
    )


def check_params(params):
    """A message for parameters that cannot work together, else None."""
    if params["requests"] < 1:
        return "requests must be at least 1"
    if params["concurrency"] < 1:
        return "concurrency must be at least 1"
    if params["timeout"] <= 0:
        return "timeout must be more than 0 seconds"
    if not 0 < params["confidence"] < 1:
        return "confidence must be strictly between 0 and 1, for example 0.99"
    if params["tolerance_pp"] < 0:
        return "tolerance_pp must not be negative"
    if params["expected_weights"] is not None:
        weights = {}
        for version, weight in params["expected_weights"].items():
            try:
                weights[str(version)] = float(weight)
            except (TypeError, ValueError):
                return "expected_weights: the weight of %s must be a number, got %r" % (version, weight)
        params["expected_weights"] = weights
        return validate_weights(weights)
    return None


def probe(params):
    """The module's result for its parameters (the module only adds changed and fails on a mismatch)."""
    target = Target(params["url"], host=params["host"], path=params["path"], method=params["method"],
                    headers=params["headers"], body=params["body"], timeout=params["timeout"],
                    validate_certs=params["validate_certs"])
    reader = VersionReader(header=params["version_header"] or DEFAULT_VERSION_HEADER, regex=params["version_regex"])
    result = summarize(run_probe(target, reader, params["requests"], params["concurrency"]))
    expected = params["expected_weights"]
    if expected is None:
        result["verdict"] = "not compared"
        result["msg"] = "split %s over %d requests, %d errors" % (
            describe(result["counts"], None), result["requests"], result["errors"]["count"])
        return result
    comparison = compare_split(result["counts"], expected, params["test"], params["confidence"],
                               params["tolerance_pp"])
    result["comparison"] = comparison
    result["verdict"] = comparison["verdict"]
    split = describe(result["counts"], expected)
    if comparison["verdict"] == "pass":
        result["msg"] = "split %s matches: %s" % (split, _passed_because(comparison))
    else:
        result["msg"] = "split %s does not match: %s" % (split, "; ".join(comparison["reasons"]))
    return result


def _passed_because(comparison):
    if comparison["test"] == "chi_square":
        return "chi-square p=%.3g >= %.3g" % (comparison["p_value"], comparison["alpha"])
    if comparison["test"] == "wilson":
        return "every expected weight inside its Wilson interval at %g confidence" % comparison["per_version_confidence"]
    return "every version within %g percentage points" % comparison["tolerance_pp"]


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("version_header", "version_regex")],
        supports_check_mode=True,
    )
    problem = check_params(module.params)
    if problem:
        module.fail_json(msg=problem)
    try:
        result = probe(module.params)
    except ProbeError as exc:
        module.fail_json(msg=str(exc))
    result["changed"] = False
    if not result["responses"]:
        result["msg"] = "no response to any of %d requests to %s: %s" % (
            result["requests"], module.params["url"],
            ", ".join("%s x%d" % kv for kv in sorted(result["errors"]["by_exception"].items())))
        module.fail_json(**result)
    if result["verdict"] == "fail" and module.params["fail_on_mismatch"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
