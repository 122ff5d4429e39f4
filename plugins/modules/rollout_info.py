#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_info
short_description: Read a rollout's record, what a re-run would do, and its live weights
version_added: 0.1.0
description:
  - Reads the record of a rollout that M(rollouts.istio.rollout) keeps on its first VirtualService
    (phase, step, weights, stable and candidate, the run holding it, and every gate's decision).
  - Reads the live weights of every VirtualService of the rollout, and says what a playbook run that
    finds the rollout in its phase does (RV(rerun)), as the table of docs/rollout.md says.
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
  candidate:
    description:
      - The candidate version this run releases; with O(candidate_workload), RV(rerun) is told for its revision
        only when the record is of this candidate. The record's candidate when not given.
    type: str
  candidate_workload:
    description:
      - The candidate's workload. With it, RV(revision) is its revision now, and RV(rerun) says what a start
        of that revision does, as M(rollouts.istio.rollout) would do it (C(start) for a new revision of an
        active or a rolled-back rollout, C(refuse) for a promoted version changed in place).
    type: dict
    suboptions:
      kind:
        description: The workload's kind.
        type: str
        choices: [Deployment, DaemonSet]
        default: Deployment
      name:
        description: Its name.
        type: str
        required: true
      namespace:
        description: Its namespace; O(namespace) when not given.
        type: str
  cluster_domain:
    description: DNS domain of the cluster, used to expand short host names.
    type: str
    default: cluster.local
extends_documentation_fragment:
  - rollouts.istio.k8s_auth
  - rollouts.istio.attributes
  - rollouts.istio.attributes.ACTIONGROUP_ISTIO
  - rollouts.istio.attributes.READ_ONLY
notes:
  - Needs the verb C(get) on C(virtualservices).
seealso:
  - module: rollouts.istio.rollout
"""

EXAMPLES = r"""
- name: Where is the rollout?
  rollouts.istio.rollout_info:
    name: podinfo
    namespace: demo
  register: status

- name: Show it
  ansible.builtin.debug:
    msg: "{{ status.phase }} at step {{ status.rollout.step | default(0) }}: {{ status.weights }}"
"""

RETURN = r"""
exists:
  description: Whether the VirtualService carries a record of this rollout.
  returned: success
  type: bool
  sample: true
phase:
  description: The rollout's phase; null when there is no record.
  returned: success
  type: str
  sample: Progressing
rollout:
  description: The record, as M(rollouts.istio.rollout) returns it; empty when there is none.
  returned: success
  type: dict
revision:
  description: The candidate's revision now, with O(candidate_workload); null otherwise or when it does not exist.
  returned: success
  type: str
  sample: 3f9a1c0d5e7b2a48
rerun:
  description: What a run that finds the rollout in this phase does, C({action, why}).
  returned: success
  type: dict
  sample: {action: continue, why: "continue from the recorded step, with its gate run again"}
weights:
  description: The live weights of the controlled route of each VirtualService (C(namespace/name)).
  returned: success
  type: dict
  sample: {demo/podinfo: {stable: 90, candidate: 10}}
virtual_services:
  description: For each VirtualService, its route, weights, the rollout's own route and mirror, as live now.
  returned: success
  type: dict
weights_changed:
  description:
    - When the first VirtualService's controlled route does not have the weights the rollout last wrote
      (someone else set them), what was found, the weights recorded and a message; else null.
    - M(rollouts.istio.rollout) refuses every action but rollback and abort while this is so.
  returned: success
  type: dict
  sample: {virtual_service: demo/podinfo, route: primary, live: {stable: 70, candidate: 30},
           recorded: {stable: 50, candidate: 50}, msg: "rollout podinfo: ... someone else changed them ..."}
"""

from ansible_collections.rollouts.istio.plugins.module_utils._core.params import check_dns_label
from ansible_collections.rollouts.istio.plugins.module_utils._edges.workloads import WorkloadReader
from ansible_collections.rollouts.istio.plugins.module_utils._flows.revision import check_workload
from ansible_collections.rollouts.istio.plugins.module_utils._flows.rollout import info
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import (
    connect_istio,
    kubernetes_module,
    run,
)

MODULE_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    virtual_service=dict(type="str"),
    candidate=dict(type="str"),
    candidate_workload=dict(type="dict", options=dict(
        kind=dict(type="str", default="Deployment", choices=["Deployment", "DaemonSet"]),
        name=dict(type="str", required=True),
        namespace=dict(type="str"),
    )),
    cluster_domain=dict(type="str", default="cluster.local"),
)


def read(module):
    p = module.params
    check_dns_label(p["name"], "name", "rollout name")
    check_dns_label(p["namespace"], "namespace", "namespace")
    workload = check_workload(p["candidate_workload"], p["namespace"]) if p["candidate_workload"] else None
    api = connect_istio(module)
    result = info(api, p["name"], p["namespace"], p["virtual_service"] or p["name"], domain=p["cluster_domain"],
                  workloads=WorkloadReader(api.client), workload=workload, candidate=p["candidate"])
    result["changed"] = False
    return result


def main():
    run(kubernetes_module(MODULE_SPEC, supports_check_mode=True), read)


if __name__ == "__main__":
    main()
