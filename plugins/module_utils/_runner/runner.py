# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one module runner: every module of the collection is built and run through here.

A module file holds its documentation, its own options and one call::

    run(kubernetes_module(MODULE_SPEC, supports_check_mode=True), action)

One factory per connection family adds that family's shared options (Kubernetes: kubernetes.core's
auth options with K8S_AUTH_* fallbacks and ``api_version``; Prometheus: url, credentials, timeout,
retries with PROMETHEUS_* fallbacks; none). ``run`` calls ``action(module)`` and is the only place
that calls ``fail_json``: every expected failure is a RolloutsError, whose message names the option
at fault and whose extra fields go into the failed task's result.
"""

from __future__ import annotations

import copy
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import API_VERSION_SPEC, IstioApi
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_auth import AUTH_ARG_SPEC
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_client import FIELD_MANAGER, client_from_params
from ansible_collections.rollouts.istio.plugins.module_utils._runner.prometheus_args import (
    PROMETHEUS_ARGS,
    PROMETHEUS_MUTUALLY_EXCLUSIVE,
    PROMETHEUS_REQUIRED_TOGETHER,
)

try:
    # Found, not imported: the kubernetes library is only loaded when a kubeconfig must be read.
    from importlib.util import find_spec
    HAS_KUBERNETES = find_spec("kubernetes") is not None and find_spec("urllib3") is not None
    KUBERNETES_IMPORT_ERROR = None if HAS_KUBERNETES else "the kubernetes Python library is not installed"
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()


def _merged(shared, module_spec):
    spec = copy.deepcopy(shared)
    clash = sorted(set(spec) & set(module_spec))
    if clash:
        # A module option named like a connection option would silently replace it.
        raise ValueError("module options %s clash with the connection options" % ", ".join(clash))
    spec.update(module_spec)
    return spec


def kubernetes_argument_spec(**module_spec):
    """The Kubernetes connection options and ``api_version``, plus a module's own."""
    return _merged(dict(AUTH_ARG_SPEC, api_version=dict(API_VERSION_SPEC)), module_spec)


def prometheus_argument_spec(**module_spec):
    """The Prometheus connection options, plus a module's own."""
    return _merged(PROMETHEUS_ARGS, module_spec)


def _joined(kwargs, key, shared):
    out = dict(kwargs)
    out[key] = list(shared) + list(kwargs.get(key) or [])
    return out


def kubernetes_module(module_spec, **kwargs):
    """An AnsibleModule for a module that talks to the Kubernetes API server."""
    module = AnsibleModule(argument_spec=kubernetes_argument_spec(**module_spec), **kwargs)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    return module


def prometheus_module(module_spec, **kwargs):
    """An AnsibleModule for a module that queries Prometheus."""
    kwargs = _joined(kwargs, "mutually_exclusive", PROMETHEUS_MUTUALLY_EXCLUSIVE)
    kwargs = _joined(kwargs, "required_together", PROMETHEUS_REQUIRED_TOGETHER)
    return AnsibleModule(argument_spec=prometheus_argument_spec(**module_spec), **kwargs)


def plain_module(module_spec, **kwargs):
    """An AnsibleModule for a module without a server connection (a probe, a CLI)."""
    return AnsibleModule(argument_spec=copy.deepcopy(module_spec), **kwargs)


def connect_istio(module, field_manager=FIELD_MANAGER):
    """The IstioApi for a Kubernetes module's connection options."""
    client = client_from_params(module.params, field_manager=field_manager)
    return IstioApi(client, module.params.get("api_version"))


def run(module, action):
    """Call ``action(module)`` and exit with its result; every RolloutsError becomes fail_json."""
    try:
        result = action(module)
    except RolloutsError as exc:
        fields = exc.result_fields()
        fields.setdefault("changed", False)
        module.fail_json(msg=str(exc), **fields)
    module.exit_json(**result)
