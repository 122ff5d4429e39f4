# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    """How the Prometheus modules reach Prometheus (plugins/module_utils/_runner/prometheus_args.py)."""

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of Prometheus, or of anything that serves its HTTP query API (Thanos Query, Mimir, a proxy),
        for example C(http://prometheus.istio-system:9090) or C(https://example.org/prometheus).
      - The modules call I(url)C(/api/v1/query) and I(url)C(/api/v1/query_range).
      - If not set, the environment variable E(PROMETHEUS_URL) is used.
      - Credentials written into the URL (C(https://user:pass@host)) are used as basic auth and never shown.
    type: str
    required: true
  token:
    description:
      - Bearer token sent in the C(Authorization) header.
      - If neither O(token) nor O(username) is set, the environment variable E(PROMETHEUS_TOKEN) is used.
      - Never logged and never returned.
    type: str
  username:
    description:
      - User name for HTTP basic auth. Requires O(password).
      - Mutually exclusive with O(token).
    type: str
  password:
    description:
      - Password for HTTP basic auth. Never logged and never returned.
    type: str
  validate_certs:
    description:
      - Verify the TLS certificate of an C(https://) URL.
      - Turn it off only for a test server; use O(ca_path) for a private CA instead.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificate(s) to verify the server's certificate with, in place of the system's.
    type: path
  timeout:
    description:
      - Seconds to wait for one HTTP answer.
    type: float
    default: 30
  retries:
    description:
      - How many times to try again after a connection error, a timeout or an HTTP 5xx answer, waiting
        0.5 s, 1 s, 2 s ... (at most 8 s) in between.
      - Wrong credentials (HTTP 401/403), an invalid query (HTTP 400) and TLS verification failures are not retried.
      - The longest a query can take is about (O(retries) + 1) x O(timeout) plus the waits.
    type: int
    default: 3
notes:
  - Errors say what failed in words a person can act on, for example C(Prometheus at URL is unreachable),
    C(did not answer within 30s (timeout)), C(refused the request (HTTP 401) wrong credentials),
    C(invalid PromQL) followed by Prometheus' own message, or C(answered with something that is not its JSON API).
"""
