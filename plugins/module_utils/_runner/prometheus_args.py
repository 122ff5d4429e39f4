# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The connection options every Prometheus module shares (documented in doc_fragments/prometheus.py)."""

from __future__ import annotations

import os

from ansible.module_utils.basic import env_fallback

from ansible_collections.rollouts.istio.plugins.module_utils._edges.prometheus_client import PrometheusClient

PROMETHEUS_ARGS = dict(
    url=dict(type="str", required=True, fallback=(env_fallback, ["PROMETHEUS_URL"])),
    # PROMETHEUS_TOKEN is read in client_from_params, so that it never collides with username.
    token=dict(type="str", no_log=True),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    timeout=dict(type="float", default=30.0),
    retries=dict(type="int", default=3),
)

PROMETHEUS_MUTUALLY_EXCLUSIVE = [("token", "username")]
PROMETHEUS_REQUIRED_TOGETHER = [("username", "password")]


def client_from_params(params, **kwargs):
    """A PrometheusClient from the module's parameters.

    An explicit token or username wins; otherwise the token comes from PROMETHEUS_TOKEN.
    """
    token = params.get("token")
    if not token and not params.get("username"):
        token = os.environ.get("PROMETHEUS_TOKEN") or None
    return PrometheusClient(params["url"], token=token, username=params.get("username"),
                            password=params.get("password"), validate_certs=params["validate_certs"],
                            ca_path=params.get("ca_path"), timeout=params["timeout"], retries=params["retries"],
                            **kwargs)
