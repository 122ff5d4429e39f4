#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_report
short_description: Write a rollout's decision record as JSON, an HTML report and JUnit XML
version_added: 0.1.0
description:
  - Reads the record of a rollout that M(rollouts.istio.rollout) keeps on its first VirtualService, as
    M(rollouts.istio.rollout_info) reads it, and writes it into O(dest) as
    C(<name>-rollout.json) (every step, weight change, gate and check, with the query as sent, the value,
    the threshold and the verdict; the schema is docs/schemas/rollout-report.schema.json),
    C(<name>-rollout.html) (one self-contained page with the outcome in words, the steps as a timeline, the
    weights and each metric against its threshold as plots, and the verdicts; no script, nothing fetched) and
    C(<name>-gates.junit.xml) (one testcase per gate decision, for CI systems).
  - The files are a function of the record alone (no time of writing in them), so a run over the same record
    changes nothing; a file is rewritten only when its bytes differ, through a rename.
  - Because the record is in the cluster, the report of a resumed or retried rollout covers every run of it.
author:
  - rollouts.istio maintainers (@rollouts-istio)
requirements:
  - kubernetes >= 24.2.0 (the Python client)
options:
  name:
    description: Name of the rollout.
    type: str
    required: true
  namespace:
    description: Namespace of the VirtualService that carries the record.
    type: str
    required: true
  virtual_service:
    description: The VirtualService that carries the record (the first of the rollout's); O(name) when not given.
    type: str
  dest:
    description:
      - The directory to write the files into, made when missing. A relative path is taken from the module's
        current directory (with a local connection, the one C(ansible-playbook) was started in).
    type: path
    required: true
  formats:
    description: Which files to write.
    type: list
    elements: str
    choices: [json, html, junit]
    default: [json, html, junit]
extends_documentation_fragment:
  - rollouts.istio.k8s_auth
  - rollouts.istio.attributes
  - rollouts.istio.attributes.ACTIONGROUP_ISTIO
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads the record and says which files would change (RV(written)); writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: The difference of the JSON file.
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
notes:
  - Needs the verb C(get) on C(virtualservices); writes files only on the host the module runs on.
  - The record keeps the last 50 gate decisions and 50 phase changes, and per decision the last 40 checks
    with each query cut at 1000 characters (see docs/report.md); the report says what it holds.
seealso:
  - module: rollouts.istio.rollout_info
  - module: rollouts.istio.rollout
"""

EXAMPLES = r"""
- name: Write the rollout's record and report
  rollouts.istio.rollout_report:
    name: podinfo
    namespace: demo
    dest: reports
  register: report

- name: Say where they are
  ansible.builtin.debug:
    msg: "The rollout's record: {{ report.paths.json }} and report: {{ report.paths.html }}"
"""

RETURN = r"""
paths:
  description: The absolute path of each format's file, written or not.
  returned: success
  type: dict
  sample: {json: /work/reports/podinfo-rollout.json, html: /work/reports/podinfo-rollout.html,
           junit: /work/reports/podinfo-gates.junit.xml}
written:
  description: The files whose content changed (in check mode, would change).
  returned: success
  type: list
  elements: str
phase:
  description: The rollout's phase, from its record.
  returned: success
  type: str
  sample: Failed
outcome:
  description: C(result) (promoted, rolled back, aborted, waiting for approval, in progress), C(phase) and C(reason) in words.
  returned: success
  type: dict
  sample: {phase: Failed, result: rolled back, reason: "step 1 (10 %): request-success-rate = 50 < min 99 ..."}
gates:
  description: How many gate decisions the report holds.
  returned: success
  type: int
failed_gates:
  description: How many of them failed.
  returned: success
  type: int
"""

from ansible_collections.rollouts.istio.plugins.module_utils._core.params import check_dns_label
from ansible_collections.rollouts.istio.plugins.module_utils._flows.report import write_report
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import (
    connect_istio,
    kubernetes_module,
    run,
)

MODULE_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    virtual_service=dict(type="str"),
    dest=dict(type="path", required=True),
    formats=dict(type="list", elements="str", choices=["json", "html", "junit"], default=["json", "html", "junit"]),
)


def report(module):
    p = module.params
    check_dns_label(p["name"], "name", "rollout name")
    check_dns_label(p["namespace"], "namespace", "namespace")
    result, diff = write_report(lambda: connect_istio(module), p["name"], p["namespace"], p["virtual_service"] or p["name"],
                                p["dest"], p["formats"], check_mode=module.check_mode)
    if module._diff and diff is not None:
        result["diff"] = diff
    return result


def main():
    run(kubernetes_module(MODULE_SPEC, supports_check_mode=True), report)


if __name__ == "__main__":
    main()
