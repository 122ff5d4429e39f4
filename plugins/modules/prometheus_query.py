#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: prometheus_query
short_description: Run a PromQL query against Prometheus
version_added: 0.1.0
author:
  - rollouts.istio maintainers (@rollouts-istio)
description:
  - Runs an instant query, or a range query when O(start) is set, against the HTTP API of Prometheus
    and returns the samples in a simple shape.
  - Numbers come back as floats. C(NaN), C(+Inf) and C(-Inf) come back as V(null) in RV(samples[].value), with
    Prometheus' own text in RV(samples[].raw), so a comparison in a later task cannot mistake them for a number.
  - Prometheus' C(warnings) (a partial answer) are returned in RV(prometheus_warnings) and shown as Ansible warnings.
  - To gate a release on metrics, use M(rollouts.istio.prometheus_check), which judges values against thresholds.
extends_documentation_fragment:
  - rollouts.istio.prometheus
  - rollouts.istio.attributes
  - rollouts.istio.attributes.ACTIONGROUP_PROMETHEUS
  - rollouts.istio.attributes.READ_ONLY
options:
  query:
    description:
      - The PromQL expression.
    type: str
    required: true
  time:
    description:
      - Evaluation time of an instant query, as a Unix timestamp or an RFC 3339 time. Default is now.
      - Not used with O(start).
    type: str
  start:
    description:
      - Makes this a range query starting at this time.
      - A Unix timestamp, an RFC 3339 time such as V(2026-11-22T03:00:00Z), or a duration such as V(10m) that
        means that long before O(end).
    type: str
  end:
    description:
      - End of a range query, as a Unix timestamp or an RFC 3339 time. Default is now.
    type: str
  step:
    description:
      - Resolution of a range query, as a duration such as V(15s) or a number of seconds.
    type: str
    default: 15s
"""

EXAMPLES = r"""
- name: Request rate of the candidate, by response code
  rollouts.istio.prometheus_query:
    url: http://prometheus.istio-system:9090
    query: >-
      sum by (response_code) (rate(istio_requests_total{reporter="destination",
      destination_workload_namespace="shop", destination_workload="podinfo-candidate"}[1m]))
  register: rate

- name: Success rate of the last 10 minutes, one point a minute
  rollouts.istio.prometheus_query:
    url: "{{ prometheus_url }}"
    token: "{{ prometheus_token }}"
    query: >-
      100 * sum(rate(istio_requests_total{destination_workload="podinfo-candidate",response_code!~"5.*"}[1m]))
      / sum(rate(istio_requests_total{destination_workload="podinfo-candidate"}[1m]))
    start: 10m
    step: 1m
  register: history

- name: Fail when there is no number at all
  ansible.builtin.assert:
    that: rate.samples | length > 0
"""

RETURN = r"""
query:
  description: The query as sent.
  returned: always
  type: str
result_type:
  description: Prometheus' result type.
  returned: success
  type: str
  choices: [vector, matrix, scalar, string]
samples:
  description:
    - The answer, one element per series.
    - For a C(vector), C(scalar) or C(string), each element has C(labels), C(time), C(value) and C(raw).
    - For a C(matrix) (range query), each element has C(labels) and C(points), a list of C(time), C(value), C(raw).
    - C(value) is a float, or null for NaN, infinities and strings; C(raw) is the text Prometheus sent.
  returned: success
  type: list
  elements: dict
  contains:
    labels:
      description: The series' labels.
      type: dict
    time:
      description: Unix time of the sample (vector, scalar, string).
      type: float
    value:
      description: The value as a float, or null for NaN, +Inf, -Inf and strings (vector, scalar, string).
      type: float
    raw:
      description: The value as Prometheus sent it (vector, scalar, string).
      type: str
    points:
      description: The samples of a range query, each with C(time), C(value) and C(raw) as above (matrix).
      type: list
      elements: dict
  sample:
    - labels: {response_code: "200"}
      time: 1795316400.0
      value: 9.5
      raw: "9.5"
prometheus_warnings:
  description: Prometheus' warnings about its answer (a partial answer). Also shown as Ansible warnings.
  returned: success
  type: list
  elements: str
value:
  description: The value when the answer is exactly one number (one series, or a scalar), else null.
  returned: success
  type: float
  sample: 99.5
"""

import time

from ansible_collections.rollouts.istio.plugins.module_utils._core.samples import (
    parse_time, samples, single_value, time_range)
from ansible_collections.rollouts.istio.plugins.module_utils._runner.prometheus_args import client_from_params
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import prometheus_module, run

MODULE_SPEC = dict(
    query=dict(type="str", required=True),
    time=dict(type="str"),
    start=dict(type="str"),
    end=dict(type="str"),
    step=dict(type="str", default="15s"),
)


def query(module):
    p = module.params
    client = client_from_params(p)
    if p["start"]:
        start, end, step = time_range(p["start"], p["end"], p["step"], time.time())
        data = client.query_range(p["query"], start, end, step)
    else:
        data = client.query(p["query"], parse_time(p["time"], "time") if p["time"] else None)
    kind, shaped = samples(data)
    for warning in client.warnings:
        module.warn("Prometheus: %s" % warning)
    return {"changed": False, "query": p["query"], "result_type": kind, "samples": shaped,
            "value": single_value(kind, shaped), "prometheus_warnings": list(client.warnings)}


def main():
    run(prometheus_module(MODULE_SPEC, supports_check_mode=True, mutually_exclusive=[("time", "start")],
                          required_by={"end": "start"}), query)


if __name__ == "__main__":
    main()
