# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every Istio module of this collection shares: options, connection, error reporting."""

from __future__ import annotations

import copy
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_auth import AUTH_ARG_SPEC
from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import (
    API_VERSION_SPEC,
    IstioApi,
    IstioError,
)
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_client import (
    K8sError,
    client_from_params,
)
from ansible_collections.rollouts.istio.plugins.module_utils._core.routes import RouteError

try:
    # Found, not imported: the kubernetes library is only loaded when a kubeconfig must be read.
    from importlib.util import find_spec
    HAS_KUBERNETES = find_spec("kubernetes") is not None and find_spec("urllib3") is not None
    KUBERNETES_IMPORT_ERROR = None if HAS_KUBERNETES else "the kubernetes Python library is not installed"
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

FIELD_MANAGER = "rollouts.istio"


def argument_spec(**module_spec):
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec["api_version"] = dict(API_VERSION_SPEC)
    clash = sorted(set(spec) & set(module_spec))
    if clash:
        # A module option named like a connection option would silently replace it.
        raise ValueError("module options %s clash with the connection options" % ", ".join(clash))
    spec.update(module_spec)
    return spec


def istio_module(module_spec, **kwargs):
    """An AnsibleModule with the connection options and ``api_version`` added to ``module_spec``."""
    module = AnsibleModule(argument_spec=argument_spec(**module_spec), **kwargs)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    return module


def connect(module, field_manager=FIELD_MANAGER):
    """The IstioApi for the module's connection options."""
    client = client_from_params(module.params, field_manager=field_manager)
    return IstioApi(client, module.params.get("api_version"))


def run(module, action):
    """Call ``action()``, and turn every expected failure into fail_json with a clear message."""
    try:
        result = action()
    except RouteError as exc:
        module.fail_json(msg=str(exc), param=exc.param)
    except IstioError as exc:
        extra = {}
        cause = exc.cause
        if isinstance(cause, K8sError):
            extra = {"status": cause.status, "reason": cause.reason}
        module.fail_json(msg=exc.msg, **extra)
    except K8sError as exc:
        module.fail_json(msg=exc.msg, status=exc.status, reason=exc.reason)
    module.exit_json(**result)
