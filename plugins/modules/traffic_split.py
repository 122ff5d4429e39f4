#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: traffic_split
short_description: Set the weights of one HTTP route of an Istio VirtualService
version_added: 0.1.0
description:
  - Sets how one HTTP route of an existing VirtualService splits its traffic across subsets or hosts,
    and changes nothing else.
  - Other routes, the route's match rules, retries, timeouts, headers, the destinations' own fields and
    fields this module does not know are kept exactly as they are. The change is sent as a minimal
    JSON patch of the route's destinations.
  - The patch only applies to the object as it was read (its C(resourceVersion) is tested), so a
    concurrent edit is never overwritten. On such a conflict the module reads the object again and
    applies only its own change again, up to O(max_conflict_retries) times. Concurrent edits of other
    fields are kept; a concurrent change of the same route's weights (for example an operator's
    emergency rollback) fails the task, naming the weights read first and the weights now, unless
    O(on_concurrent_weight_change=override).
  - Weights are integers from 0 to 100 that add up to exactly 100; every host must exist and every
    subset must be defined by the DestinationRule for its host (see O(validate_destinations)). Istio
    itself accepts weights that add up to anything and routes to hosts and subsets that do not exist;
    this module refuses, with an error naming the option at fault, and writes nothing.
  - Destinations the route sends to but O(destinations) does not name are removed from the route;
    name them with weight C(0) to keep them.
author:
  - rollouts.istio maintainers (@rollouts-istio)
requirements:
  - kubernetes >= 24.2.0 (the Python client)
options:
  name:
    description:
      - Name of the VirtualService, a Kubernetes object name (lower-case letters, digits, C(-) and C(.)).
      - Checked before any request; an empty or invalid name is an error naming this option.
    type: str
    required: true
  namespace:
    description: Namespace of the VirtualService, a DNS-1123 label; checked before any request.
    type: str
    required: true
  route:
    description:
      - Name of the HTTP route (an entry of C(spec.http)) to change.
      - When not given, the VirtualService must have exactly one HTTP route, or exactly one without
        C(match) (the default route), which is then the one changed.
    type: str
  destinations:
    description:
      - The weighted destinations the route sends traffic to.
      - A destination given by O(destinations[].subset) alone belongs to the host the route already
        sends to.
    type: list
    elements: dict
    required: true
    suboptions:
      subset:
        description: Subset of the host, as named in its DestinationRule.
        type: str
      host:
        description:
          - Host (service) of the destination. A short name such as C(reviews) means
            C(reviews.<namespace>.svc.cluster.local), as in Istio.
          - Required when the route sends to more than one host, or to none yet.
        type: str
      weight:
        description: Share of the traffic, an integer from 0 to 100. All weights add up to 100.
        type: int
        required: true
  validate_destinations:
    description:
      - Check every destination of O(destinations) before writing anything.
      - Its host must exist, visible from O(namespace), as a Kubernetes Service (a cluster-local host
        C(<service>.<namespace>.svc.<cluster_domain>), honouring the Service's
        C(networking.istio.io/exportTo) annotation) or as a host listed by a ServiceEntry in O(namespace),
        the host's namespace or O(root_namespace), whose C(exportTo) includes O(namespace). A typo in a
        host would otherwise send that share of production traffic to nothing.
      - Its subset must be defined by the DestinationRule for its host, found as Istio finds it, in
        O(namespace) first, then in the host's namespace, then in O(root_namespace); a rule whose
        C(exportTo) leaves O(namespace) out does not count (C(.) is its own namespace, C(*) every one).
      - Needs C(get) on C(services), C(list) on C(destinationrules) and, for hosts that are not a
        Service, C(list) on C(serviceentries), in the namespaces looked in.
      - The former name O(validate_subsets) is an alias; it now checks hosts too.
    type: bool
    default: true
    aliases: [validate_subsets]
  root_namespace:
    description:
      - The mesh root namespace (Istio's MeshConfig C(rootNamespace)), whose DestinationRules and
        ServiceEntries apply to every namespace. Looked in last.
    type: str
    default: istio-system
  on_concurrent_weight_change:
    description:
      - What to do when, on a retry after a conflict, the route's weights are no longer those read first,
        someone else changed the same weights meanwhile.
      - V(fail) fails the task and writes nothing, naming the weights read first and the weights now.
      - V(override) applies the requested weights over that change.
      - Concurrent edits of anything else are always kept and the change retried.
    type: str
    choices: [fail, override]
    default: fail
  max_conflict_retries:
    description: How many times to read again and retry when the VirtualService changed between read and write.
    type: int
    default: 5
  cluster_domain:
    description: DNS domain of the cluster, used to expand short host names.
    type: str
    default: cluster.local
extends_documentation_fragment:
  - rollouts.istio.k8s_auth
  - rollouts.istio.attributes
  - rollouts.istio.attributes.ACTIONGROUP_ISTIO
  - rollouts.istio.attributes.WRITES
notes:
  - Needs the verbs C(get) and C(patch) on C(virtualservices) and, with O(validate_destinations), C(get) on
    C(services) and C(list) on C(destinationrules) and C(serviceentries) (see C(docs/rbac/) in the collection).
seealso:
  - module: rollouts.istio.virtual_service_info
  - module: rollouts.istio.virtual_service
"""

EXAMPLES = r"""
- name: Send 10% of the traffic to the candidate
  rollouts.istio.traffic_split:
    name: reviews
    namespace: shop
    route: primary
    destinations:
      - subset: stable
        weight: 90
      - subset: candidate
        weight: 10

- name: Promote, keeping the stable subset in the route at weight 0
  rollouts.istio.traffic_split:
    name: reviews
    namespace: shop
    destinations:
      - {subset: stable, weight: 0}
      - {subset: candidate, weight: 100}

- name: An emergency rollback that replaces whatever a running rollout set meanwhile
  rollouts.istio.traffic_split:
    name: reviews
    namespace: shop
    on_concurrent_weight_change: override
    destinations:
      - {subset: stable, weight: 100}
      - {subset: candidate, weight: 0}

- name: Split between two services (hosts), connecting once for the whole play
  module_defaults:
    group/rollouts.istio.istio:
      kubeconfig: ~/.kube/config
      context: staging
  rollouts.istio.traffic_split:
    name: frontend
    namespace: shop
    route: default
    destinations:
      - {host: frontend-blue, weight: 50}
      - {host: frontend-green, weight: 50}
"""

RETURN = r"""
route:
  description: Name of the route changed (null for an unnamed route).
  returned: success
  type: str
  sample: primary
route_index:
  description: Position of the route in C(spec.http).
  returned: success
  type: int
  sample: 1
before:
  description:
    - Weights of the route before, by destination. A destination is named by its subset, by its host
      when it has no subset, or as C(host/subset) when two hosts share a subset name.
    - Weights as Istio sends traffic, so a lone destination counts as 100 whatever its C(weight) says.
  returned: success
  type: dict
  sample: {stable: 100, candidate: 0}
after:
  description: Weights of the route after (in check mode, what they would be), named as in RV(before).
  returned: success
  type: dict
  sample: {stable: 90, candidate: 10}
api_version:
  description: API version of the VirtualService used.
  returned: success
  type: str
  sample: networking.istio.io/v1
attempts:
  description: Reads of the VirtualService it took; more than 1 when a concurrent edit had to be retried.
  returned: success
  type: int
  sample: 1
object:
  description: The VirtualService after the change (in check mode, as the server's dry run returned it).
  returned: success
  type: dict
diff:
  description: The route (its entry of C(spec.http)) before and after, in diff mode.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.rollouts.istio.plugins.module_utils._core.params import check_dns_label, check_number
from ansible_collections.rollouts.istio.plugins.module_utils._core.routes import DEFAULT_DOMAIN, DEFAULT_ROOT_NAMESPACE
from ansible_collections.rollouts.istio.plugins.module_utils._core.specs import check_object_names
from ansible_collections.rollouts.istio.plugins.module_utils._flows.set_split import ON_CONCURRENT_WEIGHT_CHANGE, set_split
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import connect_istio, kubernetes_module, run

MODULE_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    route=dict(type="str"),
    destinations=dict(type="list", elements="dict", required=True, options=dict(
        subset=dict(type="str"),
        host=dict(type="str"),
        weight=dict(type="int", required=True),
    )),
    validate_destinations=dict(type="bool", default=True, aliases=["validate_subsets"]),
    root_namespace=dict(type="str", default=DEFAULT_ROOT_NAMESPACE),
    on_concurrent_weight_change=dict(type="str", choices=list(ON_CONCURRENT_WEIGHT_CHANGE), default="fail"),
    max_conflict_retries=dict(type="int", default=5),
    cluster_domain=dict(type="str", default=DEFAULT_DOMAIN),
)


def split_traffic(module):
    p = module.params
    check_object_names(p)
    check_number(p["max_conflict_retries"], "max_conflict_retries", minimum=0, integer=True)
    check_dns_label(p["root_namespace"], "root_namespace", "namespace")
    result, tracker = set_split(
        connect_istio(module), p["namespace"], p["name"], p["destinations"], route=p["route"],
        check_mode=module.check_mode, validate_destinations=p["validate_destinations"],
        max_retries=p["max_conflict_retries"], domain=p["cluster_domain"], root_namespace=p["root_namespace"],
        on_concurrent_weight_change=p["on_concurrent_weight_change"])
    if module._diff:
        result["diff"] = tracker.diff()
    return result


def main():
    run(kubernetes_module(MODULE_SPEC, supports_check_mode=True), split_traffic)


if __name__ == "__main__":
    main()
