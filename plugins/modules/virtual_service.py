#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: virtual_service
short_description: Create, update or delete an Istio VirtualService
version_added: 0.1.0
description:
  - Makes an Istio VirtualService present as described, or absent.
  - Give the whole spec in O(spec), or use the plain options for the common case (O(hosts), O(gateways),
    O(http) routes with name, match, weighted destinations, retries, timeout, fault and mirror).
  - The object is written with server-side apply under the field manager C(rollouts.istio), taking over
    fields another manager set to a different value (such as weights a M(rollouts.istio.traffic_split)
    changed). Fields it does not set and another manager owns are left alone.
  - The weights of every route with more than one destination must be integers from 0 to 100 that add up
    to 100; otherwise the module fails naming the route, and writes nothing.
  - Nothing is written when the live object already is as described, and server-side defaults do not
    count as a change.
author:
  - rollouts.istio maintainers (@rollouts-istio)
requirements:
  - kubernetes >= 24.2.0 (the Python client)
options:
  name:
    description:
      - Name of the VirtualService, a Kubernetes object name (lower-case letters, digits, C(-) and C(.)).
      - Checked before any request; an invalid name is an error naming this option.
    type: str
    required: true
  namespace:
    description: Namespace of the VirtualService, a DNS-1123 label; checked before any request.
    type: str
    required: true
  state:
    description: Whether the VirtualService should exist.
    type: str
    default: present
    choices: [present, absent]
  spec:
    description:
      - The whole spec of the VirtualService, as in Istio's documentation.
      - Mutually exclusive with the plain options O(hosts), O(gateways), O(http) and O(export_to).
    type: dict
  labels:
    description: Labels of the object.
    type: dict
  annotations:
    description: Annotations of the object.
    type: dict
  hosts:
    description: Hosts the VirtualService routes for (C(spec.hosts)). Required with the plain options.
    type: list
    elements: str
  gateways:
    description: Gateways (and C(mesh) for sidecars) the routes apply to (C(spec.gateways)).
    type: list
    elements: str
  export_to:
    description: Namespaces the VirtualService is visible in (C(spec.exportTo)).
    type: list
    elements: str
  http:
    description: The HTTP routes, in order; the first route that matches a request takes it.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the route, by which M(rollouts.istio.traffic_split) can find it.
        type: str
      match:
        description: Match conditions (Istio's C(HTTPMatchRequest) list). A route without match takes everything.
        type: list
        elements: dict
      destinations:
        description: Weighted destinations (Istio's C(route)).
        type: list
        elements: dict
        suboptions:
          host:
            description: Destination host (service).
            type: str
            required: true
          subset:
            description: Subset of the host, from its DestinationRule.
            type: str
          port:
            description: Port number on the host.
            type: int
          weight:
            description: Share of the traffic, an integer from 0 to 100; may be left out for a lone destination.
            type: int
      retries:
        description: "Retry policy (Istio's C(HTTPRetry)), for example C({attempts: 3, perTryTimeout: 2s})."
        type: dict
      timeout:
        description: Timeout for requests, such as C(10s).
        type: str
      fault:
        description: Fault injection (Istio's C(HTTPFaultInjection)).
        type: dict
      mirror:
        description: Destination to mirror requests to (Istio's C(Destination)).
        type: dict
extends_documentation_fragment:
  - rollouts.istio.k8s_auth
  - rollouts.istio.attributes
  - rollouts.istio.attributes.ACTIONGROUP_ISTIO
  - rollouts.istio.attributes.WRITES
notes:
  - Needs the verbs C(get), C(create) and C(patch) on C(virtualservices), and C(delete) for O(state=absent)
    (see C(docs/rbac/) in the collection).
seealso:
  - module: rollouts.istio.traffic_split
  - module: rollouts.istio.virtual_service_info
  - module: rollouts.istio.destination_rule
  - module: rollouts.istio.gateway
"""

EXAMPLES = r"""
- name: Route everything to the stable subset, with the candidate ready at weight 0
  rollouts.istio.virtual_service:
    name: reviews
    namespace: shop
    hosts: [reviews]
    http:
      - name: primary
        destinations:
          - {host: reviews, subset: stable, weight: 100}
          - {host: reviews, subset: candidate, weight: 0}
        retries: {attempts: 3, perTryTimeout: 2s}
        timeout: 10s

- name: Give the whole spec
  rollouts.istio.virtual_service:
    name: frontend
    namespace: shop
    spec:
      hosts: ["shop.example.com"]
      gateways: [shop-gateway]
      http:
        - name: default
          route:
            - destination: {host: frontend, subset: stable}

- name: Remove it
  rollouts.istio.virtual_service:
    name: frontend
    namespace: shop
    state: absent
"""

RETURN = r"""
result:
  description: The VirtualService as the API server returned it (in check mode, its dry run); empty when absent.
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
  sample: [{path: "spec.http[0].route[0].weight", before: 100, after: 90}]
diff:
  description: The object before and after, in diff mode.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import VIRTUAL_SERVICE
from ansible_collections.rollouts.istio.plugins.module_utils._flows.ensure_object import COMMON_SPEC
from ansible_collections.rollouts.istio.plugins.module_utils._runner.resource_module import run_resource_module
from ansible_collections.rollouts.istio.plugins.module_utils._core.specs import (
    check_virtual_service_weights,
    virtual_service_spec,
)

PLAIN = ["hosts", "gateways", "http", "export_to"]
MODULE_SPEC = dict(
    COMMON_SPEC,
    hosts=dict(type="list", elements="str"),
    gateways=dict(type="list", elements="str"),
    export_to=dict(type="list", elements="str"),
    http=dict(type="list", elements="dict", options=dict(
        name=dict(type="str"),
        match=dict(type="list", elements="dict"),
        destinations=dict(type="list", elements="dict", options=dict(
            host=dict(type="str", required=True),
            subset=dict(type="str"),
            port=dict(type="int"),
            weight=dict(type="int"),
        )),
        retries=dict(type="dict"),
        timeout=dict(type="str"),
        fault=dict(type="dict"),
        mirror=dict(type="dict"),
    )),
)


def build_spec(p):
    """The spec, its weights checked (as the whole-spec or as the plain options name them)."""
    if p["spec"] is not None:
        spec, params = p["spec"], ("spec.http", "route")
    else:
        spec, params = virtual_service_spec(p["hosts"], p["gateways"], p["http"], p["export_to"]), ("http", "destinations")
    if p["state"] == "present":
        check_virtual_service_weights(spec, *params)
    return spec


def main():
    run_resource_module(VIRTUAL_SERVICE, MODULE_SPEC, PLAIN, "hosts", build_spec)


if __name__ == "__main__":
    main()
