# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection options, exactly as kubernetes.core names and reads them.

Same option names, aliases, types and K8S_AUTH_* environment variables as kubernetes.core's
args_common.py and k8s/client.py (6.x), so a playbook, ``module_defaults`` block or AWX
Kubernetes credential written for kubernetes.core works unchanged with this collection.
"""

from __future__ import annotations

import os

AUTH_PROXY_HEADERS_SPEC = dict(
    proxy_basic_auth=dict(type="str", no_log=True),
    basic_auth=dict(type="str", no_log=True),
    user_agent=dict(type="str"),
)

AUTH_ARG_SPEC = {
    "kubeconfig": {"type": "raw", "no_log": True},
    "context": {"type": "str"},
    "host": {"type": "str"},
    "api_key": {"type": "str", "no_log": True},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["cert_file"]},
    "client_key": {"type": "path", "aliases": ["key_file"]},
    "proxy": {"type": "str"},
    "no_proxy": {"type": "str"},
    "proxy_headers": {"type": "dict", "options": AUTH_PROXY_HEADERS_SPEC},
    "persist_config": {"type": "bool"},
    "impersonate_user": {"type": "str"},
    "impersonate_groups": {"type": "list", "elements": "str"},
}

# kubernetes client Configuration attribute -> module option (kubernetes.core's AUTH_ARG_MAP).
AUTH_ARG_MAP = {
    "kubeconfig": "kubeconfig",
    "context": "context",
    "host": "host",
    "api_key": "api_key",
    "username": "username",
    "password": "password",
    "verify_ssl": "validate_certs",
    "ssl_ca_cert": "ca_cert",
    "cert_file": "client_cert",
    "key_file": "client_key",
    "proxy": "proxy",
    "no_proxy": "no_proxy",
    "proxy_headers": "proxy_headers",
    "persist_config": "persist_config",
}

_FALSE = ("0", "false", "no")


def auth_spec(params, environ=None):
    """{client attribute: value} from module params, falling back to K8S_AUTH_* variables.

    An option set in the task wins; otherwise K8S_AUTH_<OPTION> then K8S_AUTH_<ATTRIBUTE>
    (for example K8S_AUTH_VALIDATE_CERTS, then K8S_AUTH_VERIFY_SSL), as kubernetes.core reads them.
    """
    env = os.environ if environ is None else environ
    auth = {}
    for true_name, arg_name in AUTH_ARG_MAP.items():
        value = params.get(arg_name)
        if value is not None:
            auth[true_name] = value
            continue
        if arg_name == "proxy_headers":
            headers = {}
            for key in AUTH_PROXY_HEADERS_SPEC:
                env_value = env.get("K8S_AUTH_PROXY_HEADERS_%s" % key.upper())
                if env_value is not None:
                    headers[key] = env_value
            if headers:
                auth[true_name] = headers
            continue
        env_value = env.get("K8S_AUTH_%s" % arg_name.upper()) or env.get("K8S_AUTH_%s" % true_name.upper())
        if env_value is not None:
            if AUTH_ARG_SPEC[arg_name].get("type") == "bool":
                env_value = env_value.lower() not in _FALSE
            auth[true_name] = env_value
    return auth


def impersonation_headers(params, environ=None):
    """Impersonate-User / Impersonate-Group header values (a list for groups)."""
    env = os.environ if environ is None else environ
    headers = {}
    for arg_name, header in (("impersonate_user", "Impersonate-User"), ("impersonate_groups", "Impersonate-Group")):
        value = params.get(arg_name)
        if value is None:
            value = env.get("K8S_AUTH_%s" % arg_name.upper())
            if value is not None and AUTH_ARG_SPEC[arg_name].get("type") == "list":
                value = [x for x in value.split(",") if x != ""]
        if value:
            headers[header] = value
    return headers


def _has(auth, *names):
    return all(auth.get(n) for n in names)


def has_direct_credentials(auth):
    """True when the options alone say where the server is and who we are (no kubeconfig needed)."""
    return (_has(auth, "username", "password", "host") or _has(auth, "api_key", "host")
            or _has(auth, "cert_file", "key_file", "host"))


def build_configuration(auth):
    """A kubernetes.client.Configuration for ``auth``, loaded the way kubernetes.core loads it.

    Enough in the options to authenticate (host with a token, a client certificate or a
    username and password) uses only those; a kubeconfig or context loads that kubeconfig;
    otherwise in-cluster config is tried first, then the default kubeconfig.
    """
    import kubernetes.client
    import kubernetes.config

    if _has(auth, "host"):
        auth["host"] = auth["host"].rstrip("/")

    def load():
        optional = {"context": auth.get("context"), "persist_config": auth.get("persist_config")}
        kubeconfig = auth.get("kubeconfig")
        if isinstance(kubeconfig, dict):
            kubernetes.config.load_kube_config_from_dict(config_dict=kubeconfig, **optional)
        else:
            kubernetes.config.load_kube_config(config_file=kubeconfig or None, **optional)

    if has_direct_credentials(auth):
        pass
    elif _has(auth, "kubeconfig") or _has(auth, "context"):
        load()
    else:
        try:
            kubernetes.config.load_incluster_config()
        except kubernetes.config.ConfigException:
            load()

    try:
        configuration = kubernetes.client.Configuration().get_default_copy()
    except AttributeError:
        configuration = kubernetes.client.Configuration()
    for key, value in auth.items():
        if value is None or key in ("kubeconfig", "context", "persist_config"):
            continue
        if key == "api_key":
            configuration.api_key = {"authorization": "Bearer %s" % value}
        elif key == "proxy_headers":
            import urllib3
            configuration.proxy_headers = urllib3.util.make_headers(**value)
        else:
            setattr(configuration, key, value)
    return configuration
