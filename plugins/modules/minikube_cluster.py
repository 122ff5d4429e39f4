#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: minikube_cluster
short_description: Start, stop or delete a minikube cluster with the settings asked for
version_added: 0.1.0
description:
  - Reads C(minikube profile list -o json), compares the profile's settings with the ones asked for,
    and runs the C(minikube) command lines that bring the cluster to O(state).
  - A running cluster with the same settings is left alone (C(changed=false)). A cluster whose settings
    differ is reported (RV(differences), a warning) and left as it is, unless O(recreate=true).
  - In check mode nothing runs; RV(commands) lists the exact command lines that would run.
  - Fails before anything runs when a cluster would be created with less memory or fewer CPUs than
    O(min_memory) and O(min_cpus), or with more than this host has.
author:
  - rollouts.istio maintainers (@rollouts-istio)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Only C(minikube profile list) runs; RV(commands) shows what would run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
options:
  minikube:
    description: The minikube binary (a path, or a name looked up on E(PATH)).
    type: path
    default: minikube
  profile:
    description: The minikube profile (cluster) name; also the name of its kubeconfig context.
    type: str
    default: minikube
  state:
    description:
      - V(started) creates the cluster or starts it again; V(stopped) stops it; V(absent) deletes it.
    type: str
    choices: [started, stopped, absent]
    default: started
  memory:
    description: Memory of the cluster, in MB (V(8192)) or with a unit (V(8g)). Not compared when unset.
    type: str
  cpus:
    description: CPUs of the cluster. Not compared when unset.
    type: int
  kubernetes_version:
    description: Kubernetes version, such as V(v1.34.0). Not compared when unset.
    type: str
  driver:
    description: minikube driver, such as V(docker), V(kvm2) or V(none). Not compared when unset.
    type: str
  container_runtime:
    description: Container runtime, such as V(docker), V(containerd) or V(cri-o). Not compared when unset.
    type: str
  extra_config:
    description:
      - Component options as C(component.key=value), each passed as C(--extra-config).
      - Each one asked for must be set on the cluster; options the cluster has beyond them are not a difference.
    type: list
    elements: str
    default: []
  start_args:
    description: More arguments for C(minikube start), passed as they are and not compared.
    type: list
    elements: str
    default: []
  recreate:
    description: Delete and start again a cluster whose settings differ from the ones asked for.
    type: bool
    default: false
  wait_timeout:
    description: Seconds C(minikube start) waits for the cluster's components (its C(--wait-timeout)).
    type: int
  min_memory:
    description: The least memory (MB or with a unit) the workload needs; a new cluster with less is refused.
    type: str
  min_cpus:
    description: The fewest CPUs the workload needs; a new cluster with fewer is refused.
    type: int
  workload:
    description: What O(min_memory) and O(min_cpus) are for, named in the failure message.
    type: str
    default: the workload
  minikube_home:
    description: E(MINIKUBE_HOME) for every minikube command; minikube's own default when unset.
    type: path
  kubeconfig:
    description: E(KUBECONFIG) for every minikube command; minikube's own default when unset.
    type: path
notes:
  - The plan is made by a pure function (C(plugins/module_utils/_core/minikube_plan.py)) that is unit-tested on its own.
"""

EXAMPLES = r"""
- name: A cluster for Istio's demo profile
  rollouts.istio.minikube_cluster:
    minikube: /usr/local/bin/minikube
    profile: istio-demo
    memory: 8192
    cpus: 4
    kubernetes_version: v1.34.0
    driver: docker
    min_memory: 8192
    min_cpus: 4
    workload: "Istio's demo profile"

- name: Show what would run
  rollouts.istio.minikube_cluster:
    profile: istio-demo
    memory: 8g
  check_mode: true
  register: plan

- name: Delete it
  rollouts.istio.minikube_cluster:
    profile: istio-demo
    state: absent
"""

RETURN = r"""
action:
  description: What was (or in check mode would be) done.
  returned: always
  type: str
  sample: create
commands:
  description: The command lines that ran (or in check mode would run), in order.
  returned: always
  type: list
  elements: str
  sample: ["minikube start -p istio-demo --driver=docker --memory=8192 --cpus=4"]
differences:
  description: Settings of the existing cluster that differ from the ones asked for.
  returned: always
  type: list
  elements: dict
  sample: [{"setting": "memory_mb", "current": 4096, "desired": 8192}]
drift:
  description: True when the cluster differs from the settings asked for and was left as it is.
  returned: always
  type: bool
status:
  description: The cluster before this run, V(missing), V(running), V(paused) or V(stopped).
  returned: always
  type: str
profile:
  description: The profile's entry of C(minikube profile list -o json) before this run, if it existed.
  returned: always
  type: dict
"""

from ansible_collections.rollouts.istio.plugins.module_utils._edges.minikube_cli import MinikubeCli, host_cpus, host_memory_mb
from ansible_collections.rollouts.istio.plugins.module_utils._flows.minikube_cluster import ensure_cluster
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import plain_module, run

MODULE_SPEC = dict(
    minikube=dict(type="path", default="minikube"),
    profile=dict(type="str", default="minikube"),
    state=dict(type="str", default="started", choices=["started", "stopped", "absent"]),
    memory=dict(type="str"),
    cpus=dict(type="int"),
    kubernetes_version=dict(type="str"),
    driver=dict(type="str"),
    container_runtime=dict(type="str"),
    extra_config=dict(type="list", elements="str", default=[]),
    start_args=dict(type="list", elements="str", default=[]),
    recreate=dict(type="bool", default=False),
    wait_timeout=dict(type="int"),
    min_memory=dict(type="str"),
    min_cpus=dict(type="int"),
    workload=dict(type="str", default="the workload"),
    minikube_home=dict(type="path"),
    kubeconfig=dict(type="path"),
)


def minikube_cluster(module):
    p = module.params
    cli = MinikubeCli(module.run_command, module.get_bin_path, p["minikube"], p["minikube_home"], p["kubeconfig"])
    return ensure_cluster(p, cli, module.check_mode, module.warn, host_memory_mb(), host_cpus())


def main():
    run(plain_module(MODULE_SPEC, supports_check_mode=True), minikube_cluster)


if __name__ == "__main__":
    main()
