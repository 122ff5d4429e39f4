"""The simulator's two HTTP ports: ingress (routes, answers, counts) and metrics (/metrics, /debug/objects).

The ingress plays the gateway, the sidecars and the app in one process: it asks the router for
a decision, asks the backend for podinfo's answer, holds it for the injected latency, answers,
and records the request as each Istio proxy on its way would have.

A test can make the ingress gateway itself stop answering, through the metrics port:

    POST /debug/ingress  {"state": "refusing"}   the listener is closed: connection refused
    POST /debug/ingress  {"state": "hanging"}    connections are accepted, requests read and never
                                                  answered (closed after MAX_HANG_S, or when serving again)
    POST /debug/ingress  {"state": "serving"}    back to normal, on the same port
    GET  /debug/ingress                          {"state": ..., "address": "127.0.0.1:P"}
"""

import json
import logging
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mesh_simulator import __version__, backend
from mesh_simulator.metrics import GATEWAY_SOURCE, IstioMetrics, request_labels
from mesh_simulator.routing import Request, RouteTable

log = logging.getLogger("mesh_simulator")
MAX_PENDING_MIRRORS = 256
# A hanging ingress holds a request at most this long, so a stray client cannot hold a thread for ever.
MAX_HANG_S = 60.0
INGRESS_STATES = ("serving", "refusing", "hanging")


class Mesh(object):
    """Routing table (recompiled when the store changes), metrics, and the request flow."""

    def __init__(self, store, namespaces, seed=None):
        self.store = store
        self.namespaces = list(namespaces)
        self.metrics = IstioMetrics()
        self.rng = random.Random(seed)
        self._table = None
        self._generation = -1
        self._lock = threading.Lock()
        self._mirror_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="mirror")
        self._mirror_slots = threading.BoundedSemaphore(MAX_PENDING_MIRRORS)

    def table(self):
        if self.store.generation != self._generation:
            with self._lock:
                generation, snapshot = self.store.snapshot()
                if generation != self._generation:
                    self._table = RouteTable(snapshot, self.namespaces)
                    self._generation = generation
        return self._table

    def close(self):
        self._mirror_pool.shutdown(wait=False, cancel_futures=True)

    def _record(self, reporter, source, target, code, duration_ms, flags="-"):
        self.metrics.observe(request_labels(reporter, source, target, code, flags), duration_ms)

    def handle(self, host, method, path, headers):
        """(status, [(header, value)], body) for one request on the ingress port."""
        t0 = time.monotonic()
        decision = self.table().route(Request(host, method, path, headers), self.rng)
        # No proxy at the source for mesh-style addressing: only the destination's sidecar reports.
        source = GATEWAY_SOURCE if decision.gateway else None
        route_header = [("X-Mesh-Simulator-Route", "%s#%s" % (decision.virtual_service, decision.route_name))] \
            if decision.virtual_service else []

        if decision.kind == "noroute":
            body = ("mesh simulator: no route for host %s path %s\n" % (host, path)).encode()
            self._record("source", GATEWAY_SOURCE, None, 404, _ms(t0), "NR")
            return 404, [("Content-Type", "text/plain")] + route_header, body

        if decision.delay_s:
            time.sleep(decision.delay_s)
        if decision.kind in ("abort", "direct"):
            if source:
                self._record("source", source, decision.target, decision.status, _ms(t0),
                             "FI" if decision.kind == "abort" else "-")
            return decision.status, [("Content-Type", "text/plain")] + decision.headers + route_header, decision.body

        for mirror in decision.mirrors:
            if mirror.endpoint is not None and self._mirror_slots.acquire(blocking=False):
                self._mirror_pool.submit(self._mirror, mirror, method, decision.path, source)

        target = decision.target
        if target.failure:
            status, flags, text = target.failure
            if source:
                self._record("source", source, target, status, _ms(t0), flags)
            return status, [("Content-Type", "text/plain")] + route_header, ("mesh simulator: %s\n" % text).encode()

        t_up = time.monotonic()
        answer = backend.respond(target.endpoint, target.replica, method, decision.path, self.rng)
        timeout = decision.timeout_s
        if timeout is not None and decision.delay_s + answer.hold_s > timeout:
            # Envoy gives up on the upstream; the app still finishes its answer, which its sidecar counts.
            time.sleep(max(0.0, timeout - decision.delay_s))
            self._record("destination", source, target, answer.status, answer.hold_s * 1000.0, answer.flags)
            if source:
                self._record("source", source, target, 504, _ms(t0), "UT")
            return 504, [("Content-Type", "text/plain")] + route_header, b"upstream request timeout"
        if answer.hold_s:
            time.sleep(answer.hold_s)
        self._record("destination", source, target, answer.status, _ms(t_up), answer.flags)
        if source:
            self._record("source", source, target, answer.status, _ms(t0), answer.flags)
        headers = answer.headers + route_header + [("X-Envoy-Upstream-Service-Time", str(int(_ms(t_up))))]
        return answer.status, headers, answer.body

    def _mirror(self, target, method, path, source):
        # A shadow copy: answered and counted by the destination's sidecar, its answer dropped.
        try:
            t0 = time.monotonic()
            answer = backend.respond(target.endpoint, target.replica, method, path, self.rng)
            if answer.hold_s:
                time.sleep(answer.hold_s)
            self._record("destination", source, target, answer.status, _ms(t0), answer.flags)
        finally:
            self._mirror_slots.release()

    def objects(self):
        """What the simulator has seen: {kind: {"ns/name": resourceVersion}}, and the store's generation."""
        generation, snapshot = self.store.snapshot()
        return {"generation": generation,
                "objects": {kind: {"%s/%s" % (o["metadata"].get("namespace"), o["metadata"]["name"]):
                                   o["metadata"].get("resourceVersion") for o in objs}
                            for kind, objs in snapshot.items()}}


def _ms(t0):
    return (time.monotonic() - t0) * 1000.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, *args, **kwargs):
        self._connections = set()
        self._connections_lock = threading.Lock()
        ThreadingHTTPServer.__init__(self, *args, **kwargs)

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        ThreadingHTTPServer.process_request(self, request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        ThreadingHTTPServer.shutdown_request(self, request)

    def drop_connections(self):
        """Reset the open (keep-alive) connections too, as a gateway that went away would."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mesh-simulator/" + __version__
    sys_version = ""
    mesh = None  # set on the subclass each server gets

    def log_message(self, fmt, *args):  # access logs only when asked for
        log.debug("%s %s", self.address_string(), fmt % args)

    def setup(self):
        BaseHTTPRequestHandler.setup(self)
        # Answers go out in one write, and without Nagle's wait: on a keep-alive connection a
        # small answer would otherwise sit until the client's delayed ACK (about 40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status, headers, body):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD" and body:
            self._headers_buffer.append(body)
        self.flush_headers()

    def _drain_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)


class IngressHandler(_Handler):
    port = None  # the IngressPort, set on the subclass each server gets

    def _any(self):
        self._drain_body()
        if self.port is not None and self.port.hold_request():
            # A gateway that stopped answering: no status line, the connection is just closed.
            self.close_connection = True
            return
        status, headers, body = self.mesh.handle(self.headers.get("Host", ""), self.command, self.path,
                                                 self.headers.items())
        self._send(status, headers, body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any


class MetricsHandler(_Handler):
    port = None  # the IngressPort whose state /debug/ingress shows and sets

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/debug/ingress" and self.port is not None:
            self._send(200, [("Content-Type", "application/json")], json.dumps(self.port.describe()).encode())
        elif path == "/metrics":
            self._send(200, [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], self.mesh.metrics.render())
        elif path == "/debug/objects":
            self._send(200, [("Content-Type", "application/json")], json.dumps(self.mesh.objects()).encode())
        elif path in ("/", "/ready", "/-/ready"):
            self._send(200, [("Content-Type", "text/plain")], b"mesh simulator: ready\n")
        else:
            self._send(404, [("Content-Type", "text/plain")], b"mesh simulator: not found\n")

    do_HEAD = do_GET

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path != "/debug/ingress" or self.port is None:
            self._send(404, [("Content-Type", "text/plain")], b"mesh simulator: not found\n")
            return
        try:
            state = json.loads(raw.decode() or "{}").get("state")
        except (ValueError, AttributeError):
            state = None
        if state not in INGRESS_STATES:
            self._send(400, [("Content-Type", "text/plain")],
                       ("mesh simulator: state must be one of %s, got %r\n" % (", ".join(INGRESS_STATES), state))
                       .encode())
            return
        self.port.set_state(state)
        self._send(200, [("Content-Type", "application/json")], json.dumps(self.port.describe()).encode())


class IngressPort(object):
    """The ingress listener, in one of INGRESS_STATES; it keeps its address when it listens again."""

    def __init__(self, mesh, address):
        self.mesh = mesh
        self.state = "serving"
        self._lock = threading.Lock()
        self._answering = threading.Event()
        self._answering.set()
        self.server = serve(IngressHandler, mesh, address, port=self)
        self.address = self.server.server_address[:2]

    def describe(self):
        return {"state": self.state, "address": "%s:%d" % self.address}

    def hold_request(self):
        """True when the request must go unanswered: waits while the ingress hangs (at most MAX_HANG_S)."""
        if self._answering.is_set():
            return False
        self._answering.wait(MAX_HANG_S)
        return True

    def set_state(self, state):
        with self._lock:
            if state == self.state:
                return
            if state == "hanging":
                self._answering.clear()
            else:
                self._answering.set()
            if state == "refusing":
                self._close()
            elif self.server is None:
                self.server = serve(IngressHandler, self.mesh, self.address, port=self)
            self.state = state

    def _close(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server.drop_connections()
            self.server = None

    def close(self):
        with self._lock:
            self._answering.set()
            self._close()


def serve(handler_class, mesh, address, port=None):
    """Start a server on (host, port) in a thread; returns the server (its .server_address has the port).
    ``port`` is the IngressPort the handlers see (the ingress's own, or the one the metrics port controls)."""
    handler = type(handler_class.__name__, (handler_class,), {"mesh": mesh, "port": port})
    server = _Server(address, handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=handler_class.__name__,
                     daemon=True).start()
    return server
