"""Infrastructure faults for end-to-end tests, loopback only: a Prometheus that goes away, answers
slowly or answers garbage (a proxy in front of the test bed's real Prometheus), and the test bed's
kube-apiserver stopped and started again (the kwok binary runtime runs it as a plain process).

    proxy = PrometheusFaultProxy(prometheus_url)      # passes every request through at first
    ... point release_prometheus_url at proxy.url, start the run, wait for proxy.wait_queries(1) ...
    proxy.set_mode("down")                            # connection refused, from now on
    proxy.close()

    server = ApiServerProcess.find(kubeconfig)
    with server.outage(seconds=4):                   # SIGTERM, wait, start it again as it was, /readyz
        ...

An API server outage disturbs every test on the shared bed: tests that use it carry the
`apiserver_outage` marker and run alone.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

from support.release import VirtualServiceWatch

# ---------------------------------------------------------------- Prometheus

# pass: forwarded as is; down: the port refuses connections; slow: each request is held this long
# (longer than the gate's query timeout) before an answer; not_json: 200 with an HTML page;
# nan / inf: 200 with Prometheus' own JSON whose sample is "NaN" / "+Inf".
PROMETHEUS_MODES = ("pass", "down", "slow", "not_json", "nan", "inf")
NOT_JSON_BODY = b"<html><body><h1>502 Bad Gateway</h1>a proxy in front of Prometheus</body></html>\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class PrometheusFaultProxy(object):
    """An HTTP proxy on 127.0.0.1 in front of one Prometheus, whose failure mode a test switches.

    `queries` lists every request it received: (time, mode, path, PromQL or None)."""

    def __init__(self, upstream, slow_s=40.0):
        self.upstream = upstream.rstrip("/")
        self.slow_s = slow_s
        self.mode = "pass"
        self.queries = []
        self._lock = threading.Lock()
        self._released = threading.Event()  # set on close: held requests go at once
        self._server = self._serve(("127.0.0.1", 0))
        self.address = self._server.server_address[:2]
        self.url = "http://%s:%d" % self.address

    # -- control

    def set_mode(self, mode):
        assert mode in PROMETHEUS_MODES, "mode %r is not one of %s" % (mode, PROMETHEUS_MODES)
        with self._lock:
            if mode == "down" and self._server is not None:
                self._server.shutdown()
                self._server.server_close()
                self._server = None
            elif mode != "down" and self._server is None:
                self._server = self._serve(self.address)
            self.mode = mode
            # Marks where the fault began in the list of queries.
            self.queries.append((time.time(), "set:" + mode, None, None))

    def queries_in(self, mode, since=0):
        return [q for q in self.queries if q[1] == mode and q[0] >= since]

    def wait_queries(self, count, mode="pass", since=0, timeout=120, run=None):
        """Wait until `count` queries came in `mode` after `since` (fails when the run ends first)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.queries_in(mode, since)) >= count:
                return
            if run is not None and run.done():
                raise AssertionError("the playbook ended before %d Prometheus queries in mode %s:\n%s"
                                     % (count, mode, run.result().summary()))
            time.sleep(0.05)
        raise AssertionError("%d Prometheus queries in mode %s not seen within %ss" % (count, mode, timeout))

    def close(self):
        self._released.set()
        with self._lock:
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
                self._server = None

    # -- serving

    def _serve(self, address):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy._handle(self)

            do_POST = do_GET

        server = _Server(address, Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return server

    def _handle(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path, dummy, query = handler.path.partition("?")
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace") if body else query)
        mode = self.mode
        self.queries.append((time.time(), mode, path, (form.get("query") or [None])[0]))
        try:
            if mode == "slow":
                self._released.wait(self.slow_s)
                status, ctype, payload = self._forward(handler, body)
            elif mode == "not_json":
                status, ctype, payload = 200, "text/html", NOT_JSON_BODY
            elif mode in ("nan", "inf"):
                value = "NaN" if mode == "nan" else "+Inf"
                doc = {"status": "success", "data": {"resultType": "vector", "result": [
                    {"metric": {}, "value": [round(time.time(), 3), value]}]}}
                status, ctype, payload = 200, "application/json", json.dumps(doc).encode()
            else:
                status, ctype, payload = self._forward(handler, body)
            handler.send_response(status)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (slow mode): nothing to answer

    def _forward(self, handler, body):
        headers = {k: v for k, v in handler.headers.items() if k.lower() in ("content-type", "accept")}
        req = urllib.request.Request(self.upstream + handler.path, data=body or None, method=handler.command,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.headers.get("Content-Type", ""), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Content-Type", ""), err.read()


# ---------------------------------------------------------------- the API server

class ApiServerProcess(object):
    """The test bed's kube-apiserver as a process: its exact command line, environment, working
    directory and log, read from /proc, so that it can be stopped and started again the same way."""

    def __init__(self, pid, kubeconfig):
        self.pid = pid
        self.kubeconfig = kubeconfig
        self.argv = _read_nul(pid, "cmdline")
        self.env = dict(item.partition("=")[::2] for item in _read_nul(pid, "environ") if "=" in item)
        self.cwd = os.readlink("/proc/%d/cwd" % pid)
        self.log = os.readlink("/proc/%d/fd/1" % pid)
        pid_file = os.path.join(self.cwd, "pids", "kube-apiserver.pid")
        self.pid_file = pid_file if os.path.exists(pid_file) else None
        self.stopped_at = self.started_at = self.ready_at = None

    @classmethod
    def find(cls, kubeconfig):
        """The kube-apiserver process serving the kubeconfig's server port; None when it is not a
        local process (another kind of cluster)."""
        port = _server_port(kubeconfig)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                argv = _read_nul(int(entry), "cmdline")
            except OSError:
                continue
            if argv and os.path.basename(argv[0]) == "kube-apiserver" and "--secure-port=%d" % port in argv:
                return cls(int(entry), kubeconfig)
        return None

    def ready(self):
        proc = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, "get", "--raw=/readyz",
                               "--request-timeout=2s"], capture_output=True, text=True, check=False)
        return proc.returncode == 0 and proc.stdout.strip() == "ok"

    def stop(self, timeout=30):
        """SIGTERM the process and wait until it is gone (init reaps it: it is not our child)."""
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.time() + timeout
        while time.time() < deadline and _alive(self.pid):
            time.sleep(0.05)
        if _alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
            time.sleep(0.5)
        self.stopped_at = time.time()

    def start(self, timeout=60):
        """Start it again exactly as it ran (argv, environment, cwd, log appended); wait for /readyz."""
        self.started_at = time.time()
        with open(self.log, "ab") as log, open(os.devnull, "rb") as devnull:
            proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=devnull, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = proc.pid
        if self.pid_file:
            with open(self.pid_file, "w") as fh:
                fh.write("%d" % self.pid)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                raise AssertionError("kube-apiserver exited with %s after its restart; see %s"
                                     % (proc.returncode, self.log))
            if self.ready():
                self.ready_at = time.time()
                return
            time.sleep(0.2)
        raise AssertionError("kube-apiserver not ready %ss after its restart; see %s" % (timeout, self.log))

    @contextlib.contextmanager
    def outage(self, seconds):
        """Stop the API server, yield, keep it down `seconds` from the stop in all, start it again.
        It is started again whatever the body does."""
        self.stop()
        try:
            yield self
            left = seconds - (time.time() - self.stopped_at)
            if left > 0:
                time.sleep(left)
        finally:
            self.start()


def _read_nul(pid, name):
    with open("/proc/%d/%s" % (pid, name), "rb") as fh:
        return [part.decode() for part in fh.read().split(b"\0") if part]


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().split(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _server_port(kubeconfig):
    with open(kubeconfig) as fh:
        config = yaml.safe_load(fh)
    current = config.get("current-context")
    ctx = next(c["context"] for c in config["contexts"] if c["name"] == current)
    server = next(c["cluster"]["server"] for c in config["clusters"] if c["name"] == ctx["cluster"])
    return urllib.parse.urlsplit(server).port or 443


def port_free(port, host="127.0.0.1"):
    """Whether nothing listens on the port (the API server is really down)."""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return True
    return False


class OutageWatch(VirtualServiceWatch):
    """The VirtualService watch across an API server outage. While the server is down the watch
    cannot connect (connection errors, expected); once it is back, its watch cache starts at the
    current revision, so resuming from the last resourceVersion seen is refused with 410 Gone, and
    the watch lists again (`relists`: the times). A write that completed between the outage and that
    list would be missed: `wait_resumed()` before anything writes again, and compare with the audit
    log (`stored_versions`). Any other error fails the test."""

    def __init__(self, cluster, namespace, plural="virtualservices"):
        self.relists = []
        self.resumed_at = None
        VirtualServiceWatch.__init__(self, cluster, namespace, plural)

    def _run(self):
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        while not self._stop.is_set():
            w = watch.Watch()
            try:
                stream = w.stream(self._api.list_namespaced_custom_object, "networking.istio.io", "v1",
                                  self.namespace, self.plural, resource_version=self._rv, timeout_seconds=1,
                                  allow_watch_bookmarks=False)
                for event in stream:
                    obj = event["object"]
                    self._rv = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        self.versions.append((time.time(), obj["metadata"]["name"], self._rv,
                                              None if event["type"] == "DELETED" else obj))
                    if self._stop.is_set():
                        break
                if self.errors and self.resumed_at is None:
                    self.resumed_at = time.time()
            except ApiException as err:
                if err.status == 410:
                    self._relist()
                else:
                    self.errors.append("ApiException(%s, %s)" % (err.status, err.reason))
                    time.sleep(0.2)
            except Exception as err:  # pylint: disable=broad-except
                self.errors.append(repr(err))
                time.sleep(0.2)
            finally:
                w.stop()

    def _relist(self):
        listed = self._api.list_namespaced_custom_object("networking.istio.io", "v1", self.namespace, self.plural)
        self._rv = listed["metadata"]["resourceVersion"]
        now = time.time()
        self.relists.append(now)
        seen = set((n, rv) for dummy, n, rv, dummy in self.versions)
        for item in listed["items"]:
            key = (item["metadata"]["name"], item["metadata"]["resourceVersion"])
            if key not in seen:
                self.versions.append((now, key[0], key[1], item))

    def wait_resumed(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline and self.resumed_at is None:
            time.sleep(0.1)
        assert self.resumed_at is not None, "the VirtualService watch did not resume: %s" % self.errors[-3:]

    def stored_versions(self, name):
        """The distinct resourceVersions of one VirtualService the watch saw, oldest first."""
        out = []
        for dummy, n, rv, obj in self.versions:
            if n == name and obj is not None and rv not in out:
                out.append(rv)
        return out

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        unexpected = [e for e in self.errors if not _is_connection_error(e)]
        assert not unexpected, "the VirtualService watch broke: %s" % unexpected[:5]
        return self.versions


def _is_connection_error(text):
    return any(word in text for word in ("MaxRetryError", "NewConnectionError", "Connection refused",
                                         "ProtocolError", "RemoteDisconnected", "ConnectionResetError",
                                         "IncompleteRead", "ReadTimeoutError"))


# ---------------------------------------------------------------- what a user sees after a fault

def assert_rolled_back(bed, result):
    """The run failed, the rollout is Failed with 100 % on stable (read from the VirtualService), and
    the run's failure is one line; returns that line."""
    from support.release import primary_weights, read_record

    assert result.rc != 0, "the run should have failed: %s" % result.summary()
    record = read_record(bed.namespace)
    assert record.get("phase") == "Failed" and record["_label"] == "Failed", record
    assert primary_weights(bed.namespace) in ({"v1": 100}, {"v1": 100, "v2": 0}), primary_weights(bed.namespace)
    message = result.failure()
    assert message and "\n" not in message.strip(), "the failure is one line: %r" % message
    return message.strip()


def assert_every_version_valid(bed, watch):
    """Every VirtualService version the watch saw: weights adding up to 100 on existing subsets, and
    while the rollout is active, the record's weight equal to the route's (one patch writes both)."""
    from support.release import ACTIVE_PHASES, RECORD, route_named, split_problems, subsets_of, weights_of

    subsets = subsets_of(bed.k8s, bed.namespace)
    versions = [v for v in watch.of("podinfo") if v[2] is not None]
    assert versions, "the watch saw no VirtualService version"
    for dummy, rv, obj in versions:
        problems = split_problems(obj, subsets)
        assert not problems, "resourceVersion %s: %s" % (rv, problems)
        ann = obj["metadata"].get("annotations") or {}
        if ann.get("rollouts.istio/phase") in ACTIVE_PHASES and "rollouts.istio/weight" in ann:
            record = json.loads(ann[RECORD])
            on_route = weights_of(route_named(obj, "primary")).get(record["candidate"], 0)
            assert int(ann["rollouts.istio/weight"]) == on_route, \
                "resourceVersion %s: the record says %s %% but the route sends %s %%" % (
                    rv, ann["rollouts.istio/weight"], on_route)
    return versions
