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
      - Required, with O(namespace) and O(destinations), unless O(virtual_services) is given.
    type: str
  namespace:
    description:
      - Namespace of the VirtualService, a DNS-1123 label; checked before any request.
      - With O(virtual_services), the namespace of every item that does not give its own.
    type: str
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
  virtual_services:
    description:
      - Several VirtualServices changed by one task, instead of O(name), O(route) and O(destinations)
        (one task for 200 services rather than a loop of 200 tasks).
      - "Every item is read and checked (its route, its weights, its hosts and subsets) before any is
        written; when one cannot be done nothing is written and the error names the item, for example
        C(virtual_services[3].destinations: ...)."
      - Then each change is sent exactly as for one
        VirtualService (the same resourceVersion guard, conflict retries and O(on_concurrent_weight_change)).
        A failure while writing (the API server gone, a concurrent weight change) names the item and
        returns in C(written) the items already changed.
      - The destination check reads each namespace's DestinationRules (and ServiceEntries) once for all items.
    type: list
    elements: dict
    version_added: 0.1.0
    suboptions:
      name:
        description: Name of the VirtualService.
        type: str
        required: true
      namespace:
        description: Its namespace; O(namespace) when not given.
        type: str
      route:
        description: Name of its HTTP route to change, as O(route).
        type: str
      destinations:
        description: Its weighted destinations, as O(destinations).
        type: list
        elements: dict
        required: true
        suboptions:
          subset:
            description: Subset of the host, as named in its DestinationRule.
            type: str
          host:
            description: Host (service) of the destination, as O(destinations[].host).
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

- name: Shift many services at once, each checked before any is written
  rollouts.istio.traffic_split:
    namespace: shop
    virtual_services:
      - name: reviews
        destinations: [{subset: stable, weight: 50}, {subset: candidate, weight: 50}]
      - name: ratings
        route: primary
        destinations: [{subset: stable, weight: 50}, {subset: candidate, weight: 50}]

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
results:
  description:
    - With O(virtual_services), one result per item, in their order, each with the keys above
      (RV(route), RV(before), RV(after), RV(object) ...) and its C(name) and C(namespace).
  returned: success, with O(virtual_services)
  type: list
  elements: dict
written:
  description: On a failure while writing with O(virtual_services), the items (C(namespace/name)) already changed.
  returned: failure while writing, with O(virtual_services)
  type: list
  elements: str
diff:
  description:
    - The route (its entry of C(spec.http)) before and after, in diff mode.
    - With O(virtual_services), a list of them, one per item.
  returned: when diff mode is on
  type: raw
"""

from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import kubernetes_module, run
from ansible_collections.rollouts.istio.plugins.module_utils._runner.split_task import MODULE_KWARGS, MODULE_SPEC, split_traffic_module


def main():
    run(kubernetes_module(MODULE_SPEC, supports_check_mode=True, **MODULE_KWARGS), split_traffic_module)


if __name__ == "__main__":
    main()
