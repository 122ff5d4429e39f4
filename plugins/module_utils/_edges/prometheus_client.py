# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The HTTP edge to Prometheus' query API: auth, TLS, timeout, retries, and errors a person can act on.

Standard library only. Credentials go into request headers and nowhere else: no message, log or
return value of this file carries them.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._core.params import check_number

# Delays between attempts: BACKOFF, then doubling, at most BACKOFF_MAX seconds.
BACKOFF = 0.5
BACKOFF_MAX = 8.0


class PrometheusError(RolloutsError):
    """A query Prometheus did not answer. `kind` says which failure, for callers that branch on it:
    unreachable, timeout, tls, auth, not_found, bad_query, execution, server, bad_response."""

    def __init__(self, message, kind, param=None):
        super(PrometheusError, self).__init__(message, param=param)
        self.kind = kind


class _Retryable(Exception):
    """An attempt that may succeed when tried again (connection error, timeout, 5xx)."""

    def __init__(self, error):
        super(_Retryable, self).__init__(str(error))
        self.error = error


def _redact(url):
    """The URL without user:password@, which must never reach a message."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += ":%d" % parts.port
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _snippet(body, limit=200):
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")


class PrometheusClient(object):
    """Instant and range queries against one Prometheus (or anything serving its HTTP API).

    `queries` counts the queries asked, `requests` the HTTP attempts made (retries included).
    """

    def __init__(self, url, token=None, username=None, password=None, validate_certs=True, ca_path=None,
                 timeout=30.0, retries=3, sleep=time.sleep, opener=None):
        if not url:
            raise PrometheusError("no Prometheus URL: set url (or PROMETHEUS_URL)", "unreachable")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PrometheusError("Prometheus URL %r is not an http:// or https:// URL" % _redact(url), "unreachable",
                                  param="url")
        if username is None and parts.username is not None:
            # Credentials written into the URL work as basic auth, and are taken out of it.
            username = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
        self.url = _redact(url).rstrip("/")
        # A NaN, infinite or negative timeout would never time out or fail every attempt; never clamp silently.
        self.timeout = float(check_number(timeout, "timeout", above=0))
        self.retries = check_number(retries, "retries", minimum=0, integer=True)
        self.sleep = sleep
        self.queries = 0
        self.requests = 0
        self._headers = {"Accept": "application/json", "User-Agent": "rollouts.istio prometheus client"}
        if token:
            self._headers["Authorization"] = "Bearer " + token
            self._auth = "a bearer token"
        elif username is not None:
            pair = ("%s:%s" % (username, password or "")).encode("utf-8")
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
            self._auth = "basic auth for user %r" % username
        else:
            self._auth = None
        self.warnings = []
        if opener is None:
            try:
                context = ssl.create_default_context(cafile=ca_path if validate_certs else None)
            except (OSError, ssl.SSLError) as exc:
                raise PrometheusError("ca_path %s cannot be used as a CA bundle: %s" % (ca_path, exc), "tls")
            if not validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
        self._opener = opener

    # ------------------------------------------------------------ queries

    def query(self, promql, at=None):
        """The `data` of an instant query: {"resultType": ..., "result": ...}."""
        params = {"query": promql}
        if at is not None:
            params["time"] = at
        return self.call("/api/v1/query", params)

    def query_range(self, promql, start, end, step):
        """The `data` of a range query (resultType "matrix")."""
        return self.call("/api/v1/query_range", {"query": promql, "start": start, "end": end, "step": step})

    def call(self, path, params):
        """POST a form to the API; the `data` of its answer. Warnings go to `self.warnings`."""
        self.queries += 1
        body = urllib.parse.urlencode(params).encode("utf-8")
        attempts = self.retries + 1
        delay = BACKOFF
        for attempt in range(1, attempts + 1):
            try:
                answer = self._attempt(path, body)
                break
            except _Retryable as retry:
                if attempt == attempts:
                    err = retry.error
                    raise PrometheusError("%s (%d attempt%s)" % (err, attempts, "" if attempts == 1 else "s"),
                                          err.kind)
                self.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
        self.warnings = list(answer.get("warnings") or [])
        return answer["data"]

    # ------------------------------------------------------------ one HTTP attempt

    def _attempt(self, path, body):
        self.requests += 1
        endpoint = self.url + path
        request = urllib.request.Request(endpoint, data=body, headers=dict(
            self._headers, **{"Content-Type": "application/x-www-form-urlencoded"}))
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, ctype, raw = response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as exc:
            status, ctype = exc.code, exc.headers.get("Content-Type", "") if exc.headers else ""
            try:
                raw = exc.read()
            except (OSError, http.client.HTTPException):
                raw = b""
        except urllib.error.URLError as exc:
            raise self._connection_error(exc.reason)
        except (OSError, http.client.HTTPException) as exc:
            raise self._connection_error(exc)
        return self._answer(status, ctype, raw)

    def _connection_error(self, reason):
        if isinstance(reason, ssl.SSLError):
            # Not retried: a certificate does not become valid on the next attempt.
            return PrometheusError(
                "TLS verification of %s failed: %s; set ca_path to the CA that signed its certificate, "
                "or validate_certs to false" % (self.url, getattr(reason, "verify_message", None) or reason), "tls")
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return _Retryable(PrometheusError(
                "Prometheus at %s did not answer within %gs (timeout)" % (self.url, self.timeout), "timeout"))
        return _Retryable(PrometheusError("Prometheus at %s is unreachable: %s" % (self.url, reason or "no answer"),
                                          "unreachable"))

    def _answer(self, status, ctype, raw):
        """The decoded JSON answer of a 2xx; the right error for anything else."""
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            doc = None
        api = doc if isinstance(doc, dict) and doc.get("status") in ("success", "error") else None
        detail = (api or {}).get("error") or _snippet(raw)
        if status in (401, 403):
            raise PrometheusError(
                "Prometheus at %s refused the request (HTTP %d): wrong credentials (sent: %s); check token, "
                "username and password" % (self.url, status, self._auth or "no credentials"), "auth")
        if status >= 500:
            raise _Retryable(PrometheusError("Prometheus at %s answered HTTP %d: %s" % (self.url, status, detail),
                                             "server"))
        if status == 404 and api is None:
            raise PrometheusError("no Prometheus query API at %s (HTTP 404): is the URL right? It should be the "
                                  "address that serves /api/v1/query" % self.url, "not_found")
        if api is None:
            raise PrometheusError(
                "Prometheus at %s answered with something that is not its JSON API (HTTP %d, Content-Type %s): %s"
                % (self.url, status, ctype or "none", _snippet(raw) or "empty body"), "bad_response")
        if api["status"] == "error":
            kind = api.get("errorType") or ""
            if kind == "bad_data":
                raise PrometheusError("invalid PromQL: %s" % detail, "bad_query")
            if kind == "execution" or status == 422:
                raise PrometheusError("Prometheus could not run the query: %s" % detail, "execution")
            raise PrometheusError("Prometheus at %s answered HTTP %d, %s: %s" % (self.url, status, kind or "error",
                                                                                 detail), "bad_query")
        if status >= 300:
            raise PrometheusError("Prometheus at %s answered HTTP %d: %s" % (self.url, status, detail), "bad_response")
        if not isinstance(api.get("data"), dict):
            raise PrometheusError("Prometheus at %s answered success without data: %s" % (self.url, _snippet(raw)),
                                  "bad_response")
        return api
