# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read the workloads of a release and the ConfigMaps and Secrets they reference. Read only.

A revision (see _core/revision.py) is computed from what this reads; nothing here decides. A
Secret is returned to the caller only so its data can be hashed at once: nothing keeps it.
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_client import K8sError, NotFound, explain, path_quote

# The workload kinds a version may be, and their apps/v1 resources.
WORKLOAD_KINDS = {"Deployment": "deployments", "DaemonSet": "daemonsets"}


class WorkloadError(RolloutsError):
    """A read of a workload, ConfigMap or Secret that failed (not one that found nothing)."""


class WorkloadReader(object):
    """Deployments, DaemonSets, ConfigMaps and Secrets through a K8sClient; None for what does not exist."""

    def __init__(self, client):
        self.client = client

    def _get(self, path, resource, namespace, name):
        try:
            return self.client.get(path)
        except NotFound:
            return None
        except K8sError as exc:
            raise WorkloadError(explain(exc, "get", resource, namespace, name), status=exc.status, reason=exc.reason)

    def workload(self, kind, namespace, name):
        resource = WORKLOAD_KINDS[kind]
        return self._get("/apis/apps/v1/namespaces/%s/%s/%s" % (path_quote(namespace), resource, path_quote(name)),
                         resource + ".apps", namespace, name)

    def configmap(self, namespace, name):
        return self._get("/api/v1/namespaces/%s/configmaps/%s" % (path_quote(namespace), path_quote(name)),
                         "configmaps", namespace, name)

    def secret(self, namespace, name):
        return self._get("/api/v1/namespaces/%s/secrets/%s" % (path_quote(namespace), path_quote(name)),
                         "secrets", namespace, name)
