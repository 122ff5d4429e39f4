# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Setting the split of one route of a live VirtualService, safely.

Read the object, let the pure route model decide the minimal JSON patch, and send it guarded by
the resourceVersion that was read. A concurrent writer makes the guard fail; then the object
is read again and only this change is planned and sent again, a bounded number of times. A
concurrent change of the same route's weights (an operator's emergency rollback, another
rollout) is not merged over: it fails, unless the caller asked to override it.
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import (
    DESTINATION_RULE,
    SERVICE_ENTRY,
    VIRTUAL_SERVICE,
    IstioError,
    resource_name,
)
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_client import (
    Conflict,
    Invalid,
    K8sError,
    explain,
)
from ansible_collections.rollouts.istio.plugins.module_utils._core.routes import (
    DEFAULT_DOMAIN,
    DEFAULT_ROOT_NAMESPACE,
    RouteError,
    destination_problems,
    guard_ops,
    lookup_namespaces,
    normalize_split,
    plan_split,
    route_weights,
    select_route,
    service_entry_covers,
    service_of,
    service_visible,
    subsets_for_host,
)

ON_CONCURRENT_WEIGHT_CHANGE = ("fail", "override")


class ConcurrentWeightChange(RolloutsError):
    """The route's weights were changed by someone else between this run's first read and its write."""


def read_virtual_service(api, namespace, name, param=None):
    """The live VirtualService, or an error that says whether the namespace or the object is missing.

    ``param`` is the option the name came from (``name``, ``virtual_services[0].name``): a missing
    object is an error about it. Without it the message names no option.
    """
    vs = api.get(VIRTUAL_SERVICE, namespace, name)
    if vs is None:
        if api.namespace_exists(namespace) is False:
            raise IstioError("namespace %s does not exist" % namespace)
        raise IstioError("VirtualService %s not found in namespace %s" % (name, namespace), param=param)
    return vs


class DestinationChecker(object):
    """Whether the hosts and subsets of a split exist, as Istio would find them from ``namespace``.

    Every list is read at most once per namespace, and only as far as Istio's lookup order
    (client namespace, service namespace, root namespace) needs to go.
    """

    def __init__(self, api, namespace, domain=DEFAULT_DOMAIN, root_namespace=DEFAULT_ROOT_NAMESPACE):
        self.api = api
        self.namespace = namespace
        self.domain = domain
        self.root_namespace = root_namespace
        self._lists = {}
        self._services = {}

    def _service(self, namespace, name):
        if (namespace, name) not in self._services:
            self._services[(namespace, name)] = self.api.service(namespace, name)
        return self._services[(namespace, name)]

    def _list(self, kind, namespace):
        if (kind, namespace) not in self._lists:
            self._lists[(kind, namespace)] = self.api.list(kind, namespace)
        return self._lists[(kind, namespace)]

    def _order(self, fqdn):
        return lookup_namespaces(self.namespace, fqdn, self.domain, self.root_namespace)

    def subsets_of(self, fqdn):
        """The subsets of the first DestinationRule for ``fqdn`` in Istio's lookup order, or None."""
        for ns in self._order(fqdn):
            found = subsets_for_host(self._list(DESTINATION_RULE, ns), fqdn, self.domain, self.namespace)
            if found is not None:
                return found
        return None

    def host_exists(self, fqdn):
        """A visible Service of that name, or a visible ServiceEntry listing the host."""
        service = service_of(fqdn, self.domain)
        if service is not None:
            obj = self._service(*service)
            if obj is not None and service_visible(obj, self.namespace):
                return True
        return any(service_entry_covers(self._list(SERVICE_ENTRY, ns), fqdn, self.namespace, self.domain)
                   for ns in self._order(fqdn))

    def check(self, split):
        problems = destination_problems(split, self.host_exists, self.subsets_of)
        if problems:
            raise RouteError("destinations", "; ".join(problems))


def _concurrent_change(namespace, name, label, first, now):
    return ConcurrentWeightChange(
        "VirtualService %s/%s: the weights of HTTP route %s were changed by someone else while this task was setting "
        "them (read first: %s; now: %s). Not overwriting that change (it may be an operator's rollback): look at it, "
        "or set on_concurrent_weight_change=override to replace it." % (namespace, name, label, _show(first), _show(now)),
        weights_read_first=first, weights_now=now)


def _show(weights):
    return ", ".join("%s=%s" % (k, v) for k, v in sorted(weights.items())) or "no destinations"


def set_split(api, namespace, name, destinations, route=None, check_mode=False, validate_destinations=True,
              max_retries=5, domain=DEFAULT_DOMAIN, root_namespace=DEFAULT_ROOT_NAMESPACE,
              on_concurrent_weight_change="fail"):
    """Give one route of a VirtualService the requested weights; returns (module result, DifferenceTracker)."""
    if on_concurrent_weight_change not in ON_CONCURRENT_WEIGHT_CHANGE:
        raise RouteError("on_concurrent_weight_change", "must be one of %s, got %r"
                         % (", ".join(ON_CONCURRENT_WEIGHT_CHANGE), on_concurrent_weight_change))
    checker = DestinationChecker(api, namespace, domain, root_namespace) if validate_destinations else None
    attempts, refused, first_weights = 0, None, None
    while True:
        attempts += 1
        vs = read_virtual_service(api, namespace, name, param="name")
        if refused is not None and vs["metadata"]["resourceVersion"] == refused[0]:
            # Refused although nobody wrote in between: the patch itself is at fault.
            raise IstioError(explain(refused[1], "patch", resource_name(VIRTUAL_SERVICE), namespace, name), refused[1])
        http = (vs.get("spec") or {}).get("http") or []
        index = select_route(http, route)
        weights_now = route_weights(http[index], namespace, domain)
        if first_weights is None:
            first_weights = weights_now
        split = normalize_split(destinations, http[index], namespace, domain)
        if checker is not None:
            checker.check(split)
        plan = plan_split(vs, index, split, domain)
        changed = plan.difference.changed
        if changed and weights_now != first_weights and on_concurrent_weight_change == "fail":
            raise _concurrent_change(namespace, name, http[index].get("name") or "#%d" % index,
                                     first_weights, weights_now)
        result = {
            "changed": changed,
            "route": http[index].get("name"),
            "route_index": index,
            "before": plan.before,
            "after": plan.after,
            "api_version": vs.get("apiVersion"),
            "attempts": attempts,
            "object": vs,
        }
        if not changed:
            return result, plan.difference
        try:
            result["object"] = api.json_patch(VIRTUAL_SERVICE, namespace, name, guard_ops(vs, index) + plan.ops, dry_run=check_mode)
            return result, plan.difference
        except (Conflict, Invalid) as exc:
            # 409: written since it was read. 422: a guard op failed, most likely for the same
            # reason; the next read tells (an unchanged resourceVersion means it was not that).
            refused = None if isinstance(exc, Conflict) else (vs["metadata"]["resourceVersion"], exc)
            if attempts > max_retries:
                raise IstioError("VirtualService %s/%s kept changing while its weights were being set: gave up after "
                                 "%d attempts (conflict retries exhausted); last error: %s"
                                 % (namespace, name, attempts, exc.msg), exc)
        except K8sError as exc:
            raise IstioError(explain(exc, "patch", resource_name(VIRTUAL_SERVICE), namespace, name), exc)
