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


def _read_and_plan(api, checker, namespace, name, destinations, route, domain):
    """One read of the VirtualService and the plan of this change on it: (vs, route index, weights now, plan)."""
    vs = read_virtual_service(api, namespace, name, param="name")
    http = (vs.get("spec") or {}).get("http") or []
    index = select_route(http, route)
    weights_now = route_weights(http[index], namespace, domain)
    split = normalize_split(destinations, http[index], namespace, domain)
    if checker is not None:
        checker.check(split)
    return vs, index, weights_now, plan_split(vs, index, split, domain)


def _check_policy(on_concurrent_weight_change):
    if on_concurrent_weight_change not in ON_CONCURRENT_WEIGHT_CHANGE:
        raise RouteError("on_concurrent_weight_change", "must be one of %s, got %r"
                         % (", ".join(ON_CONCURRENT_WEIGHT_CHANGE), on_concurrent_weight_change))


def set_split(api, namespace, name, destinations, route=None, check_mode=False, validate_destinations=True,
              max_retries=5, domain=DEFAULT_DOMAIN, root_namespace=DEFAULT_ROOT_NAMESPACE,
              on_concurrent_weight_change="fail", checker=None, first_read=None):
    """Give one route of a VirtualService the requested weights; returns (module result, DifferenceTracker).

    ``checker`` (a DestinationChecker for ``namespace``) may be shared by several changes, so that
    each list is read once for all of them; ``first_read`` is what ``_read_and_plan`` returned when
    the caller already read and checked the object (set_splits), so that read is not made again.
    """
    _check_policy(on_concurrent_weight_change)
    if checker is None and validate_destinations:
        checker = DestinationChecker(api, namespace, domain, root_namespace)
    attempts, refused, first_weights = 0, None, None
    while True:
        attempts += 1
        if first_read is not None:
            vs, index, weights_now, plan = first_read
            first_read = None
        else:
            vs, index, weights_now, plan = _read_and_plan(api, checker, namespace, name, destinations, route, domain)
        if refused is not None and vs["metadata"]["resourceVersion"] == refused[0]:
            # Refused although nobody wrote in between: the patch itself is at fault.
            raise IstioError(explain(refused[1], "patch", resource_name(VIRTUAL_SERVICE), namespace, name), refused[1])
        http = vs["spec"]["http"]
        if first_weights is None:
            first_weights = weights_now
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


def _in_item(exc, where):
    """The same failure, its option named inside item ``where`` (``virtual_services[3].destinations``)."""
    param = "%s.%s" % (where, exc.param) if exc.param else where
    out = RolloutsError(exc.msg, param=param, **exc.result)
    return out


def set_splits(api, items, check_mode=False, validate_destinations=True, max_retries=5, domain=DEFAULT_DOMAIN,
               root_namespace=DEFAULT_ROOT_NAMESPACE, on_concurrent_weight_change="fail", param="virtual_services"):
    """Give one route of each of several VirtualServices its weights: every one read and checked before any is written.

    ``items`` are dicts with ``namespace``, ``name``, ``destinations`` and ``route``. Any item that cannot
    be done (bad input, a missing object, route, host or subset) fails the whole call before the first
    write, its error naming the item (``virtual_services[3].destinations: ...``). Then each change is
    sent as set_split sends it (the same resourceVersion guard, conflict retries and
    on_concurrent_weight_change), reusing the read that was checked; the lists the destination check
    needs are read once per namespace for all items. Returns (list of results, list of DifferenceTrackers);
    a failure while writing names the item and says which items were already written.
    """
    _check_policy(on_concurrent_weight_change)
    checkers = {}
    planned = []
    for i, item in enumerate(items):
        ns = item["namespace"]
        if validate_destinations and ns not in checkers:
            checkers[ns] = DestinationChecker(api, ns, domain, root_namespace)
        try:
            planned.append(_read_and_plan(api, checkers.get(ns), ns, item["name"], item["destinations"],
                                          item.get("route"), domain))
        except RolloutsError as exc:
            raise _in_item(exc, "%s[%d]" % (param, i))
    results, trackers, written = [], [], []
    for i, (item, first) in enumerate(zip(items, planned)):
        try:
            result, tracker = set_split(api, item["namespace"], item["name"], item["destinations"], route=item.get("route"),
                                        check_mode=check_mode, validate_destinations=validate_destinations,
                                        max_retries=max_retries, domain=domain, root_namespace=root_namespace,
                                        on_concurrent_weight_change=on_concurrent_weight_change,
                                        checker=checkers.get(item["namespace"]), first_read=first)
        except RolloutsError as exc:
            failed = _in_item(exc, "%s[%d]" % (param, i))
            failed.result.update(changed=bool(written) and not check_mode, written=list(written))
            raise failed
        results.append(result)
        trackers.append(tracker)
        if result["changed"]:
            written.append("%s/%s" % (item["namespace"], item["name"]))
    return results, trackers
