#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: istio_install_plan
short_description: Decide what an Istio install run does, and the istioctl command lines for it
version_added: 0.1.0
description:
  - The plan of the C(rollouts.istio.install_istio) role, as a pure function of what the role read from
    the cluster (O(record), O(istiod)) and the settings asked for. It talks to nothing and changes nothing.
  - RV(action) is V(install) when istiod is not there, V(upgrade) when it runs another version,
    V(reconfigure) when the recorded settings hash differs (or there is no record), V(none) when version
    and settings are the same; with O(state=absent), V(uninstall) when istiod or a record is there, else V(none).
  - The settings hash covers the version, profile, namespace, revision, C(--set) values, overrides, the
    content of the override files and the ingress service type.
author:
  - rollouts.istio maintainers (@rollouts-istio)
options:
  state:
    description: V(present) to install or upgrade, V(absent) to uninstall.
    type: str
    choices: [present, absent]
    default: present
  version:
    description: The Istio release asked for, as istioctl reports it.
    type: str
    required: true
  istioctl_path:
    description:
      - An istioctl binary to run; its release directory is the parent of its C(bin/) directory.
      - Empty means the pinned release, unpacked as C(<install_dir>/istio-<version>/bin/istioctl).
    type: str
    default: ""
  profile:
    description: The istioctl profile.
    type: str
    default: demo
  namespace:
    description: The Istio namespace, a DNS-1123 label.
    type: str
    default: istio-system
  revision:
    description: The control plane revision; empty for the default one.
    type: str
    default: ""
  set:
    description: IstioOperator values, a dict (sorted, booleans as V(true)/V(false)) or a list of V(path=value) strings.
    type: raw
    default: {}
  overrides:
    description: An IstioOperator, or only its spec; RV(overrides_document) is the file to pass with C(-f).
    type: dict
    default: {}
  overrides_file:
    description: Where the role wrote RV(overrides_document); C(OVERRIDES.yaml) stands in for it when unset (check mode).
    type: str
  override_files:
    description: IstioOperator files passed with C(-f) in this order.
    type: list
    elements: str
    default: []
  override_files_content:
    description: The base64 content of each of O(override_files), as C(ansible.builtin.slurp) returns it, for the hash.
    type: list
    elements: str
    default: []
  ingress_service_type:
    description: Type of the ingress gateway Service; empty keeps the profile's.
    type: str
    default: ""
  kubeconfig:
    description: Kubeconfig file passed to istioctl; empty passes none.
    type: str
    default: ""
  context:
    description: Kubeconfig context passed to istioctl; empty passes none.
    type: str
    default: ""
  wait_timeout:
    description: Seconds for istioctl's C(--readiness-timeout); at least 1.
    type: int
    default: 300
  record:
    description: The C(data) of the record ConfigMap of the last install; empty when there is none.
    type: dict
    default: {}
  istiod:
    description: The istiod Deployment found (at least its C(labels), even if empty); empty when there is none.
    type: dict
    default: {}
  injection_namespaces:
    description: Namespaces labelled for injection; with the Istio namespace, what C(istioctl analyze) looks at by default.
    type: list
    elements: str
    default: []
  analyze_namespaces:
    description: Namespaces C(istioctl analyze) looks at instead.
    type: list
    elements: str
    default: []
  prometheus_manifest:
    description: The Prometheus manifest asked for, a path or a URL; empty for the release's sample.
    type: str
    default: ""
  install_dir:
    description: Where a release is unpacked and a manifest given by URL is saved.
    type: str
    default: /opt/istio
notes:
  - The plan is made by C(plugins/module_utils/_core/istio_plan.py), unit-tested on its own.
seealso:
  - module: rollouts.istio.minikube_cluster
extends_documentation_fragment:
  - rollouts.istio.attributes
  - rollouts.istio.attributes.READ_ONLY
"""

EXAMPLES = r"""
- name: Decide what to do
  rollouts.istio.istio_install_plan:
    version: "1.31.1"
    istioctl_path: /opt/istio/istio-1.31.1/bin/istioctl
    set: {values.global.proxy.privileged: true}
    record: "{{ record.resources[0].data | default({}) }}"
    istiod: "{{ {'labels': istiod.resources[0].metadata.labels} if istiod.resources else {} }}"
  register: plan

- name: Run istioctl
  ansible.builtin.command:
    argv: "{{ plan.argv }}"
  when: plan.action != 'none'
"""

RETURN = r"""
action:
  description: V(install), V(upgrade), V(reconfigure), V(uninstall) or V(none).
  returned: always
  type: str
  sample: upgrade
message:
  description: One sentence saying what the run does and why.
  returned: always
  type: str
  sample: Upgrading Istio in istio-system from 1.30.0 to 1.31.1.
istioctl:
  description: The istioctl the command lines run.
  returned: always
  type: str
release_dir:
  description: The Istio release directory (the parent of istioctl's C(bin/)).
  returned: always
  type: str
download:
  description: Whether the pinned release is to be downloaded (no O(istioctl_path) given).
  returned: always
  type: bool
installed_version:
  description: The version istiod runs (its C(operator.istio.io/version) label, else the record's), or empty.
  returned: always
  type: str
settings:
  description: The settings that shape the install, as the record keeps them.
  returned: always
  type: dict
settings_hash:
  description: The sha256 of RV(settings) as sorted JSON.
  returned: always
  type: str
set:
  description: The C(--set) values in order.
  returned: always
  type: list
  elements: str
record_name:
  description: Name of the record ConfigMap, C(install-istio[-<revision>]).
  returned: always
  type: str
istiod:
  description: Name of the istiod Deployment, C(istiod[-<revision>]).
  returned: always
  type: str
argv:
  description: The istioctl install or upgrade command line for RV(action); empty for other actions.
  returned: always
  type: list
  elements: str
uninstall_purge_argv:
  description: The C(istioctl uninstall --purge) command line.
  returned: always
  type: list
  elements: str
analyze:
  description: For each namespace to check, C(namespace) and the C(istioctl analyze) C(argv).
  returned: always
  type: list
  elements: dict
overrides_document:
  description: The IstioOperator to write for O(overrides), or null.
  returned: always
  type: dict
prometheus_manifest:
  description: The manifest's C(src), whether it is downloaded (C(remote)), and the C(local) path read.
  returned: always
  type: dict
"""

from ansible_collections.rollouts.istio.plugins.module_utils._core.istio_plan import plan
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import plain_module, run

MODULE_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    version=dict(type="str", required=True),
    istioctl_path=dict(type="str", default=""),
    profile=dict(type="str", default="demo"),
    namespace=dict(type="str", default="istio-system"),
    revision=dict(type="str", default=""),
    set=dict(type="raw", default={}),
    overrides=dict(type="dict", default={}),
    overrides_file=dict(type="str"),
    override_files=dict(type="list", elements="str", default=[]),
    override_files_content=dict(type="list", elements="str", default=[]),
    ingress_service_type=dict(type="str", default=""),
    kubeconfig=dict(type="str", default=""),
    context=dict(type="str", default=""),
    wait_timeout=dict(type="int", default=300),
    record=dict(type="dict", default={}),
    istiod=dict(type="dict", default={}),
    injection_namespaces=dict(type="list", elements="str", default=[]),
    analyze_namespaces=dict(type="list", elements="str", default=[]),
    prometheus_manifest=dict(type="str", default=""),
    install_dir=dict(type="str", default="/opt/istio"),
)


def plan_install(module):
    return dict(plan(module.params), changed=False)


def main():
    run(plain_module(MODULE_SPEC, supports_check_mode=True), plan_install)


if __name__ == "__main__":
    main()
