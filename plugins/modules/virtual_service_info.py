#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: virtual_service_info
short_description: Read Istio VirtualServices and the weights of their routes
version_added: 0.1.0
description:
  - Reads one VirtualService, or all of a namespace (optionally selected by labels), and returns for
    every HTTP route its destinations and weights in a plain shape that C(assert) tasks can test,
    together with the raw object.
author:
  - rollouts.istio maintainers (@rollouts-istio)
requirements:
  - kubernetes >= 24.2.0 (the Python client)
options:
  name:
    description:
      - Name of one VirtualService. When not given, every VirtualService of O(namespace) is read.
      - A Kubernetes object name, checked before any request (an empty or upper-case name is an error naming this option).
    type: str
  namespace:
    description: Namespace to read from, a DNS-1123 label; checked before any request.
    type: str
    required: true
  label_selector:
    description:
      - Only VirtualServices with these labels, as C(key=value) or any Kubernetes label selector term.
      - Not used when O(name) is given.
    type: list
    elements: str
    default: []
  cluster_domain:
    description: DNS domain of the cluster, used to expand short host names when naming destinations.
    type: str
    default: cluster.local
extends_documentation_fragment:
  - rollouts.istio.k8s_auth
  - rollouts.istio.attributes
  - rollouts.istio.attributes.ACTIONGROUP_ISTIO
  - rollouts.istio.attributes.READ_ONLY
notes:
  - Needs the verb C(get) on C(virtualservices) to read one, and C(list) to read many.
seealso:
  - module: rollouts.istio.traffic_split
"""

EXAMPLES = r"""
- name: Read the reviews VirtualService
  rollouts.istio.virtual_service_info:
    name: reviews
    namespace: shop
  register: vs

- name: The candidate gets 10% on the primary route
  ansible.builtin.assert:
    that:
      - vs.virtual_services[0].routes_by_name.primary.weights.candidate == 10

- name: Every VirtualService labelled app=shop
  rollouts.istio.virtual_service_info:
    namespace: shop
    label_selector:
      - app=shop
  register: all_vs
"""

RETURN = r"""
exists:
  description: Whether anything was found.
  returned: always
  type: bool
virtual_services:
  description: The VirtualServices read, in name order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the VirtualService.
      type: str
    namespace:
      description: Its namespace.
      type: str
    api_version:
      description: API version it was read in.
      type: str
      sample: networking.istio.io/v1
    hosts:
      description: C(spec.hosts).
      type: list
      elements: str
    gateways:
      description: C(spec.gateways).
      type: list
      elements: str
    routes:
      description: The HTTP routes, in order.
      type: list
      elements: dict
      contains:
        index:
          description: Position in C(spec.http).
          type: int
        name:
          description: Name of the route, or null.
          type: str
        default:
          description: True for a route without C(match), which takes all traffic that earlier routes let through.
          type: bool
        match:
          description: The route's C(match) conditions.
          type: list
          elements: dict
        destinations:
          description: Destinations with C(key), C(host), C(subset), C(port) and C(weight).
          type: list
          elements: dict
        weights:
          description:
            - Weight by destination key. The key is the subset name, the host for a destination without
              subset, or C(host/subset) when two hosts share a subset name.
            - A lone destination counts as 100 whatever its C(weight) says (none, or even 0), as Istio sends it all the traffic.
          type: dict
          sample: {stable: 90, candidate: 10}
    routes_by_name:
      description: The named routes of RV(virtual_services[].routes), by name.
      type: dict
    object:
      description: The raw object as the API server returned it.
      type: dict
"""

from ansible_collections.rollouts.istio.plugins.module_utils._core.routes import DEFAULT_DOMAIN, describe_virtual_service
from ansible_collections.rollouts.istio.plugins.module_utils._core.specs import check_object_names
from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import VIRTUAL_SERVICE
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import connect_istio, kubernetes_module, run

MODULE_SPEC = dict(
    name=dict(type="str"),
    namespace=dict(type="str", required=True),
    label_selector=dict(type="list", elements="str", default=[]),
    cluster_domain=dict(type="str", default=DEFAULT_DOMAIN),
)


def read_virtual_services(module):
    p = module.params
    check_object_names(p, name_required=False)
    api = connect_istio(module)
    if p["name"]:
        obj = api.get(VIRTUAL_SERVICE, p["namespace"], p["name"])
        objs = [obj] if obj is not None else []
    else:
        objs = api.list(VIRTUAL_SERVICE, p["namespace"], ",".join(p["label_selector"]) or None)
    described = []
    for obj in sorted(objs, key=lambda o: o["metadata"]["name"]):
        info = describe_virtual_service(obj, p["cluster_domain"])
        info["routes_by_name"] = dict((r["name"], r) for r in info["routes"] if r["name"])
        described.append(info)
    return {"changed": False, "exists": bool(described), "virtual_services": described}


def main():
    run(kubernetes_module(MODULE_SPEC, supports_check_mode=True), read_virtual_services)


if __name__ == "__main__":
    main()
