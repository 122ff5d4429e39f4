#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: destination_rule
short_description: Create, update or delete an Istio DestinationRule
version_added: 0.1.0
description:
  - Makes an Istio DestinationRule present as described, or absent.
  - Give the whole spec in O(spec), or use the plain options for the common case, the O(service) (host), its
    O(subsets) built from version labels, and a O(traffic_policy).
  - The object is written with server-side apply under the field manager C(rollouts.istio); nothing is
    written when the live object already is as described, and server-side defaults do not count as a change.
author:
  - rollouts.istio maintainers (@rollouts-istio)
requirements:
  - kubernetes >= 24.2.0 (the Python client)
options:
  name:
    description:
      - Name of the DestinationRule, a Kubernetes object name (lower-case letters, digits, C(-) and C(.)).
      - Checked before any request; an invalid name is an error naming this option.
    type: str
    required: true
  namespace:
    description: Namespace of the DestinationRule, a DNS-1123 label; checked before any request.
    type: str
    required: true
  state:
    description: Whether the DestinationRule should exist.
    type: str
    default: present
    choices: [present, absent]
  spec:
    description:
      - The whole spec of the DestinationRule, as in Istio's documentation.
      - Mutually exclusive with the plain options O(service), O(subsets), O(traffic_policy) and O(export_to).
    type: dict
  labels:
    description: Labels of the object.
    type: dict
  annotations:
    description: Annotations of the object.
    type: dict
  service:
    description:
      - The service (host) the rule applies to, C(spec.host) in Istio's terms. A short name such as
        C(reviews) means C(reviews.<namespace>.svc.cluster.local). Required with the plain options.
      - Named C(service) because C(host) is the connection option for the API server, as in kubernetes.core.
    type: str
  subsets:
    description: Named subsets of the service's endpoints, such as C(stable) and C(candidate).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the subset, which VirtualService routes refer to.
        type: str
        required: true
      version:
        description: Pods of this subset carry the label O(version_label) with this value.
        type: str
      labels:
        description: Further labels the subset's pods carry.
        type: dict
      traffic_policy:
        description: Traffic policy of this subset alone (Istio's C(TrafficPolicy)).
        type: dict
  version_label:
    description: The pod label that O(subsets[].version) sets.
    type: str
    default: version
  traffic_policy:
    description: Traffic policy for the whole host (Istio's C(TrafficPolicy)), such as load balancing or TLS.
    type: dict
  export_to:
    description: Namespaces the DestinationRule is visible in (C(spec.exportTo)).
    type: list
    elements: str
extends_documentation_fragment:
  - rollouts.istio.k8s_auth
  - rollouts.istio.attributes
  - rollouts.istio.attributes.ACTIONGROUP_ISTIO
  - rollouts.istio.attributes.WRITES
notes:
  - Needs the verbs C(get), C(create) and C(patch) on C(destinationrules), and C(delete) for O(state=absent)
    (see C(docs/rbac/) in the collection).
seealso:
  - module: rollouts.istio.virtual_service
  - module: rollouts.istio.traffic_split
"""

EXAMPLES = r"""
- name: Stable and candidate subsets of reviews, by version label
  rollouts.istio.destination_rule:
    name: reviews
    namespace: shop
    service: reviews
    subsets:
      - {name: stable, version: v1}
      - {name: candidate, version: v2}
    traffic_policy:
      loadBalancer: {simple: ROUND_ROBIN}

- name: Remove it
  rollouts.istio.destination_rule:
    name: reviews
    namespace: shop
    state: absent
"""

RETURN = r"""
result:
  description: The DestinationRule as the API server returned it (in check mode, its dry run); empty when absent.
  returned: success
  type: dict
api_version:
  description: The API version used.
  returned: success
  type: str
  sample: networking.istio.io/v1
changes:
  description: The fields that changed (or would change), with their values before and after.
  returned: success
  type: list
  elements: dict
diff:
  description: The object before and after, in diff mode.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import DESTINATION_RULE
from ansible_collections.rollouts.istio.plugins.module_utils._flows.ensure_object import COMMON_SPEC
from ansible_collections.rollouts.istio.plugins.module_utils._runner.resource_module import run_resource_module
from ansible_collections.rollouts.istio.plugins.module_utils._core.specs import destination_rule_spec

PLAIN = ["service", "subsets", "traffic_policy", "export_to"]
MODULE_SPEC = dict(
    COMMON_SPEC,
    service=dict(type="str"),
    subsets=dict(type="list", elements="dict", options=dict(
        name=dict(type="str", required=True),
        version=dict(type="str"),
        labels=dict(type="dict"),
        traffic_policy=dict(type="dict"),
    )),
    version_label=dict(type="str", default="version"),
    traffic_policy=dict(type="dict"),
    export_to=dict(type="list", elements="str"),
)


def build_spec(p):
    if p["spec"] is not None:
        return p["spec"]
    return destination_rule_spec(p["service"], p["subsets"], p["traffic_policy"], p["export_to"], p["version_label"])


def main():
    run_resource_module(DESTINATION_RULE, MODULE_SPEC, PLAIN, "service", build_spec)


if __name__ == "__main__":
    main()
