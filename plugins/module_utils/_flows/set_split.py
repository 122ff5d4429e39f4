# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Setting the split of one route of a live VirtualService, safely.

Read the object, let the pure route model decide the minimal JSON patch, and send it guarded by
the resourceVersion that was read. A concurrent writer makes the guard fail; then the object
is read again and only this change is planned and sent again, a bounded number of times.
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.difference import DifferenceTracker
from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import IstioError
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_client import (
    Conflict,
    Invalid,
    K8sError,
    explain,
)
from ansible_collections.rollouts.istio.plugins.module_utils._core.routes import (
    RouteError,
    guard_ops,
    host_namespace,
    missing_subsets,
    normalize_split,
    plan_split,
    select_route,
    subsets_for_host,
)

KIND = "VirtualService"
RESOURCE = "virtualservices.networking.istio.io"


def read_virtual_service(api, namespace, name):
    """The live VirtualService, or an error that says whether the namespace or the object is missing."""
    vs = api.get(KIND, namespace, name)
    if vs is None:
        if api.namespace_exists(namespace) is False:
            raise IstioError("namespace %s does not exist" % namespace)
        raise IstioError("VirtualService %s not found in namespace %s" % (name, namespace))
    return vs


class SubsetChecker(object):
    """Subsets defined by DestinationRules, read once per namespace."""

    def __init__(self, api, namespace, domain):
        self.api = api
        self.namespace = namespace
        self.domain = domain
        self._rules = {}

    def _rules_in(self, namespace):
        if namespace not in self._rules:
            self._rules[namespace] = self.api.list("DestinationRule", namespace)
        return self._rules[namespace]

    def subsets_of(self, fqdn):
        """As Istio looks a host's DestinationRule up: the client's namespace, then the service's."""
        found = subsets_for_host(self._rules_in(self.namespace), fqdn, self.domain)
        other = host_namespace(fqdn, self.domain)
        if found is None and other and other != self.namespace:
            found = subsets_for_host(self._rules_in(other), fqdn, self.domain)
        return found


def set_split(api, namespace, name, destinations, route=None, check_mode=False, validate_subsets=True,
              max_retries=5, domain="cluster.local"):
    """Give one route of a VirtualService the requested weights; returns the module result."""
    checker = SubsetChecker(api, namespace, domain) if validate_subsets else None
    attempts, refused = 0, None
    while True:
        attempts += 1
        vs = read_virtual_service(api, namespace, name)
        if refused is not None and vs["metadata"]["resourceVersion"] == refused[0]:
            # Refused although nobody wrote in between: the patch itself is at fault.
            raise IstioError(explain(refused[1], "patch", RESOURCE, namespace, name), refused[1])
        http = (vs.get("spec") or {}).get("http") or []
        index = select_route(http, route)
        split = normalize_split(destinations, http[index], namespace, domain)
        if checker is not None:
            problems = missing_subsets(split, checker.subsets_of)
            if problems:
                raise RouteError("destinations", "; ".join(problems))
        plan = plan_split(vs, index, split, domain)
        label = http[index].get("name") or "#%d" % index
        tracker = DifferenceTracker(plan.before_route, plan.after_route,
                                    header="VirtualService %s/%s, HTTP route %s" % (namespace, name, label))
        result = {
            "changed": tracker.changed,
            "route": http[index].get("name"),
            "route_index": index,
            "before": plan.before,
            "after": plan.after,
            "api_version": vs.get("apiVersion"),
            "attempts": attempts,
            "object": vs,
        }
        if not tracker.changed:
            return result, tracker
        try:
            result["object"] = api.json_patch(KIND, namespace, name, guard_ops(vs, index) + plan.ops, dry_run=check_mode)
            return result, tracker
        except (Conflict, Invalid) as exc:
            # 409: written since it was read. 422: a guard op failed, most likely for the same
            # reason; the next read tells (an unchanged resourceVersion means it was not that).
            refused = None if isinstance(exc, Conflict) else (vs["metadata"]["resourceVersion"], exc)
            if attempts > max_retries:
                raise IstioError("VirtualService %s/%s kept changing while its weights were being set: gave up after "
                                 "%d attempts (conflict retries exhausted); last error: %s"
                                 % (namespace, name, attempts, exc.msg), exc)
        except K8sError as exc:
            raise IstioError(explain(exc, "patch", RESOURCE, namespace, name), exc)
