#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: prometheus_check
short_description: Gate a release step on Prometheus metrics of the candidate version
version_added: 0.1.0
author:
  - rollouts.istio maintainers (@rollouts-istio)
description:
  - The analysis gate of a canary or blue/green step. It runs O(iterations) checks, one every O(interval).
    In each check every metric of O(metrics) is queried once and judged against its O(metrics[].min) and
    O(metrics[].max) (both inclusive); a check fails when any of its metrics fails.
  - O(iterations) is the observation time asked for, so every one of the checks runs
    (as Flagger's blue/green runs all its iterations). The analysis fails, and stops at once, as soon as the
    failed checks (with O(failed_checks_so_far)) reach O(failed_checks_limit). With O(stop_early_on_pass=true)
    it also passes, and stops, as soon as the checks left could no longer reach the limit.
    With O(until_passed=true) a failed check below the limit does not use up an iteration, so the analysis runs
    until O(iterations) checks have passed.
  - A pass needs evidence. A check passes only when every metric passed on data, and the analysis passes only
    when at least one check passed and the failed checks stayed below the limit.
  - Two metrics are built in, as Istio practice (and Flagger) defines them, scoped to the candidate's own
    workload with C(reporter="destination") so the stable version's healthy traffic cannot hide the
    candidate's failures. V(request-success-rate) is the percentage of requests not answered with a 5xx,
    from C(istio_requests_total); a candidate that had requests and answered none of them without a 5xx
    has a success rate of V(0), not no data. V(request-duration) is the 99th percentile of the request duration in
    milliseconds, from C(istio_request_duration_milliseconds_bucket).
  - The built-in queries and the default O(requests_query) count what each series counted over the window, with
    C(increase()) for a series older than the window and the whole value of a series born inside it. A new
    series (a candidate's first 5xx, a new pod) has no C(rate()) until its second sample in the window, and a
    ratio of rates would leave those errors out; here they count from their first scrape.
  - Any other metric is a PromQL query in O(metrics[].query) that returns one number. It may use the template
    variables C(${namespace}), C(${workload}), C(${service}), C(${version}), C(${interval}) (the metric's window)
    and any key of O(vars). The C(${}) form is used because Ansible would render C({{ }}) itself.
  - Values are escaped for where they stand. Inside a string literal (C("${workload}")) a C(") or C(\\) stays
    part of the value, so a value can never change the query; outside one only a number, a duration or a name
    is accepted.
  - No data (an empty answer, C(NaN), or fewer requests than O(min_requests)) is never taken for a pass;
    O(no_data) decides what it counts as. C(+Inf) or C(-Inf) beyond a bound is a breach (a p99 slower than the
    highest histogram bucket is C(+Inf), which fails a O(metrics[].max)); an infinity within the bounds is no data.
  - The result records every check (rendered query, value, thresholds, verdict, time, Prometheus' warnings), the
    overall RV(verdict), a one-line RV(reason) and the list RV(reasons) that name each failing or skipped metric,
    its value and its threshold.
  - Prometheus' C(warnings) (a partial answer, for example from a federated or Thanos query) are returned in
    RV(prometheus_warnings) and in each check record, and shown as Ansible warnings.
  - See docs/analysis.md in the collection for a worked example.
  - When the task runs on the controller (connection C(local), as the collection's roles run it), an action plugin runs
    the same analysis in Ansible's own worker and shows one line per check as it is made, with each metric's value,
    threshold and verdict, for example C(check 2 of 3) with C(request-success-rate = 100) against C(min 99), C(pass).
    The task variable C(prometheus_check_progress_label) names the analysis in those lines. Elsewhere (another host,
    C(become), C(async)) it runs as a module, which shows nothing until it ends. The result is the same.
  - This module only reads. It never reports C(changed), and runs as usual in check mode.
extends_documentation_fragment:
  - rollouts.istio.prometheus
  - rollouts.istio.attributes
  - rollouts.istio.attributes.ACTIONGROUP_PROMETHEUS
  - rollouts.istio.attributes.READ_ONLY
options:
  metrics:
    description:
      - The metrics each check measures.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - V(request-success-rate) or V(request-duration) for a built-in metric, or a name of your own for a
            metric with a O(metrics[].query).
        type: str
        required: true
      query:
        description:
          - PromQL that returns one number (one series, or a scalar), with C(${variable}) placeholders.
          - Required unless O(metrics[].name) is a built-in metric; for a built-in one it replaces the built-in query.
          - An answer with more than one series fails the gate; aggregate it, for example with C(sum()).
        type: str
      min:
        description:
          - The lowest passing value (inclusive), for example V(99) for a success rate in percent.
          - At least one of O(metrics[].min) and O(metrics[].max) is required.
        type: float
      max:
        description:
          - The highest passing value (inclusive), for example V(500) for a duration in milliseconds.
        type: float
      interval:
        description:
          - The window of the metric's query, its C(${interval}), as a Prometheus duration such as V(1m).
          - Defaults to O(interval).
        type: str
      min_requests:
        description:
          - Overrides O(min_requests) for this metric; V(0) turns the request count off for it.
        type: int
  namespace:
    description:
      - Namespace of the candidate workload, C(${namespace}) in queries. Needed by the built-in metrics.
    type: str
  workload:
    description:
      - Workload (Deployment) name of the candidate, for example V(podinfo-candidate) or V(reviews-v2),
        C(${workload}) in queries. Needed by the built-in metrics.
      - B(It is a regular expression.) The built-in queries match it with C(destination_workload=~), anchored at both
        ends, so V(podinfo-candidate) matches only that workload but V(podinfo-.*) matches every workload of podinfo, the stable one
        included. Escape C(.) and other regex characters that are meant literally.
    type: str
  service:
    description:
      - Service name, C(${service}) in queries.
    type: str
  version:
    description:
      - Version label of the candidate, C(${version}) in queries.
    type: str
  vars:
    description:
      - More template variables for custom queries. They may not replace the ones above.
    type: dict
    default: {}
  interval:
    description:
      - Time between two checks, as a Prometheus duration such as V(30s) or V(1m).
      - Also the default window of every metric.
    type: str
    default: 1m
  iterations:
    description:
      - How many checks the analysis runs, one every O(interval), which is the observation time. All of them run unless
        one makes the failed checks reach O(failed_checks_limit), or O(stop_early_on_pass) is set.
      - At least V(1).
    type: int
    default: 1
  stop_early_on_pass:
    description:
      - Pass, and stop, as soon as at least one check passed and the checks left could no longer make the failed
        checks reach O(failed_checks_limit), instead of running every iteration.
      - Off by default, because O(iterations) is the observation time asked for.
      - Cannot be combined with O(until_passed).
    type: bool
    default: false
  until_passed:
    description:
      - Flagger's threshold semantics. A check that fails while the failed checks (with O(failed_checks_so_far))
        stay below O(failed_checks_limit) does not use up one of O(iterations); the analysis goes on until
        O(iterations) checks have passed (RV(verdict=pass)) or the failed checks reach O(failed_checks_limit)
        (RV(verdict=fail)).
      - It runs at most RV(max_checks) = O(iterations) + (O(failed_checks_limit) - O(failed_checks_so_far)) - 1 checks.
        A check skipped for no data (O(no_data=skip)) counts towards that cap; when the passed checks still
        needed can no longer fit in it, the analysis fails, and RV(reason) says how many passed of how many needed.
      - With it, O(failed_checks_limit) may exceed O(iterations), as Flagger's C(threshold) may exceed its
        C(iterations).
      - The C(rollouts.istio.shift_traffic) role gates every step this way, with one limit over the whole rollout.
      - Cannot be combined with O(stop_early_on_pass).
    type: bool
    default: false
  failed_checks_limit:
    description:
      - The analysis fails when this many checks have failed (Flagger's C(threshold)).
      - Between V(1) and O(iterations); a limit the checks could never reach would let every analysis pass.
        With O(until_passed=true) any limit from V(1) up, since every failed check then adds a check.
      - Counted with O(failed_checks_so_far), so one limit can hold over all the steps of a canary.
    type: int
    default: 1
  failed_checks_so_far:
    description:
      - Failed checks of earlier steps of the same rollout, counted against O(failed_checks_limit) with this
        analysis' own. Pass the RV(failed_checks_total) of the previous step's gate.
      - When it already reaches O(failed_checks_limit), the analysis fails at once, without a query.
      - V(0) or more.
    type: int
    default: 0
  initial_delay:
    description:
      - Time to wait before the first check, for example to let the window fill with traffic after a weight change.
    type: str
    default: 0s
  no_data:
    description:
      - What a metric without data counts as.
      - V(fail) fails the check.
      - V(skip) counts the check as neither passed nor failed (it still uses up an iteration); a check in which any
        metric had no data never passes. A metric with data that fails still fails the check. An analysis in which
        no check passed fails, and its RV(reason) names every skipped metric. So V(skip) tolerates gaps between
        checks with data; it never lets a gate pass without data.
      - V(wait) measures again after O(interval) without counting, until O(no_data_timeout) after the start
        (after O(initial_delay)); from then on no data fails the check.
    type: str
    choices: [fail, skip, wait]
    default: fail
  no_data_timeout:
    description:
      - How long O(no_data=wait) waits for data, as a Prometheus duration.
    type: str
    default: 5m
  min_requests:
    description:
      - The fewest requests the workload must have served over a metric's window for its value to count.
        Fewer is no data, and O(no_data) decides.
      - Counted with O(requests_query), one query per window and check. V(0) (or more) counts nothing.
    type: int
    default: 0
  requests_query:
    description:
      - The PromQL that counts requests for O(min_requests), with the same placeholders.
      - >-
        Defaults to the requests the candidate's own proxies saw over the window, from
        C(istio_requests_total{reporter="destination",destination_workload_namespace="${namespace}",
        destination_workload=~"${workload}"}), a series born inside the window counted with its whole value.
    type: str
  fail_task:
    description:
      - Whether a verdict of V(fail) fails the task.
      - The old name O(fail_on_breach) still works, and is deprecated; it will be removed in version 2.0.0.
      - With V(false) the task succeeds and reports RV(verdict=fail), so that a later task can decide, for example to roll back.
      - Errors of Prometheus (unreachable, wrong credentials, invalid PromQL ...) fail the analysis too, so the gate fails closed.
        Invalid options always fail the task.
    type: bool
    default: true
    aliases: [fail_on_breach]
notes:
  - The run time of a passing analysis is about O(initial_delay) + (O(iterations) - 1) x O(interval), plus O(no_data_timeout)
    with O(no_data=wait), plus the queries themselves. Set the task's C(timeout) accordingly, if at all.
"""

EXAMPLES = r"""
- name: Gate the canary step as the Istio tutorial does (success rate >= 99 %, p99 <= 500 ms)
  rollouts.istio.prometheus_check:
    url: http://prometheus.istio-system:9090
    namespace: shop
    workload: podinfo-candidate
    metrics:
      - name: request-success-rate
        min: 99
      - name: request-duration
        max: 500
    interval: 1m
    iterations: 10
    failed_checks_limit: 5
    min_requests: 20

- name: Report only, and roll back in the next task
  rollouts.istio.prometheus_check:
    namespace: shop
    workload: podinfo-candidate
    metrics:
      - name: request-success-rate
        min: 99
    interval: 30s
    iterations: 4
    no_data: wait
    no_data_timeout: 2m
    fail_task: false
  register: gate

- name: Say why before rolling back
  ansible.builtin.debug:
    msg: "Rolling back: {{ gate.reason }}"
  when: gate.verdict == 'fail'

- name: Count failed checks over all the steps of a canary, against one limit of 3
  rollouts.istio.prometheus_check:
    namespace: bookinfo
    workload: reviews-v2
    metrics:
      - name: request-success-rate
        min: 99
    interval: 1m
    iterations: 3
    failed_checks_limit: 3
    failed_checks_so_far: "{{ failed_so_far | default(0) }}"
    fail_task: false
  register: step_gate

- name: Carry the count into the next step's gate
  ansible.builtin.set_fact:
    failed_so_far: "{{ step_gate.failed_checks_total }}"

- name: Roll back once the limit is reached
  ansible.builtin.fail:
    msg: "{{ step_gate.reason }}"
  when: step_gate.verdict == 'fail'

- name: Flagger's way - failed checks below the limit add checks; pass after 5 passed checks
  rollouts.istio.prometheus_check:
    namespace: shop
    workload: podinfo-v2
    metrics:
      - name: request-success-rate
        min: 99
    interval: 30s
    iterations: 5
    until_passed: true
    failed_checks_limit: 8
    failed_checks_so_far: "{{ failed_so_far | default(0) }}"

- name: A custom metric with a variable of your own
  rollouts.istio.prometheus_check:
    namespace: shop
    workload: podinfo-candidate
    version: candidate
    vars:
      container: podinfo
    metrics:
      - name: restarts
        query: >-
          sum(increase(kube_pod_container_status_restarts_total{namespace="${namespace}",
          container="${container}"}[${interval}]))
        max: 0
        interval: 5m
"""

RETURN = r"""
verdict:
  description: V(pass) or V(fail).
  returned: always
  type: str
  sample: fail
reasons:
  description:
    - One line per failing or skipped metric, naming its value, its threshold and in how many checks; on an error,
      the error. Empty for a pass in which every check passed.
  returned: always
  type: list
  elements: str
  sample: ["request-success-rate = 94.7 < min 99 in 3 of 4 checks"]
prometheus_warnings:
  description: Prometheus' warnings (a partial answer) of every query, each once. Also shown as Ansible warnings.
  returned: always
  type: list
  elements: str
reason:
  description:
    - One line that says why. On a failure it names each failing metric, its last failing value and its threshold,
      and in how many checks it failed; on an error, the error.
  returned: always
  type: str
  sample: request-success-rate = 94.7 < min 99 in 3 of 4 checks (failed_checks_limit 3 reached)
checks:
  description:
    - One record per metric and check, in the order they were made.
    - Records of a check that waited for data (O(no_data=wait)) repeat the same C(iteration) with another C(attempt).
  returned: always
  type: list
  elements: dict
  contains:
    iteration:
      description: The check this record belongs to, from 1.
      type: int
    attempt:
      description: The measurement this record comes from, from 1; higher than C(iteration) after waiting for data.
      type: int
    metric:
      description: The metric's name.
      type: str
    query:
      description: The query as rendered and sent.
      type: str
    value:
      description: The value, or null when there was no data.
      type: float
    raw:
      description: Prometheus' text for a value that is no number (C(NaN), C(+Inf), C(-Inf)).
      type: str
      returned: when the value was not finite
    min:
      description: The metric's min.
      type: float
    max:
      description: The metric's max.
      type: float
    no_data:
      description: Why there was no data, for example C(query returned NaN) or C(3 requests < min_requests 20).
      type: str
      returned: when the metric had no data
    requests:
      description: Requests counted over the window; null when the count was not a number (see RV(checks[].requests_raw)).
      type: float
      returned: when min_requests applies
    requests_raw:
      description: The request count as Prometheus answered it, when it was not a number of requests (C(NaN), C(+Inf)).
      type: str
      returned: when the request count was NaN or an infinity
    min_requests:
      description: The fewest requests that count.
      type: int
      returned: when min_requests applies
    requests_query:
      description: The request-count query as sent.
      type: str
      returned: when min_requests applies
    verdict:
      description: V(pass), V(fail), V(skip), V(wait) (no data, measured again), or V(error).
      type: str
    reason:
      description: One line, for example C(request-duration = 1003.2 > max 500).
      type: str
    time:
      description: When the measurement was made (UTC, ISO 8601).
      type: str
    prometheus_warnings:
      description: Prometheus' warnings with the answers of this record's queries.
      type: list
      elements: str
      returned: when Prometheus warned
  sample:
    - iteration: 1
      attempt: 1
      metric: request-success-rate
      query: 100 * (sum((increase(istio_requests_total{...,response_code!~"5.*"}[1m]) and ...) or ...) or vector(0)) / sum(...)
      value: 94.7
      min: 99.0
      max: null
      verdict: fail
      reason: request-success-rate = 94.7 < min 99
      time: "2026-11-22T03:10:00.512Z"
failed_checks:
  description: How many checks of this analysis failed.
  returned: always
  type: int
failed_checks_so_far:
  description: O(failed_checks_so_far), for reference.
  returned: always
  type: int
failed_checks_total:
  description: O(failed_checks_so_far) plus RV(failed_checks); pass it to the next step's O(failed_checks_so_far).
  returned: always
  type: int
skipped_checks:
  description: How many checks had a metric without data and were skipped (O(no_data=skip)).
  returned: always
  type: int
passed_checks:
  description: How many checks passed.
  returned: always
  type: int
until_passed:
  description: O(until_passed), for reference.
  returned: always
  type: bool
max_checks:
  description:
    - The most checks the analysis runs, O(iterations); with O(until_passed),
      O(iterations) + (O(failed_checks_limit) - O(failed_checks_so_far)) - 1.
  returned: always
  type: int
iterations_run:
  description: How many checks were counted.
  returned: always
  type: int
iterations:
  description: O(iterations), for reference.
  returned: always
  type: int
failed_checks_limit:
  description: O(failed_checks_limit), for reference.
  returned: always
  type: int
stopped_early:
  description:
    - Whether the analysis stopped before O(iterations) checks, on a failure or with O(stop_early_on_pass).
    - With O(until_passed), whether it failed before RV(max_checks) checks.
  returned: always
  type: bool
error:
  description: The error that stopped the analysis (Prometheus unreachable, wrong credentials, invalid PromQL ...).
  returned: when an error stopped the analysis
  type: str
queries:
  description: How many queries were sent to Prometheus (retries not counted).
  returned: always
  type: int
elapsed:
  description: Seconds the analysis took.
  returned: always
  type: float
decided_at:
  description: When the analysis reached its verdict, UTC, as RFC 3339 (what a rollback's speed is measured from).
  returned: always
  type: str
  sample: "2026-12-02T17:40:01.123456Z"
"""

from ansible_collections.rollouts.istio.plugins.module_utils._runner.prometheus_gate import MODULE_SPEC, analyse_module
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import prometheus_module, run


def main():
    run(prometheus_module(MODULE_SPEC, supports_check_mode=True), analyse_module)


if __name__ == "__main__":
    main()
