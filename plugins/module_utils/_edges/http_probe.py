# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The HTTP probe: send N requests with a few workers and tell which version answered each. I/O only.

Each worker keeps one persistent connection (as hey and a browser do) and reopens it after an
error. Nothing here judges the result: it returns one _core.split_stats.Sample per request.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._core.split_stats import Sample


class ProbeError(RolloutsError):
    """A probe that cannot start (bad URL, bad regex); ``param`` names the option at fault."""


def _open_socket(conn):
    sock = socket.create_connection((conn.host, conn.port), conn.timeout, conn.source_address)
    # Small requests go out at once, as hey's and browsers' do, not after the server's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _HTTPConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = _open_socket(self)


class _HTTPSConnection(http.client.HTTPSConnection):
    """HTTPS whose TLS server name is the Host header's, as a client resolving that name would send."""

    def __init__(self, host, port=None, server_name=None, **kwargs):
        http.client.HTTPSConnection.__init__(self, host, port, **kwargs)
        self._server_name = server_name

    def connect(self):
        self.sock = self._context.wrap_socket(_open_socket(self), server_hostname=self._server_name or self.host)


class Target(object):
    """Where and what to send: built once, shared by the workers."""

    def __init__(self, url, host=None, path=None, method="GET", headers=None, body=None, timeout=10.0,
                 validate_certs=True):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProbeError("must be an http:// or https:// URL with a host, got %r" % url, param="url")
        self.scheme = parts.scheme
        self.address = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        if path:
            self.path = path if path.startswith("/") else "/" + path
        else:
            self.path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        self.method = method.upper()
        self.host = host
        self.headers = dict(headers or {})
        if host:
            self.headers["Host"] = host
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.timeout = timeout
        self.context = None
        if self.scheme == "https":
            self.context = ssl.create_default_context()
            if not validate_certs:
                self.context.check_hostname = False
                self.context.verify_mode = ssl.CERT_NONE

    def connect(self):
        if self.scheme == "https":
            return _HTTPSConnection(self.address, self.port, server_name=self.host and self.host.split(":")[0],
                                    timeout=self.timeout, context=self.context)
        return _HTTPConnection(self.address, self.port, timeout=self.timeout)


class VersionReader(object):
    """Tells the version from a response: a header (case-insensitive) or a regex's first group on the body."""

    def __init__(self, header=None, regex=None):
        self.header = header
        self.regex = None
        if regex:
            try:
                self.regex = re.compile(regex)
            except re.error as exc:
                raise ProbeError("%r is not a valid regular expression: %s" % (regex, exc), param="version_regex")
            if self.regex.groups < 1:
                raise ProbeError("%r needs one group around the version" % regex, param="version_regex")

    @property
    def needs_body(self):
        return self.regex is not None

    def read(self, response, body):
        if self.regex is not None:
            m = self.regex.search(body.decode("utf-8", "replace"))
            return m.group(1) if m else None
        value = response.getheader(self.header)
        return value.strip() if value else None


def _error_name(exc):
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLError):
        return "TLS error"
    if isinstance(exc, (ConnectionError, http.client.RemoteDisconnected)):
        return "connection reset"
    return type(exc).__name__


def _send(conn, target, reader):
    t0 = time.monotonic()
    conn.request(target.method, target.path, body=target.body, headers=target.headers)
    response = conn.getresponse()
    body = response.read()
    latency = (time.monotonic() - t0) * 1000.0
    return Sample(version=reader.read(response, body), status=response.status, latency_ms=latency), response


# A keep-alive connection the server closed while idle fails like this on its next use: one retry
# on a fresh connection, as browsers and hey do. On a fresh connection the same error counts.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def run_probe(target, reader, requests, concurrency):
    """Send `requests` requests with `concurrency` workers; a list of Samples, in completion order."""
    lock = threading.Lock()
    samples = []
    remaining = [requests]

    def take():
        with lock:
            if remaining[0] <= 0:
                return False
            remaining[0] -= 1
            return True

    def worker(_index):
        conn, reused = None, False
        while take():
            for attempt in (1, 2):
                if conn is None:
                    conn, reused = target.connect(), False
                try:
                    sample, response = _send(conn, target, reader)
                    reused = True
                    if response.will_close:
                        conn.close()
                        conn = None
                    break
                except Exception as exc:
                    conn.close()
                    conn = None
                    if attempt == 1 and reused and isinstance(exc, _STALE):
                        continue
                    sample = Sample(error=_error_name(exc))
                    break
            with lock:
                samples.append(sample)
        if conn is not None:
            conn.close()

    workers = max(1, min(concurrency, requests))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
        list(pool.map(worker, range(workers)))
    return samples
