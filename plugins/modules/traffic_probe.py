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
  - With O(expected_weights), judges the observed split against the weights the VirtualService sets, for
    example the stable version V(v1) at 90 and the candidate V(v2) at 10, and returns RV(verdict)
    (V(pass), V(fail) or V(inconclusive)) with RV(reason) and RV(reasons); by default a verdict other than
    V(pass) fails the task (O(fail_task)). The comparison is a statistical test, named with its parameters
    in RV(comparison).
  - "O(test=chi_square) (the default): Pearson's chi-square goodness-of-fit test of the counts against
    the weights, with k-1 degrees of freedom for k versions; fails when its p-value is below
    1 - O(confidence). One test for the whole split, so a correct split fails it with probability
    1 - O(confidence)."
  - "O(test=wilson): a Wilson score interval for each version's share, at the Bonferroni-corrected level
    1 - (1 - O(confidence)) / k so that all k intervals together hold at O(confidence); fails when an
    expected weight lies outside its version's interval."
  - "O(test=absolute): fails when a version's share is more than O(tolerance_pp) percentage points from
    its weight. No statistics: with few requests it fails correct splits, with many it lets small
    deviations pass. O(tolerance_pp) must be below the smallest expected weight, or a version that gets
    nothing would pass."
  - Every test fails when a version answers that has no weight (or weight 0), since Istio never sends it traffic.
  - "A pass needs the power to see the candidate missing: the verdict is V(inconclusive) (and fails the
    task by default) when fewer responses named their version than RV(requests_needed), the number at which
    the test rejects the split if the version with the smallest expected weight answered none of them.
    For O(test=chi_square) at O(confidence=0.99) that is 7 for 50/50, 27 for 80/20, 60 for 90/10, 127 for
    95/5, 326 for 98/2 and 657 for 99/1; O(test=wilson) needs a little more (71 for 90/10, 150 for 95/5)."
  - Requests that failed (no response, or a status outside 200-399) and responses that named no version
    (for example the 503 a gateway answers when all of a version's pods are down, or a 404 without a
    route) count against the verdict. When their share of all requests is above O(max_error_pct)
    (default 0, so any one of them), the verdict is V(fail). They are left out of the split itself, which
    is computed over the responses that named a version (an error response that names its version counts
    for that version, and as an error).
  - A probe that got no response at all always fails.
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
      - How many requests to send, at least 1.
      - With O(expected_weights), at least RV(requests_needed) of them must name their version for a pass
        (see the description, 60 for 90/10 and 127 for 95/5 with the defaults), plus a margin for the
        errors O(max_error_pct) allows. The default of 100 is too few for a split with a share below 7%.
      - More requests detect smaller deviations.
    type: int
    default: 100
  concurrency:
    description:
      - How many requests are in flight at once (one connection each), at least 1.
    type: int
    default: 4
  timeout:
    description:
      - Seconds to wait for one response, more than 0; a request that takes longer counts as an error C(timeout).
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
      - "The split expected, as version -> weight, for example C({v1: 90, v2: 10}) with V(v1) the stable
        version and V(v2) the candidate. Weights are integers from 0 to 100 that add up to 100, the rule
        M(rollouts.istio.traffic_split) applies."
      - The versions are the values O(version_header) or O(version_regex) read.
      - Without it, the module only measures, and RV(verdict) is V(not compared).
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
        deviation, needs a larger real one to fail, and needs more requests (RV(requests_needed)).
    type: float
    default: 0.99
  tolerance_pp:
    description:
      - With O(test=absolute), the largest difference allowed between a version's share and its weight,
        in percentage points, from 0 to 100 and below the smallest expected weight.
    type: float
    default: 5.0
  max_error_pct:
    description:
      - The largest share of all requests, in percent from 0 to 100, that may fail (no response, or a status
        outside 200-399) or name no version while the verdict is still V(pass).
      - The default V(0) fails the verdict on any one; raise it only where some errors are known and judged
        elsewhere, for example by M(rollouts.istio.prometheus_check). A version that gets nothing is still
        noticed, since its missing share shows among the responses that name a version.
    type: float
    default: 0
  fail_task:
    description:
      - Whether a verdict of V(fail) or V(inconclusive) fails the task. With V(false) the task succeeds and
        returns the verdict in RV(verdict) for a later task to decide, for example to roll back.
      - The old name O(fail_on_mismatch) still works, and is deprecated; it will be removed in version 2.0.0.
      - A probe that got no response at all, and invalid options, always fail the task.
    type: bool
    default: true
    aliases: [fail_on_mismatch]
notes:
  - The probe measures the split as the client sees it, through whatever is in between (gateway, caches,
    session affinity). Send enough requests, and keep O(concurrency) modest against small test installations.
seealso:
  - module: rollouts.istio.prometheus_check
    description: Gate on what Istio's own telemetry counted instead.
"""

EXAMPLES = r"""
- name: The tutorial's canary step, as an assertion - 90/10 between the stable v1 and the candidate v2
  rollouts.istio.traffic_probe:
    url: "http://{{ ingress_address }}"
    host: app.example.com
    requests: 300
    expected_weights:
      v1: 90
      v2: 10
  register: probe

- name: A 5 % step needs at least 127 identified responses (requests_needed); send a margin more
  rollouts.istio.traffic_probe:
    url: "http://{{ ingress_address }}"
    host: app.example.com
    requests: 200
    expected_weights: {v1: 95, v2: 5}
    fail_task: false
  register: step_probe

- name: Roll back when the split is not as set, or the probe could not tell
  ansible.builtin.debug:
    msg: "Rolling back: {{ step_probe.reason }}"
  when: step_probe.verdict != 'pass'

- name: Read the version from podinfo's JSON body and allow 10 points either way
  rollouts.istio.traffic_probe:
    url: https://app.example.com/
    validate_certs: false
    version_regex: '"version":\s*"([^"]+)"'
    expected_weights: {v1: 50, v2: 50}
    test: absolute
    tolerance_pp: 10

- name: Testers with the test cookie always reach the candidate v2
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
  description: Responses per version (the responses that named one, whatever their status).
  returned: always
  type: dict
  sample: {v1: 271, v2: 29}
split:
  description: The observed share of each version, in percent of the responses that named a version.
  returned: always
  type: dict
  sample: {v1: 90.33, v2: 9.67}
unidentified:
  description: Responses that named no version (left out of the split, counted against the verdict).
  returned: always
  type: int
  sample: 0
failed_or_unidentified:
  description:
    - Requests that failed (see RV(errors)) or whose response named no version, each counted once; their
      share of RV(requests) is what O(max_error_pct) limits.
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
requests_needed:
  description:
    - How many responses must name their version for the test to notice the version with the smallest
      expected weight getting nothing; with fewer, the verdict is V(inconclusive).
  returned: when expected_weights is set
  type: int
  sample: 60
comparison:
  description:
    - The comparison with O(expected_weights); absent without them.
    - C(test), its parameters (C(confidence) and C(alpha), or C(tolerance_pp)), C(samples) compared (the
      responses that named a version), C(requests_needed), C(statistic), C(df) and C(p_value) (chi_square),
      C(per_version_confidence) (wilson), C(versions) (per version C(observed), C(observed_pct), C(expected),
      C(expected_pct), C(diff_pp), and for wilson C(interval_pct)), C(failed_or_unidentified),
      C(max_error_pct), C(verdict), C(reasons) (why it did not pass) and C(notes) (caveats).
  returned: when expected_weights is set
  type: dict
  sample:
    test: chi_square
    confidence: 0.99
    alpha: 0.01
    samples: 300
    requests_needed: 60
    df: 1
    statistic: 0.0370
    p_value: 0.8474
    failed_or_unidentified: 0
    max_error_pct: 0
    verdict: pass
    reasons: []
    notes: []
    versions:
      v1: {observed: 271, observed_pct: 90.33, expected: 270.0, expected_pct: 90, diff_pp: 0.33}
      v2: {observed: 29, observed_pct: 9.67, expected: 30.0, expected_pct: 10, diff_pp: -0.33}
verdict:
  description:
    - V(pass) or V(fail) when compared with O(expected_weights); V(inconclusive) when nothing failed but
      fewer than RV(requests_needed) responses named their version; V(not compared) without
      O(expected_weights). A probe without any response is V(fail).
  returned: always
  type: str
  sample: pass
reason:
  description:
    - One line that says why. When the verdict is not V(pass) it names each failing version (its share and
      the expected weight), the test's statistic against its threshold, the errors against
      O(max_error_pct), or the responses observed against RV(requests_needed).
  returned: always
  type: str
  sample: "100 identified responses are too few to notice v2 (expected 5%) getting nothing: chi-square at confidence 0.99 needs 127"
reasons:
  description: One line per reason the verdict is not V(pass); empty for a pass.
  returned: always
  type: list
  elements: str
  sample: ["errors: 12 of 200 requests (6.00%) failed or named no version (503 x12), more than max_error_pct 0"]
msg:
  description: One line on the outcome, naming the observed and expected split and RV(reason).
  returned: always
  type: str
  sample: "split v1 90.3% / v2 9.7% (expected v1 90% / v2 10%) matches: chi-square p=0.847 >= 0.01, 300 identified
    responses (60 needed), 0 failed or named no version (max_error_pct 0)"
"""

from ansible_collections.rollouts.istio.plugins.module_utils._core.probe import check_options
from ansible_collections.rollouts.istio.plugins.module_utils._core.split_stats import TESTS
from ansible_collections.rollouts.istio.plugins.module_utils._flows.probe_split import probe_split
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import plain_module, run

MODULE_SPEC = dict(
    url=dict(type="str", required=True),
    host=dict(type="str"),
    path=dict(type="str"),
    method=dict(type="str", default="GET"),
    # Often a credential (Authorization, a cookie): never shown in the task's arguments or result.
    headers=dict(type="dict", default={}, no_log=True),
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
    max_error_pct=dict(type="float", default=0.0),
    fail_task=dict(type="bool", default=True, aliases=["fail_on_mismatch"], deprecated_aliases=[
        dict(name="fail_on_mismatch", version="2.0.0", collection_name="rollouts.istio")]),
)


def probe_traffic(module):
    return probe_split(check_options(module.params))


def main():
    run(plain_module(MODULE_SPEC, mutually_exclusive=[("version_header", "version_regex")], supports_check_mode=True),
        probe_traffic)


if __name__ == "__main__":
    main()
