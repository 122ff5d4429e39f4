# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Istio specs built from the modules' plain options, and checked before anything is sent. Pure."""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.params import check_dns_label, check_dns_subdomain
from ansible_collections.rollouts.istio.plugins.module_utils._core.split import check_split

DEFAULT_GATEWAY_SELECTOR = {"istio": "ingressgateway"}


def check_object_names(params, name_param="name", namespace_param="namespace", name_required=True):
    """The object name and namespace options, as the API server would accept them, before any request.

    An empty name would turn a read of one object into a list request and an upper-case one into a
    plain "not found"; both are refused here, naming the option.
    """
    check_dns_label(params.get(namespace_param), namespace_param, "namespace")
    if name_required or params.get(name_param) is not None:
        check_dns_subdomain(params.get(name_param), name_param, "object name")


def _prune(d):
    return dict((k, v) for k, v in d.items() if v is not None)


def gateway_spec(selector=None, servers=None):
    out_servers = []
    for server in servers or []:
        port = server["port"]
        protocol = port.get("protocol") or "HTTP"
        out_servers.append(_prune({
            "port": {"number": port["number"], "name": port.get("name") or "%s-%d" % (protocol.lower(), port["number"]),
                     "protocol": protocol},
            "hosts": server["hosts"],
            "tls": server.get("tls"),
        }))
    return {"selector": selector if selector is not None else dict(DEFAULT_GATEWAY_SELECTOR), "servers": out_servers}


def destination_rule_spec(host, subsets=None, traffic_policy=None, export_to=None, version_label="version"):
    out_subsets = []
    for subset in subsets or []:
        labels = dict(subset.get("labels") or {})
        if subset.get("version") is not None:
            labels[version_label] = subset["version"]
        out_subsets.append(_prune({
            "name": subset["name"],
            "labels": labels or None,
            "trafficPolicy": subset.get("traffic_policy"),
        }))
    return _prune({
        "host": host,
        "trafficPolicy": traffic_policy,
        "subsets": out_subsets or None,
        "exportTo": export_to,
    })


def virtual_service_spec(hosts, gateways=None, http=None, export_to=None):
    routes = []
    for route in http or []:
        destinations = []
        for d in route.get("destinations") or []:
            dest = _prune({"host": d["host"], "subset": d.get("subset"),
                           "port": {"number": d["port"]} if d.get("port") is not None else None})
            destinations.append(_prune({"destination": dest, "weight": d.get("weight")}))
        routes.append(_prune({
            "name": route.get("name"),
            "match": route.get("match"),
            "route": destinations or None,
            "retries": route.get("retries"),
            "timeout": route.get("timeout"),
            "fault": route.get("fault"),
            "mirror": route.get("mirror"),
        }))
    return _prune({"hosts": hosts, "gateways": gateways, "http": routes or None, "exportTo": export_to})


def check_virtual_service_weights(spec, param="http", dest_param="destinations"):
    """The weights of every HTTP route of a VirtualService spec, by the one split rule (_core.split).

    The API server would accept weights adding up to 110 (Istio reads them as relative); this
    refuses them before anything is sent.
    """
    for i, route in enumerate((spec or {}).get("http") or []):
        entries = route.get("route") or []
        if not entries:
            continue
        check_split([e.get("weight") for e in entries], "%s[%d]" % (param, i),
                    where="route %s" % (route.get("name") or "#%d" % i),
                    labels=[".%s[%d].weight" % (dest_param, j) for j in range(len(entries))])
