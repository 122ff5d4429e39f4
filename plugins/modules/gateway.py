#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gateway
short_description: Create, update or delete an Istio Gateway
version_added: 0.1.0
description:
  - Makes an Istio Gateway (C(networking.istio.io)) present as described, or absent.
  - Give the whole spec in O(spec), or use the plain options for the common case, the O(selector) of the
    gateway workload and its O(servers) with hosts, port and TLS.
  - The object is written with server-side apply under the field manager C(rollouts.istio); nothing is
    written when the live object already is as described, and server-side defaults do not count as a change.
author:
  - rollouts.istio maintainers (@rollouts-istio)
requirements:
  - kubernetes >= 24.2.0 (the Python client)
options:
  name:
    description:
      - Name of the Gateway, a Kubernetes object name (lower-case letters, digits, C(-) and C(.)).
      - Checked before any request; an invalid name is an error naming this option.
    type: str
    required: true
  namespace:
    description: Namespace of the Gateway, a DNS-1123 label; checked before any request.
    type: str
    required: true
  state:
    description: Whether the Gateway should exist.
    type: str
    default: present
    choices: [present, absent]
  spec:
    description:
      - The whole spec of the Gateway, as in Istio's documentation.
      - Mutually exclusive with the plain options O(selector) and O(servers).
    type: dict
  labels:
    description: Labels of the object.
    type: dict
  annotations:
    description: Annotations of the object.
    type: dict
  selector:
    description:
      - Labels of the gateway workload (pods) this configuration applies to.
      - "Defaults to C({istio: ingressgateway}), Istio's default ingress gateway, when O(servers) is given."
    type: dict
  servers:
    description: What the gateway listens for. Required with the plain options.
    type: list
    elements: dict
    suboptions:
      hosts:
        description: Hosts exposed on this port, such as C(shop.example.com) or C(*).
        type: list
        elements: str
        required: true
      port:
        description: The port to listen on.
        type: dict
        required: true
        suboptions:
          number:
            description: Port number.
            type: int
            required: true
          protocol:
            description: Protocol, one of Istio's (C(HTTP), C(HTTPS), C(HTTP2), C(GRPC), C(TLS), C(TCP) ...).
            type: str
            default: HTTP
          name:
            description: Name of the port; C(<protocol>-<number>) in lower case when not given.
            type: str
      tls:
        description: "TLS settings (Istio's C(ServerTLSSettings)), for example C({mode: SIMPLE, credentialName: shop-cert})."
        type: dict
extends_documentation_fragment:
  - rollouts.istio.k8s_auth
  - rollouts.istio.attributes
  - rollouts.istio.attributes.ACTIONGROUP_ISTIO
  - rollouts.istio.attributes.WRITES
notes:
  - Needs the verbs C(get), C(create) and C(patch) on C(gateways), and C(delete) for O(state=absent)
    (see C(docs/rbac/) in the collection).
seealso:
  - module: rollouts.istio.virtual_service
"""

EXAMPLES = r"""
- name: HTTP and HTTPS for shop.example.com on the default ingress gateway
  rollouts.istio.gateway:
    name: shop-gateway
    namespace: shop
    servers:
      - hosts: [shop.example.com]
        port: {number: 80}
      - hosts: [shop.example.com]
        port: {number: 443, protocol: HTTPS}
        tls: {mode: SIMPLE, credentialName: shop-cert}

- name: Remove it
  rollouts.istio.gateway:
    name: shop-gateway
    namespace: shop
    state: absent
"""

RETURN = r"""
result:
  description: The Gateway as the API server returned it (in check mode, its dry run); empty when absent.
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

from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import GATEWAY
from ansible_collections.rollouts.istio.plugins.module_utils._flows.ensure_object import COMMON_SPEC
from ansible_collections.rollouts.istio.plugins.module_utils._runner.resource_module import run_resource_module
from ansible_collections.rollouts.istio.plugins.module_utils._core.specs import gateway_spec

PLAIN = ["selector", "servers"]
MODULE_SPEC = dict(
    COMMON_SPEC,
    selector=dict(type="dict"),
    servers=dict(type="list", elements="dict", options=dict(
        hosts=dict(type="list", elements="str", required=True),
        port=dict(type="dict", required=True, options=dict(
            number=dict(type="int", required=True),
            protocol=dict(type="str", default="HTTP"),
            name=dict(type="str"),
        )),
        tls=dict(type="dict"),
    )),
)


def build_spec(p):
    return p["spec"] if p["spec"] is not None else gateway_spec(p["selector"], p["servers"])


def main():
    run_resource_module(GATEWAY, MODULE_SPEC, PLAIN, "servers", build_spec)


if __name__ == "__main__":
    main()
