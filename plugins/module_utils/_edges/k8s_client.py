# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kubernetes API, one HTTP request at a time.

A deliberately small edge. Where a kubeconfig (or in-cluster config) must be read, the kubernetes
library loads it and sets up TLS and proxies exactly as kubernetes.core does; where the options
carry the server and the credentials (as an AWX credential does), the library is not even imported.
Requests go straight to the API paths, with no discovery round trips and no object models, so a
module makes only the requests it needs: one read and one write of a VirtualService per traffic change.
"""

from __future__ import annotations

import json
import os

from urllib.parse import quote, urlencode, urlparse

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError, RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_auth import (
    auth_spec,
    build_configuration,
    has_direct_credentials,
    impersonation_headers,
)

# The collection's name on the API server: its User-Agent and its server-side apply field manager.
USER_AGENT = FIELD_MANAGER = "rollouts.istio"
DEFAULT_TIMEOUT = 30

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class K8sError(RolloutsError):
    """A failed request, with the status and reason the API server gave."""

    def __init__(self, msg, status=None, reason=None, body=None, method=None, path=None):
        super(K8sError, self).__init__(msg, status=status, reason=reason)
        self.status = status
        self.reason = reason
        self.body = body or {}
        self.method = method
        self.path = path

    @property
    def details(self):
        return self.body.get("details") or {}

    @property
    def server_message(self):
        return self.body.get("message") or ""


class NotFound(K8sError):
    @property
    def is_object(self):
        """True when the object is missing; False when the path itself is not served."""
        return bool(self.details.get("name"))

    @property
    def missing_kind(self):
        return self.details.get("kind")


class Conflict(K8sError):
    pass


class Forbidden(K8sError):
    pass


class Invalid(K8sError):
    pass


class Unreachable(K8sError):
    pass


_ERRORS = {404: NotFound, 409: Conflict, 403: Forbidden, 422: Invalid}
_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "POST": "create", "DELETE": "delete"}


class K8sClient(object):
    """Requests against one API server, as one identity.

    ``pool`` is a urllib3 pool manager set up for the server's TLS and proxy; ``credentials()``
    returns the Authorization header for each request (a kubeconfig's exec plugin may refresh it).
    """

    def __init__(self, host, pool, credentials, headers=None, field_manager=FIELD_MANAGER, timeout=DEFAULT_TIMEOUT):
        self.host = host.rstrip("/")
        self.field_manager = field_manager
        self.timeout = timeout
        self._pool = pool
        self._credentials = credentials
        self._extra = headers or {}

    def _headers(self, content_type=None):
        import urllib3

        headers = urllib3.HTTPHeaderDict({"Accept": "application/json", "User-Agent": USER_AGENT})
        if content_type:
            headers["Content-Type"] = content_type
        headers.update(self._credentials())
        for name, value in self._extra.items():
            for v in (value if isinstance(value, list) else [value]):
                headers.add(name, v)
        return headers

    def request(self, method, path, query=None, body=None, content_type=None):
        """Send one request; the decoded JSON body, or a K8sError subclass."""
        import urllib3

        query = [(k, v) for k, v in (query or {}).items() if v is not None]
        url = self.host + path + ("?" + urlencode(query) if query else "")
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"))
            content_type = content_type or "application/json"
        try:
            resp = self._pool.request(method, url, body=data, headers=self._headers(content_type),
                                      timeout=self.timeout, retries=False, preload_content=True)
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable("cannot reach the Kubernetes API server at %s: %s" % (self.host, exc),
                              method=method, path=path)
        raw = resp.data.decode("utf-8", "replace") if resp.data else ""
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {"message": raw.strip()}
        if 200 <= resp.status < 300:
            return payload
        cls = _ERRORS.get(resp.status, K8sError)
        if resp.status == 401:
            msg = "the API server at %s rejected the credentials (401 Unauthorized)" % self.host
        else:
            msg = payload.get("message") or raw.strip() or resp.reason
        raise cls(msg, status=resp.status, reason=payload.get("reason") or resp.reason,
                  body=payload if isinstance(payload, dict) else {}, method=method, path=path)

    # The verbs, with this client's dry-run and field-manager conventions.

    def get(self, path, query=None):
        return self.request("GET", path, query=query)

    def patch(self, path, ops_or_body, content_type, dry_run=False, force=None):
        query = {"fieldManager": self.field_manager, "dryRun": "All" if dry_run else None}
        if force is not None and content_type == APPLY_PATCH:
            query["force"] = "true" if force else "false"
        return self.request("PATCH", path, query=query, body=ops_or_body, content_type=content_type)

    def delete(self, path, dry_run=False, resource_version=None):
        body = None
        if resource_version:
            body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": resource_version}}
        return self.request("DELETE", path, query={"dryRun": "All" if dry_run else None}, body=body)


def _configuration_client(configuration, headers, field_manager):
    """Through a kubernetes.client Configuration (a kubeconfig or in-cluster config was loaded)."""
    from kubernetes.client import rest

    def credentials():
        token = configuration.auth_settings().get("BearerToken")
        if token and token.get("value"):
            return {"Authorization": token["value"]}
        if configuration.username and configuration.password:
            return {"Authorization": configuration.get_basic_auth_token()}
        return {}

    pool = rest.RESTClientObject(configuration).pool_manager
    return K8sClient(configuration.host, pool, credentials, headers, field_manager)


def _bypass_proxy(host, no_proxy):
    hostname = (urlparse(host).hostname or "").lower()
    for entry in (e.strip().lower().lstrip(".") for e in (no_proxy or "").split(",")):
        if entry and (entry == "*" or hostname == entry or hostname.endswith("." + entry)):
            return True
    return False


def _direct_client(auth, headers, field_manager):
    """Straight from the options, when they carry the server and the credentials.

    kubernetes.core loads no configuration in that case either; this path also skips importing
    the kubernetes library, which is most of a module's start-up time.
    """
    import urllib3

    urllib3.disable_warnings()
    kw = {}
    if auth.get("verify_ssl", True) in (False,):
        kw["cert_reqs"] = "CERT_NONE"
    else:
        kw["cert_reqs"] = "CERT_REQUIRED"
        ca = auth.get("ssl_ca_cert")
        if not ca:
            try:
                import certifi
                ca = certifi.where()
            except ImportError:
                ca = None
        if ca:
            kw["ca_certs"] = ca
    if auth.get("cert_file"):
        kw["cert_file"] = auth["cert_file"]
    if auth.get("key_file"):
        kw["key_file"] = auth["key_file"]
    if auth.get("proxy") and not _bypass_proxy(auth["host"], auth.get("no_proxy")):
        proxy_headers = urllib3.util.make_headers(**auth["proxy_headers"]) if auth.get("proxy_headers") else None
        pool = urllib3.ProxyManager(auth["proxy"], proxy_headers=proxy_headers, **kw)
    else:
        pool = urllib3.PoolManager(**kw)
    if auth.get("api_key"):
        static = {"Authorization": "Bearer %s" % auth["api_key"]}
    elif auth.get("username") and auth.get("password"):
        static = urllib3.util.make_headers(basic_auth="%s:%s" % (auth["username"], auth["password"]))
        static = {"Authorization": static["authorization"]}
    else:
        static = {}
    return K8sClient(auth["host"], pool, lambda: static, headers, field_manager)


def client_from_params(params, field_manager=FIELD_MANAGER):
    """A K8sClient from module params (and K8S_AUTH_* variables), connecting as kubernetes.core would."""
    auth = auth_spec(params)
    headers = impersonation_headers(params)
    if has_direct_credentials(auth):
        auth["host"] = auth["host"].rstrip("/")
        return _direct_client(auth, headers, field_manager)
    import kubernetes.config

    kubeconfig = auth.get("kubeconfig")
    if isinstance(kubeconfig, str) and kubeconfig and not os.path.exists(os.path.expanduser(kubeconfig)):
        raise ParameterError("kubeconfig", "the file %s does not exist" % kubeconfig)
    try:
        configuration = build_configuration(auth)
    except (kubernetes.config.ConfigException, OSError) as exc:
        # Name the option at fault: the context when the kubeconfig has no such context, else the kubeconfig.
        if auth.get("context") and "context" in str(exc).lower():
            raise ParameterError("context", "could not load the Kubernetes connection settings: %s" % exc)
        if kubeconfig:
            raise ParameterError("kubeconfig", "could not load the Kubernetes connection settings: %s" % exc)
        raise K8sError("could not load the Kubernetes connection settings: %s" % exc)
    if not getattr(configuration, "host", None):
        raise K8sError("no Kubernetes API server: give host or kubeconfig, or set K8S_AUTH_HOST or K8S_AUTH_KUBECONFIG")
    return _configuration_client(configuration, headers, field_manager)


def path_quote(segment):
    return quote(str(segment), safe="")


def explain(exc, verb=None, resource=None, namespace=None, name=None):
    """A message that says what went wrong in the user's terms."""
    verb = verb or _VERBS.get(exc.method or "", exc.method or "")
    where = " in namespace %s" % namespace if namespace else ""
    what = "%s %s" % (resource, name) if name else resource
    if isinstance(exc, Forbidden):
        return ("forbidden: the API server does not allow %s on %s%s for this identity; grant the verb %r on %r. "
                "API server said: %s" % (verb, resource, where, verb, resource, exc.server_message or exc.msg))
    if isinstance(exc, Invalid):
        return "the API server rejected %s%s as invalid: %s" % (what, where, exc.server_message or exc.msg)
    if isinstance(exc, NotFound) and exc.missing_kind == "namespaces":
        return "namespace %s does not exist" % (exc.details.get("name") or namespace)
    return "%s %s%s failed: %s" % (verb, what, where, exc.msg)
