# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTTP routes of a VirtualService and their weights, as pure data.

No I/O here: the modules read the live objects, hand them to these functions, and write what
they return. A "route" is one entry of ``spec.http``; a "split" is the list of weighted
destinations the user wants one route to send traffic to.
"""

from __future__ import annotations

import copy

from ansible_collections.rollouts.istio.plugins.module_utils._core.difference import DifferenceTracker
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.release import DEFAULT_DOMAIN
from ansible_collections.rollouts.istio.plugins.module_utils._core.split import TOTAL_WEIGHT, check_split
from ansible_collections.rollouts.istio.plugins.module_utils._core.split import effective_weights as _effective

# Istio's default mesh root namespace (MeshConfig rootNamespace): rules there apply mesh-wide.
DEFAULT_ROOT_NAMESPACE = "istio-system"
# The annotation that gives a Kubernetes Service an Istio exportTo.
SERVICE_EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"


# Input that cannot be applied; ``param`` names the module option at fault. The one validation
# error of the collection, under the name the route code has always used.
RouteError = ParameterError


# ---------------------------------------------------------------- hosts

def resolve_host(host, namespace, domain=DEFAULT_DOMAIN):
    """The FQDN Istio makes of a host written in an object of ``namespace``.

    Istio expands only names without a dot: ``reviews`` in namespace ``ns`` is
    ``reviews.ns.svc.cluster.local``; anything with a dot (or ``*``) is taken as written.
    """
    if not host or host == "*" or "." in host:
        return host
    return "%s.%s.svc.%s" % (host, namespace, domain)


def host_namespace(fqdn, domain=DEFAULT_DOMAIN):
    """The namespace of a cluster-local service FQDN (``a.ns.svc.cluster.local`` -> ``ns``), else None."""
    suffix = ".svc." + domain
    if fqdn and fqdn.endswith(suffix):
        parts = fqdn[:-len(suffix)].split(".")
        if len(parts) == 2:
            return parts[1]
    return None


def _host_matches(pattern, fqdn):
    if pattern == fqdn:
        return True
    if pattern.startswith("*"):
        return fqdn.endswith(pattern[1:])
    return False


def exported_to(export_to, owner_namespace, client_namespace):
    """Whether an object of ``owner_namespace`` with this ``exportTo`` is visible from ``client_namespace``.

    As Istio reads exportTo: unset or empty means every namespace, ``*`` every namespace, ``.``
    the object's own namespace, ``~`` none, anything else a namespace by name.
    """
    if not export_to:
        return True
    for entry in export_to:
        entry = (entry or "").strip()
        if entry == "*" or entry == client_namespace or (entry == "." and owner_namespace == client_namespace):
            return True
    return False


def lookup_namespaces(client_namespace, fqdn, domain=DEFAULT_DOMAIN, root_namespace=DEFAULT_ROOT_NAMESPACE):
    """Where Istio looks for the rules of a host, in order: the client's namespace, the service's, the root."""
    out = []
    for ns in (client_namespace, host_namespace(fqdn, domain), root_namespace):
        if ns and ns not in out:
            out.append(ns)
    return out


def _namespace_of(obj):
    return (obj.get("metadata") or {}).get("namespace") or ""


def subsets_for_host(destination_rules, fqdn, domain=DEFAULT_DOMAIN, client_namespace=None):
    """Subset names defined for ``fqdn`` by the DestinationRules given (live objects).

    An exact host match wins over wildcard ones, as in Istio. With ``client_namespace``, a rule
    whose exportTo leaves that namespace out does not count. Returns None when no DestinationRule
    applies to the host at all.
    """
    exact, wildcard = [], []
    for dr in destination_rules:
        spec = dr.get("spec") or {}
        ns = _namespace_of(dr)
        if client_namespace is not None and not exported_to(spec.get("exportTo"), ns, client_namespace):
            continue
        pattern = resolve_host(spec.get("host") or "", ns, domain)
        if pattern == fqdn:
            exact.append(spec)
        elif _host_matches(pattern, fqdn):
            wildcard.append(spec)
    chosen = exact or wildcard
    if not chosen:
        return None
    names = set()
    for spec in chosen:
        for subset in spec.get("subsets") or []:
            if subset.get("name"):
                names.add(subset["name"])
    return names


def service_of(fqdn, domain=DEFAULT_DOMAIN):
    """(namespace, name) of the Kubernetes Service a cluster-local FQDN names, else None."""
    ns = host_namespace(fqdn, domain)
    if ns is None:
        return None
    return ns, fqdn.split(".", 1)[0]


def service_visible(service, client_namespace):
    """Whether a live Kubernetes Service is visible to the mesh from ``client_namespace``."""
    annotation = ((service.get("metadata") or {}).get("annotations") or {}).get(SERVICE_EXPORT_TO_ANNOTATION)
    export_to = annotation.split(",") if annotation else None
    return exported_to(export_to, _namespace_of(service), client_namespace)


def service_entry_covers(service_entries, fqdn, client_namespace, domain=DEFAULT_DOMAIN):
    """Whether one of the ServiceEntries given lists ``fqdn`` (or a wildcard of it) and is visible from the client."""
    for entry in service_entries:
        spec = entry.get("spec") or {}
        ns = _namespace_of(entry)
        if not exported_to(spec.get("exportTo"), ns, client_namespace):
            continue
        for host in spec.get("hosts") or []:
            if _host_matches(resolve_host(host, ns, domain), fqdn):
                return True
    return False


# ---------------------------------------------------------------- routes

def route_label(route, index):
    return route.get("name") or "(unnamed route #%d)" % index


def is_default_route(route):
    """A route without match conditions catches all traffic that earlier routes let through."""
    return not route.get("match")


def select_route(http, name=None):
    """Index in ``spec.http`` of the route to change.

    By name when ``name`` is given; otherwise the only route, or else the one default
    (match-less) route. Anything ambiguous is an error naming the ``route`` option.
    """
    http = http or []
    if not http:
        raise RouteError("route", "the VirtualService has no HTTP routes (spec.http is empty)")
    labels = ", ".join(route_label(r, i) for i, r in enumerate(http))
    if name:
        found = [i for i, r in enumerate(http) if r.get("name") == name]
        if not found:
            raise RouteError("route", "no HTTP route named %r; the VirtualService has: %s" % (name, labels))
        if len(found) > 1:
            raise RouteError("route", "%d HTTP routes are named %r; route names must be unique" % (len(found), name))
        return found[0]
    if len(http) == 1:
        return 0
    defaults = [i for i, r in enumerate(http) if is_default_route(r)]
    if len(defaults) == 1:
        return defaults[0]
    raise RouteError("route", "the VirtualService has %d HTTP routes (%s) and %s; set route to the name of one"
                     % (len(http), labels,
                        "no default route without match" if not defaults else "%d without match" % len(defaults)))


def effective_weights(destinations):
    """The weight of each destination entry as Istio reads it: a lone entry gets 100 whatever its weight."""
    return _effective(d.get("weight") for d in destinations or [])


def _identity(entry, namespace, domain):
    dest = entry.get("destination") or {}
    return (resolve_host(dest.get("host"), namespace, domain), dest.get("subset") or None)


def destination_keys(identities):
    """A short, stable name for each (host, subset) pair.

    The subset name alone where that is unambiguous (``stable``, ``candidate``); the host where
    there is no subset; ``host/subset`` where two hosts share a subset name.
    """
    by_subset = {}
    for host, subset in identities:
        if subset:
            by_subset.setdefault(subset, set()).add(host)
    keys = []
    for host, subset in identities:
        if not subset:
            keys.append(host)
        elif len(by_subset[subset]) == 1:
            keys.append(subset)
        else:
            keys.append("%s/%s" % (host, subset))
    return keys


def describe_route(route, index, namespace, domain=DEFAULT_DOMAIN):
    """A route in the plain shape assert gates use: destinations and {key: weight}."""
    entries = route.get("route") or []
    weights = effective_weights(entries)
    identities = [_identity(e, namespace, domain) for e in entries]
    keys = destination_keys(identities)
    destinations = []
    for entry, weight, key in zip(entries, weights, keys):
        dest = entry.get("destination") or {}
        destinations.append({
            "key": key,
            "host": dest.get("host"),
            "subset": dest.get("subset"),
            "port": (dest.get("port") or {}).get("number"),
            "weight": weight,
        })
    return {
        "index": index,
        "name": route.get("name"),
        "default": is_default_route(route),
        "match": route.get("match") or [],
        "destinations": destinations,
        "weights": dict(zip(keys, weights)),
    }


def describe_virtual_service(obj, domain=DEFAULT_DOMAIN):
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ns = meta.get("namespace") or ""
    return {
        "name": meta.get("name"),
        "namespace": ns,
        "api_version": obj.get("apiVersion"),
        "hosts": spec.get("hosts") or [],
        "gateways": spec.get("gateways") or [],
        "routes": [describe_route(r, i, ns, domain) for i, r in enumerate(spec.get("http") or [])],
        "object": obj,
    }


# ---------------------------------------------------------------- splits

def normalize_split(destinations, route, namespace, domain=DEFAULT_DOMAIN, param="destinations"):
    """Check a requested split and return it as [(host, fqdn, subset, weight)].

    Weights are integers 0..100 adding up to exactly 100 (Istio itself would accept 110,
    treating weights as relative: this is what stops a half-thought split), no destination
    twice. A destination given by subset alone takes the host the route already sends to.
    """
    if not destinations:
        raise RouteError(param, "give at least one destination")
    for other in ("redirect", "directResponse", "delegate"):
        if route.get(other) is not None:
            raise RouteError("route", "route %r has %s, not weighted destinations, so it cannot be split"
                             % (route.get("name") or "(unnamed)", other))
    existing_hosts = []
    for entry in route.get("route") or []:
        host = (entry.get("destination") or {}).get("host")
        if host and host not in existing_hosts:
            existing_hosts.append(host)
    for i, dest in enumerate(destinations):
        if not isinstance(dest, dict):
            raise RouteError("%s[%d]" % (param, i), "must be a dictionary with subset and/or host, and weight")
    weights = check_split([d.get("weight") for d in destinations], param)
    out, seen = [], {}
    for i, (dest, weight) in enumerate(zip(destinations, weights)):
        where = "%s[%d]" % (param, i)
        host, subset = dest.get("host"), dest.get("subset") or None
        if not host and not subset:
            raise RouteError(where, "give subset, host, or both")
        if not host:
            if len(existing_hosts) != 1:
                raise RouteError(where + ".host", "the route sends to %s, so say which host subset %r belongs to"
                                 % ("several hosts (%s)" % ", ".join(existing_hosts) if existing_hosts else "no host yet",
                                    subset))
            host = existing_hosts[0]
        fqdn = resolve_host(host, namespace, domain)
        ident = (fqdn, subset)
        if ident in seen:
            raise RouteError(where, "names the same destination as %s[%d] (%s%s)"
                             % (param, seen[ident], fqdn, "/" + subset if subset else ""))
        seen[ident] = i
        out.append((host, fqdn, subset, weight))
    return out


def destination_problems(split, host_exists, subsets_of, param="destinations"):
    """What is wrong with the destinations of a normalized split, as human-readable problems.

    ``host_exists(fqdn)`` tells whether the mesh knows the host (a Service or a ServiceEntry
    visible from the route's namespace); ``subsets_of(fqdn)`` returns the subset names defined
    for it, or None when no DestinationRule applies. A host that does not exist is reported once,
    without its subset: its share of the traffic would go nowhere.
    """
    problems = []
    for i, (host, fqdn, subset, _weight) in enumerate(split):
        where = "%s[%d]" % (param, i)
        if not host_exists(fqdn):
            problems.append("%s.host %r (%s): no such Service, and no ServiceEntry for this host visible from the "
                            "route's namespace" % (where, host, fqdn))
            continue
        if not subset:
            continue
        names = subsets_of(fqdn)
        if names is None:
            problems.append("subset %r of %s: no DestinationRule for this host" % (subset, fqdn))
        elif subset not in names:
            problems.append("subset %r of %s: not defined (the DestinationRule defines %s)"
                            % (subset, fqdn, ", ".join(sorted(names)) or "no subsets"))
    return problems


def route_weights(route, namespace, domain=DEFAULT_DOMAIN):
    """{destination key: effective weight} of one route, as Istio sends its traffic."""
    return describe_route(route, 0, namespace, domain)["weights"]


class SplitPlan(object):
    """What setting a split on one route changes: the new route, the JSON patch, the weights.

    ``difference`` (before and after of the route) is the one place that decides whether
    anything changes, for ``changed`` and for the diff alike.
    """

    def __init__(self, index, difference, ops, before, after):
        self.index = index
        self.difference = difference
        self.ops = ops
        self.before = before
        self.after = after

    @property
    def before_route(self):
        return self.difference.before

    @property
    def after_route(self):
        return self.difference.after


def plan_split(vs, index, split, domain=DEFAULT_DOMAIN):
    """The minimal change that gives route ``index`` of ``vs`` the normalized ``split``.

    Destination entries the split names keep everything they have (headers, port, fields this
    code does not know) and only get their weight set; entries it does not name are removed;
    new ones are appended. Nothing outside ``spec.http[index].route`` is touched. Weights that
    Istio already reads as equal (a lone entry without weight is 100) are not rewritten.
    """
    namespace = (vs.get("metadata") or {}).get("namespace") or ""
    route = (vs.get("spec") or {}).get("http")[index]
    entries = route.get("route") or []
    base = "/spec/http/%d/route" % index
    old_weights = effective_weights(entries)
    identities = [_identity(e, namespace, domain) for e in entries]
    if len(set(identities)) != len(identities):
        raise RouteError("route", "route %s sends to the same destination more than once; make each destination "
                         "appear once before splitting it" % (route.get("name") or "#%d" % index))

    wanted = dict(((fqdn, subset), weight) for _h, fqdn, subset, weight in split)
    kept = [ident for ident in identities if ident in wanted]
    result_count = len(split)
    ops, removed = [], []
    for j, (entry, ident) in enumerate(zip(entries, identities)):
        if ident not in wanted:
            removed.append(j)
            continue
        new = wanted[ident]
        if "weight" in entry:
            if entry["weight"] != new:
                ops.append({"op": "replace", "path": "%s/%d/weight" % (base, j), "value": new})
        elif new != (TOTAL_WEIGHT if result_count == 1 else 0):
            # Without a weight an entry counts as 100 alone and as 0 beside others.
            ops.append({"op": "add", "path": "%s/%d/weight" % (base, j), "value": new})
    # Entries not in the split: drop them, highest index first so earlier paths stay valid.
    for j in reversed(removed):
        ops.append({"op": "remove", "path": "%s/%d" % (base, j)})
    appended = []
    for host, fqdn, subset, weight in split:
        if (fqdn, subset) in kept:
            continue
        dest = {"host": host}
        if subset:
            dest["subset"] = subset
        # A new subset of a host the route already sends to a port of goes to that same port: a
        # Service with several ports needs it.
        ports = [e["destination"]["port"] for e, ident in zip(entries, identities)
                 if ident[0] == fqdn and (e.get("destination") or {}).get("port")]
        if ports:
            dest["port"] = ports[0]
        entry = {"destination": dest, "weight": weight}
        appended.append(entry)
        if "route" in route:
            ops.append({"op": "add", "path": base + "/-", "value": entry})
    if appended and "route" not in route:
        ops.append({"op": "add", "path": base, "value": appended})

    after_route = apply_patch({"spec": {"http": [None] * index + [route]}}, ops)["spec"]["http"][index]
    after_entries = after_route.get("route") or []
    after_ids = [_identity(e, namespace, domain) for e in after_entries]
    keys = destination_keys(_unique(identities + after_ids))
    key_of = dict(zip(_unique(identities + after_ids), keys))
    before = dict((key_of[i], w) for i, w in zip(identities, old_weights))
    after = dict((key_of[i], w) for i, w in zip(after_ids, effective_weights(after_entries)))
    header = "VirtualService %s/%s, HTTP route %s" % (
        namespace, (vs.get("metadata") or {}).get("name"), route.get("name") or "#%d" % index)
    return SplitPlan(index, DifferenceTracker(route, after_route, header=header), ops, before, after)


def _unique(items):
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


# ---------------------------------------------------------------- JSON patch (RFC 6902), the subset we emit

def _split_path(path):
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def apply_patch(doc, ops):
    """Apply JSON patch ops (add, remove, replace, test) to a copy of ``doc``.

    Used to compute what the server will store, so a plan can be shown (check and diff mode)
    exactly as it will be written.
    """
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = _split_path(op["path"])
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            if kind == "add":
                if last == "-":
                    parent.append(copy.deepcopy(op["value"]))
                else:
                    parent.insert(int(last), copy.deepcopy(op["value"]))
            elif kind == "remove":
                del parent[int(last)]
            elif kind == "replace":
                parent[int(last)] = copy.deepcopy(op["value"])
            elif kind == "test":
                if parent[int(last)] != op["value"]:
                    raise ValueError("test failed at " + op["path"])
        else:
            if kind in ("add", "replace"):
                parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[last]
            elif kind == "test":
                if parent.get(last) != op["value"]:
                    raise ValueError("test failed at " + op["path"])
    return doc


def guard_ops(vs, index):
    """Ops that make a JSON patch apply only to the object as it was read.

    Setting ``metadata.resourceVersion`` to the version read makes the API server refuse the
    patch with 409 Conflict when anyone wrote the object since (a ``test`` op would fail with a
    bare 422 instead). The route's name is tested too, so the patch can never land on another route.
    """
    route = vs["spec"]["http"][index]
    ops = [{"op": "replace", "path": "/metadata/resourceVersion", "value": vs["metadata"]["resourceVersion"]}]
    if route.get("name"):
        ops.append({"op": "test", "path": "/spec/http/%d/name" % index, "value": route["name"]})
    return ops
