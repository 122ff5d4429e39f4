# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rollouts.istio.traffic_split's task, shared by its module and its action plugin.

One argument spec and one ``split_traffic``: the module runs them as a module (on whatever host the
task runs on), the action plugin runs the same in the controller's worker, without shipping and
starting a module per task. Both return the same result and fail with the same messages.
"""

from __future__ import annotations

import json
import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.params import check_dns_label, check_number
from ansible_collections.rollouts.istio.plugins.module_utils._core.routes import DEFAULT_DOMAIN, DEFAULT_ROOT_NAMESPACE
from ansible_collections.rollouts.istio.plugins.module_utils._core.specs import check_object_names
from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import IstioApi
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_auth import AUTH_ARG_SPEC
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_client import FIELD_MANAGER, client_from_params
from ansible_collections.rollouts.istio.plugins.module_utils._flows.set_split import ON_CONCURRENT_WEIGHT_CHANGE, set_split, set_splits
from ansible_collections.rollouts.istio.plugins.module_utils._runner.arg_validation import validate_as_module
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import kubernetes_argument_spec

MODULE_NAME = "rollouts.istio.traffic_split"

_DESTINATION = dict(
    subset=dict(type="str"),
    host=dict(type="str"),
    weight=dict(type="int", required=True),
)

MODULE_SPEC = dict(
    name=dict(type="str"),
    namespace=dict(type="str"),
    route=dict(type="str"),
    destinations=dict(type="list", elements="dict", options=_DESTINATION),
    virtual_services=dict(type="list", elements="dict", options=dict(
        name=dict(type="str", required=True),
        namespace=dict(type="str"),
        route=dict(type="str"),
        destinations=dict(type="list", elements="dict", required=True, options=_DESTINATION),
    )),
    validate_destinations=dict(type="bool", default=True, aliases=["validate_subsets"]),
    root_namespace=dict(type="str", default=DEFAULT_ROOT_NAMESPACE),
    on_concurrent_weight_change=dict(type="str", choices=list(ON_CONCURRENT_WEIGHT_CHANGE), default="fail"),
    max_conflict_retries=dict(type="int", default=5),
    cluster_domain=dict(type="str", default=DEFAULT_DOMAIN),
)

# What the module's AnsibleModule is built with, besides the spec; the action plugin validates with the same.
MODULE_KWARGS = dict(
    required_one_of=[["name", "virtual_services"]],
    mutually_exclusive=[["name", "virtual_services"], ["route", "virtual_services"],
                        ["destinations", "virtual_services"]],
    required_by={"name": ["namespace", "destinations"]},
)


def _items(params):
    """The VirtualServices of ``virtual_services``, each with its namespace, checked before any request."""
    items = []
    for i, entry in enumerate(params["virtual_services"]):
        where = "virtual_services[%d]" % i
        item = dict(entry)
        if item.get("namespace") is None:
            item["namespace"] = params.get("namespace")
        if item["namespace"] is None:
            raise ParameterError(where + ".namespace", "required: give it in the item, or namespace for every item")
        try:
            check_object_names(item)
        except ParameterError as exc:
            raise ParameterError("%s.%s" % (where, exc.param), exc.msg)
        items.append(item)
    if not items:
        raise ParameterError("virtual_services", "give at least one VirtualService")
    return items


def split_traffic(params, api, check_mode=False, diff=False):
    """The task's result for validated ``params`` against ``api`` (an IstioApi), or a RolloutsError."""
    p = params
    if p.get("virtual_services") is None:
        check_object_names(p)
    check_number(p["max_conflict_retries"], "max_conflict_retries", minimum=0, integer=True)
    check_dns_label(p["root_namespace"], "root_namespace", "namespace")
    options = dict(check_mode=check_mode, validate_destinations=p["validate_destinations"],
                   max_retries=p["max_conflict_retries"], domain=p["cluster_domain"], root_namespace=p["root_namespace"],
                   on_concurrent_weight_change=p["on_concurrent_weight_change"])
    if p.get("virtual_services") is not None:
        items = _items(p)
        results, trackers = set_splits(api, items, **options)
        for item, one in zip(items, results):
            one.update(name=item["name"], namespace=item["namespace"])
        result = dict(changed=any(r["changed"] for r in results), results=results)
        if diff:
            result["diff"] = [dict(t.diff(), before_header="%s/%s" % (i["namespace"], i["name"]),
                                   after_header="%s/%s" % (i["namespace"], i["name"]))
                              for i, t in zip(items, trackers)]
        return result
    result, tracker = set_split(api, p["namespace"], p["name"], p["destinations"], route=p["route"], **options)
    if diff:
        result["diff"] = tracker.diff()
    return result


def split_traffic_module(module):
    """The module's action: ``split_traffic`` with an AnsibleModule's parameters and modes."""
    return split_traffic(module.params, connect(module.params), module.check_mode, module._diff)


def connect(params, field_manager=FIELD_MANAGER):
    """The IstioApi for the connection options (the kubernetes library is imported only for a kubeconfig)."""
    return IstioApi(client_from_params(params, field_manager=field_manager), params.get("api_version"))


_CONNECTIONS = {}


def _connection_key(params, environ):
    """What decides the connection: the connection options, the K8S_AUTH_* variables, the kubeconfig file's state."""
    auth = dict((k, params.get(k)) for k in AUTH_ARG_SPEC)
    env = sorted((k, v) for k, v in environ.items() if k.startswith("K8S_AUTH_") or k == "KUBECONFIG")
    files = []
    for path in [auth.get("kubeconfig"), environ.get("K8S_AUTH_KUBECONFIG"), environ.get("KUBECONFIG"), "~/.kube/config"]:
        if isinstance(path, str) and path:
            for one in path.split(os.pathsep):
                try:
                    st = os.stat(os.path.expanduser(one))
                    files.append((one, st.st_mtime_ns, st.st_size))
                except OSError:
                    files.append((one, None, None))
    return json.dumps([auth, env, files], sort_keys=True, default=str)


def shared_connection(params, environ=None):
    """One client (one connection pool) for every task of this process with the same connection settings.

    An action plugin runs a task's loop items in one worker process: they share the client instead of
    loading the kubeconfig and connecting once per item. A changed option, K8S_AUTH_* variable or
    kubeconfig file (its modification time or size) makes a new one. The IstioApi on top is new for
    every call (it remembers the API version it found, and ``api_version`` may differ).
    """
    environ = os.environ if environ is None else environ
    key = _connection_key(params, environ)
    client = _CONNECTIONS.get(key)
    if client is None:
        _CONNECTIONS.clear()
        client = _CONNECTIONS[key] = client_from_params(params, field_manager=FIELD_MANAGER)
    return IstioApi(client, params.get("api_version"))


def validate(args, name=MODULE_NAME):
    """(params, no_log_values, warnings, deprecations, error message or None), as AnsibleModule validates."""
    return validate_as_module(ArgumentSpecValidator(kubernetes_argument_spec(**MODULE_SPEC), **MODULE_KWARGS), args, name)
