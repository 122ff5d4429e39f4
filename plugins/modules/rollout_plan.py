#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_plan
short_description: Check every option of a rollout and return its steps, gates and names
version_added: 0.1.0
description:
  - The plan of the C(rollouts.istio.shift_traffic) role, as a pure function of its variables. It talks to
    nothing and changes nothing, so the role runs it first and a bad variable fails the run before any
    weight moves.
  - >-
    Every error names the variable as the user set it, O(param_prefix) followed by the option, for example
    C(shift_traffic_steps[2]: must be above the step before (50\), got 40).
  - The strategies. V(weights) takes one step per entry of O(weights). V(canary) takes O(steps), or
    O(step_weight), 2 x O(step_weight) ... up to O(max_weight) (Flagger's C(stepWeight) and C(maxWeight)).
    V(blue_green) takes one step at weight V(0) in which requests with the header
    C(x-rollouts-istio-preview) set to the candidate version reach the candidate (with O(mirror_percent), a
    copy of that share of the traffic instead). V(ab_test) takes one step at weight V(0) in which the requests
    that O(match) reach the candidate. Each step is followed by its gate; then the candidate is promoted to
    100 %. A step of 100 is the promotion itself, so it is not planned twice.
  - Every gate is C(rollouts.istio.prometheus_check) with O(rollouts.istio.prometheus_check#module:until_passed=true),
    Flagger's threshold semantics. O(iterations) checks must pass in each step, and O(threshold) failed checks
    over the whole rollout fail it.
  - The metrics' queries are rendered for the candidate (its namespace, workload, Service and version), so
    the C(metrics) of RV(plan.analysis) show the PromQL each check sends, and can be passed to prometheus_check as it is.
  - The names of the release (subsets, workloads, version labels, host) come from the collection's one
    release mapping (the C(rollouts.istio.release) filter) and are returned in RV(plan.release).
author:
  - rollouts.istio maintainers (@rollouts-istio)
options:
  param_prefix:
    description:
      - What error messages put in front of an option's name, so they name the variable the user set.
      - Use V("") to name the module's own options.
    type: str
    default: shift_traffic_
  name:
    description: The rollout's name, a DNS label. Defaults to O(app).
    type: str
  app:
    description: The app, a DNS label. Its Service, Deployments and DestinationRule subsets are named after it.
    type: str
    required: true
  namespace:
    description: The app's namespace, a DNS label.
    type: str
    required: true
  service:
    description: The Service the routes send to, a DNS label. Defaults to O(app).
    type: str
  stable:
    description: The stable version (for example V(v1)), a DNS label; also the name of its DestinationRule subset.
    type: str
    required: true
  candidate:
    description: The candidate version (for example V(v2)), a DNS label other than O(stable).
    type: str
    required: true
  strategy:
    description:
      - One of V(weights), V(canary), V(blue_green) or V(ab_test).
    type: str
    default: canary
  weights:
    description:
      - V(strategy=weights) only, where it is required. The candidate's weight at each step, each from V(0) to
        V(100), for example V([50, 100]). Only the last may be V(100) (the promotion).
    type: list
    elements: int
  steps:
    description:
      - V(strategy=canary). The candidate's weight at each step, strictly increasing, each from V(1) to V(100).
        A last step below V(100) is followed by the promotion all the same.
      - Defaults to V([10, 50, 100]) unless O(step_weight) is given; give one or the other.
      - Other strategies do not read it.
    type: list
    elements: int
  step_weight:
    description:
      - V(strategy=canary). Steps of O(step_weight), 2 x O(step_weight) ... up to O(max_weight), from V(1) to V(100).
      - V(0) or unset means O(steps) gives the steps.
    type: int
  max_weight:
    description:
      - The highest step of O(step_weight), from O(step_weight) to V(100); V(100) when unset or V(0).
    type: int
  iterations:
    description: How many checks must pass in each step's gate; at least V(1).
    type: int
    default: 1
  interval:
    description: The time between two checks, and the default window of the metrics, as a Prometheus duration.
    type: str
    default: 1m
  threshold:
    description:
      - How many failed checks over the whole rollout fail it (Flagger's C(threshold)); at least V(1).
      - It may exceed O(iterations); a failed check below it adds a check instead of using one up.
    type: int
    default: 2
  min_requests:
    description:
      - The fewest requests the candidate must have served over a metric's window for its value to count
        (as O(rollouts.istio.prometheus_check#module:min_requests)); fewer is no data, which fails the check.
      - A metric's own C(min_requests) wins; V(0) turns the count off.
    type: int
    default: 10
  metrics:
    description:
      - The metrics of every gate, as O(rollouts.istio.prometheus_check#module:metrics) takes them.
      - Defaults to V(request-success-rate) with min V(99) and V(request-duration) with max V(500) (milliseconds).
      - An empty list is refused unless O(allow_no_metrics=true).
    type: list
    elements: dict
    suboptions:
      name:
        description: A built-in metric (V(request-success-rate), V(request-duration)) or a name of your own.
        type: str
        required: true
      query:
        description: PromQL with C(${namespace}), C(${workload}), C(${service}), C(${version}), C(${interval}) and O(vars).
        type: str
      min:
        description: The lowest passing value (inclusive).
        type: float
      max:
        description: The highest passing value (inclusive); not below O(metrics[].min).
        type: float
      interval:
        description: The window of the query; defaults to O(interval).
        type: str
      min_requests:
        description: The fewest requests over the window for the value to count.
        type: int
  vars:
    description: More template variables for custom queries, as O(rollouts.istio.prometheus_check#module:vars).
    type: dict
    default: {}
  allow_no_metrics:
    description: Let an empty O(metrics) through, to gate on the probe and assertions alone.
    type: bool
    default: false
  match:
    description:
      - >-
        The requests that go to the candidate, a list of Istio HTTPMatchRequests, for example
        V([{headers: {x-canary: {exact: insider}}}]). Their fields and string matches are checked.
      - Required for V(strategy=ab_test). For V(strategy=blue_green) it replaces the preview header.
        V(weights) and V(canary) refuse it.
    type: list
    elements: dict
  mirror_percent:
    description:
      - Mirror this share of the route's traffic to the candidate during the steps, from V(0) to V(100); V(0) mirrors nothing.
      - With V(strategy=blue_green) the preview is this mirror instead of the preview header.
    type: float
    default: 0
  virtual_services:
    description:
      - The VirtualServices whose routes move together, each a dict with C(name) (required), C(namespace)
        (default O(namespace)) and C(route) (the HTTP route's name; default the route the collection picks).
      - "The first one carries the rollout's record. Defaults to V([{name: <app>}])."
    type: list
    elements: dict
  prometheus_url:
    description: Prometheus' URL, C(http://) or C(https://). Required when there are O(metrics).
    type: str
  probe:
    description:
      - The options of C(rollouts.istio.traffic_probe) for every step's gate (C(url) with its scheme, C(host),
        C(requests) ...); empty for no probe.
    type: dict
  analyze:
    description: Run C(istioctl analyze) in every gate, V(true), V(false) or V(auto) (when istioctl is found).
    type: raw
    default: true
  approval:
    description:
      - V(none), V(before_promotion) (ask before the promotion) or V(every_step) (before every step after the
        first, and before the promotion).
    type: str
    default: none
  approval_mode:
    description: V(pause) (ask on the terminal) or V(split) (end the run; a second run gives the approval).
    type: str
    default: pause
  on_failure:
    description: What a failed gate does, V(rollback), V(freeze) or V(gradual).
    type: str
    default: rollback
  finalise:
    description: What happens to the stable Deployment after the promotion, V(scale_down), V(delete) or V(keep).
    type: str
    default: scale_down
  finalise_delay:
    description: How long after the promotion to finalise, as a Prometheus duration.
    type: str
    default: 0s
notes:
  - The plan is made by C(plugins/module_utils/_core/rollout_plan.py), unit-tested on its own.
seealso:
  - module: rollouts.istio.prometheus_check
  - module: rollouts.istio.traffic_probe
extends_documentation_fragment:
  - rollouts.istio.attributes
  - rollouts.istio.attributes.READ_ONLY
"""

EXAMPLES = r"""
- name: Plan a canary of podinfo v2, checking every variable first
  rollouts.istio.rollout_plan:
    app: podinfo
    namespace: demo
    stable: v1
    candidate: v2
    steps: [10, 50, 100]
    iterations: 3
    interval: 1m
    threshold: 2
    prometheus_url: http://localhost:9090
  register: rollout_plan

- name: Say what the rollout will do
  ansible.builtin.debug:
    var: rollout_plan.summary

- name: A blue/green preview by header, then the switch
  rollouts.istio.rollout_plan:
    app: podinfo
    namespace: demo
    stable: v1
    candidate: v2
    strategy: blue_green
    iterations: 5
    prometheus_url: http://localhost:9090
    approval: before_promotion

- name: An A/B test of the insiders
  rollouts.istio.rollout_plan:
    app: podinfo
    namespace: demo
    stable: v1
    candidate: v2
    strategy: ab_test
    match:
      - headers:
          x-canary:
            exact: insider
    prometheus_url: http://localhost:9090
"""

RETURN = r"""
plan:
  description: The rollout, checked and spelt out.
  returned: always
  type: dict
  contains:
    name:
      description: The rollout's name.
      type: str
    app:
      description: The app.
      type: str
    namespace:
      description: The namespace.
      type: str
    service:
      description: The Service the routes send to.
      type: str
    strategy:
      description: The strategy.
      type: str
    stable:
      description: The stable version.
      type: str
    candidate:
      description: The candidate version.
      type: str
    release:
      description:
        - Every name of the release, as the C(rollouts.istio.release) filter gives them; C(stable) and C(candidate)
          each have C(version), C(subset), C(workload) and C(labels).
      type: dict
    virtual_services:
      description: The VirtualServices, each C(name), C(namespace) and C(route) (null for the default route).
      type: list
      elements: dict
    steps:
      description: The gated steps, in order.
      type: list
      elements: dict
      contains:
        step:
          description: The step's number, from 1.
          type: int
        weight:
          description: The candidate's weight.
          type: int
        weights:
          description: C(stable) and C(candidate) weights, adding up to 100.
          type: dict
        match:
          description: The HTTPMatchRequests whose requests go to the candidate in this step, or null.
          type: list
          elements: dict
        mirror_percent:
          description: The share of traffic mirrored to the candidate; 0 for none.
          type: float
        approval_before:
          description: Whether the step waits for an approval.
          type: bool
        analysis:
          description: The step's gate, as RV(plan.analysis).
          type: dict
    step_weights:
      description: The candidate's weight at each gated step.
      type: list
      elements: int
    promote:
      description: The promotion, C(weights) (stable 0, candidate 100) and C(approval_before).
      type: dict
    analysis:
      description:
        - The gate of every step. C(interval), C(interval_seconds), C(iterations), C(threshold) and
          C(failed_checks_limit) (the same number), C(until_passed) (true), the candidate's C(namespace),
          C(workload), C(service) and C(version), and C(metrics).
        - C(initial_delay) and C(initial_delay_seconds), the wait before a step's first check; one interval, and
          at least the longest metric window, so the first check reads only traffic of that step's weights.
        - Each of C(metrics) has C(name), C(query) (rendered for the candidate), C(min), C(max), C(interval)
          and C(min_requests), the options prometheus_check takes.
      type: dict
    mirror_percent:
      description: O(mirror_percent).
      type: float
    probe:
      description: O(probe), checked; empty for none.
      type: dict
    prometheus_url:
      description: O(prometheus_url), or null.
      type: str
    analyze:
      description: V(true), V(false) or V(auto).
      type: raw
    approval:
      description: O(approval).
      type: str
    approval_mode:
      description: O(approval_mode).
      type: str
    on_failure:
      description: O(on_failure).
      type: str
    finalise:
      description: O(finalise).
      type: str
    finalise_delay:
      description: O(finalise_delay).
      type: str
    finalise_delay_seconds:
      description: O(finalise_delay) in seconds.
      type: float
summary:
  description: The plan in words, one line per step, then the promotion, the finalising and what a failed gate does.
  returned: always
  type: list
  elements: str
  sample:
    - "step 1: stable v1 90 % / candidate v2 10 %; gate: request-success-rate >= 99, request-duration <= 500 ms,
      1 check every 1m (failed checks over the rollout: limit 2), istioctl analyze"
    - "promote: stable v1 0 % / candidate v2 100 %"
"""

from ansible_collections.rollouts.istio.plugins.module_utils._core.rollout_plan import DEFAULT_PREFIX, plan
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import plain_module, run

MODULE_SPEC = dict(
    param_prefix=dict(type="str", default=DEFAULT_PREFIX),
    name=dict(type="str"),
    app=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    service=dict(type="str"),
    stable=dict(type="str", required=True),
    candidate=dict(type="str", required=True),
    strategy=dict(type="str", default="canary"),
    weights=dict(type="list", elements="int"),
    steps=dict(type="list", elements="int"),
    step_weight=dict(type="int"),
    max_weight=dict(type="int"),
    iterations=dict(type="int", default=1),
    interval=dict(type="str", default="1m"),
    threshold=dict(type="int", default=2),
    min_requests=dict(type="int", default=10),
    metrics=dict(type="list", elements="dict", options=dict(
        name=dict(type="str", required=True),
        query=dict(type="str"),
        min=dict(type="float"),
        max=dict(type="float"),
        interval=dict(type="str"),
        min_requests=dict(type="int"),
    )),
    vars=dict(type="dict", default={}),
    allow_no_metrics=dict(type="bool", default=False),
    match=dict(type="list", elements="dict"),
    mirror_percent=dict(type="float", default=0),
    virtual_services=dict(type="list", elements="dict"),
    prometheus_url=dict(type="str"),
    probe=dict(type="dict"),
    analyze=dict(type="raw", default=True),
    approval=dict(type="str", default="none"),
    approval_mode=dict(type="str", default="pause"),
    on_failure=dict(type="str", default="rollback"),
    finalise=dict(type="str", default="scale_down"),
    finalise_delay=dict(type="str", default="0s"),
)


def plan_rollout(module):
    return dict(plan(module.params), changed=False)


def main():
    run(plain_module(MODULE_SPEC, supports_check_mode=True), plan_rollout)


if __name__ == "__main__":
    main()
