# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Istio's networking API on one API server: which version it serves, and the objects in it.

The version is found from what the server serves, newest first (v1, v1beta1, v1alpha3),
without a separate discovery request: the first read goes to the newest version's path, and
a "path not served" answer (as opposed to "object not found") moves on to the next. So a
module that reads and writes one object makes exactly two requests.
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_client import (
    APPLY_PATCH,
    JSON_PATCH,
    K8sError,
    NotFound,
    explain,
    path_quote,
)

GROUP = "networking.istio.io"
VERSIONS = ("v1", "v1beta1", "v1alpha3")

# The kinds this collection reads and writes, and their resources: named here only.
VIRTUAL_SERVICE = "VirtualService"
DESTINATION_RULE = "DestinationRule"
GATEWAY = "Gateway"
SERVICE_ENTRY = "ServiceEntry"
KINDS = {
    VIRTUAL_SERVICE: "virtualservices",
    DESTINATION_RULE: "destinationrules",
    GATEWAY: "gateways",
    SERVICE_ENTRY: "serviceentries",
}
# A Kubernetes Service (core/v1): the host a destination names, when it is cluster-local.
SERVICES = "services"

API_VERSION_SPEC = {"type": "str"}


class IstioError(RolloutsError):
    """A request about Istio objects that failed; carries the API server's status and reason when it gave one."""

    def __init__(self, msg, cause=None, param=None):
        extra = {"status": cause.status, "reason": cause.reason} if isinstance(cause, K8sError) else {}
        super(IstioError, self).__init__(msg, param=param, **extra)
        self.cause = cause


def parse_api_version(value):
    """``v1`` or ``networking.istio.io/v1`` -> ``v1``; None stays None (found from the server)."""
    if not value:
        return None
    group, version = value.rpartition("/")[::2]
    if group and group != GROUP:
        raise IstioError("api_version: %r is not of the %s API group" % (value, GROUP))
    if version not in VERSIONS:
        raise IstioError("api_version: %r is not one of %s" % (value, ", ".join(VERSIONS)))
    return version


class IstioApi(object):
    """Read and write Istio networking objects, in the version the server serves."""

    def __init__(self, client, version=None):
        self.client = client
        self.version = parse_api_version(version)
        self._forced = self.version is not None

    @property
    def api_version(self):
        return "%s/%s" % (GROUP, self.version or VERSIONS[0])

    def path(self, kind, namespace, name=None, version=None):
        p = "/apis/%s/%s/namespaces/%s/%s" % (GROUP, version or self.version, path_quote(namespace), KINDS[kind])
        if name:
            p += "/" + path_quote(name)
        return p

    def _versions(self):
        return (self.version,) if self.version else VERSIONS

    def _not_served(self, exc):
        if self._forced:
            return IstioError("the API server does not serve %s/%s: is that version of Istio's CRDs installed? "
                              "Leave api_version unset to use the version the server serves." % (GROUP, self.version), exc)
        return IstioError("the API server serves no %s version (tried %s): are Istio's CRDs installed?"
                          % (GROUP, ", ".join(VERSIONS)), exc)

    def get(self, kind, namespace, name):
        """The live object, or None when it does not exist."""
        versions = self._versions()
        for version in versions:
            try:
                obj = self.client.get(self.path(kind, namespace, name, version))
                self.version = version
                return obj
            except NotFound as exc:
                if exc.is_object:
                    self.version = version
                    return None
                last = exc
            except K8sError as exc:
                raise IstioError(explain(exc, "get", resource_name(kind), namespace, name), exc)
        raise self._not_served(last)

    def list(self, kind, namespace, label_selector=None):
        versions = self._versions()
        for version in versions:
            try:
                result = self.client.get(self.path(kind, namespace, None, version),
                                         query={"labelSelector": label_selector or None})
                self.version = version
                return result.get("items") or []
            except NotFound as exc:
                last = exc
            except K8sError as exc:
                raise IstioError(explain(exc, "list", resource_name(kind), namespace), exc)
        raise self._not_served(last)

    def json_patch(self, kind, namespace, name, ops, dry_run=False):
        return self.client.patch(self.path(kind, namespace, name), ops, JSON_PATCH, dry_run=dry_run)

    def apply(self, kind, namespace, name, obj, dry_run=False, force=True):
        """Server-side apply of ``obj`` with this client's field manager."""
        try:
            return self.client.patch(self.path(kind, namespace, name), obj, APPLY_PATCH, dry_run=dry_run, force=force)
        except K8sError as exc:
            raise IstioError(explain(exc, "patch", resource_name(kind), namespace, name), exc)

    def delete(self, kind, namespace, name, dry_run=False, resource_version=None):
        try:
            return self.client.delete(self.path(kind, namespace, name), dry_run=dry_run,
                                      resource_version=resource_version)
        except K8sError as exc:
            raise IstioError(explain(exc, "delete", resource_name(kind), namespace, name), exc)

    def service(self, namespace, name):
        """The Kubernetes Service (core/v1), or None when it does not exist."""
        try:
            return self.client.get("/api/v1/namespaces/%s/%s/%s" % (path_quote(namespace), SERVICES, path_quote(name)))
        except NotFound:
            return None
        except K8sError as exc:
            raise IstioError(explain(exc, "get", SERVICES, namespace, name), exc)

    def namespace_exists(self, namespace):
        """True or False, or None when this identity may not read namespaces."""
        try:
            self.client.get("/api/v1/namespaces/" + path_quote(namespace))
            return True
        except NotFound:
            return False
        except K8sError:
            return None


def resource_name(kind):
    """``virtualservices.networking.istio.io`` for ``VirtualService``: the name RBAC and messages use."""
    return "%s.%s" % (KINDS[kind], GROUP)
