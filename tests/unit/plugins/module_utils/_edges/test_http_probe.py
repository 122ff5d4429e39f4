"""The HTTP probe against small servers on loopback: versions, Host header, errors, keep-alive, TLS."""

import itertools
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._edges.http_probe import ProbeError, Target, VersionReader, run_probe
from ansible_collections.rollouts.istio.plugins.module_utils._core.split_stats import summarize


class App(BaseHTTPRequestHandler):
    """v1 for 9 requests in 10, v2 for the 10th; /slow sleeps; /close drops the connection after answering."""

    protocol_version = "HTTP/1.1"
    counter = itertools.count()
    seen_hosts = []
    seen = []

    def log_message(self, *args):
        pass

    def setup(self):
        BaseHTTPRequestHandler.setup(self)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else b""
        App.seen_hosts.append(self.headers.get("Host"))
        App.seen.append((self.command, self.path, dict(self.headers), body_in))
        version = "v2" if next(App.counter) % 10 == 9 else "v1"
        if self.path.startswith("/slow"):
            time.sleep(1.0)
        status = int(self.path.split("/")[2]) if self.path.startswith("/status/") else 200
        body = json.dumps({"version": version, "hostname": "app-" + version}).encode()
        self.send_response(status)
        self.send_header("X-Version", version)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path.startswith("/close"):
            # Close without saying so, as a server whose keep-alive timer ran out does.
            self.close_connection = True

    do_GET = do_POST = do_HEAD = _answer


@pytest.fixture
def app():
    App.counter = itertools.count()
    App.seen_hosts = []
    App.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), App)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def probe(url, n=100, concurrency=4, header="X-Version", regex=None, **kwargs):
    return summarize(run_probe(Target(url, **kwargs), VersionReader(header, regex), n, concurrency))


def test_counts_versions_by_header(app):
    out = probe(app + "/", n=100, concurrency=4)
    assert out["counts"] == {"v1": 90, "v2": 10} and out["split"] == {"v1": 90.0, "v2": 10.0}
    assert out["errors"]["count"] == 0 and out["responses"] == 100
    assert 0 < out["latency_ms"]["p50"] <= out["latency_ms"]["p90"] <= out["latency_ms"]["p99"]


def test_version_from_the_body(app):
    out = probe(app + "/", n=20, regex=r'"version":\s*"([^"]+)"')
    assert out["counts"] == {"v1": 18, "v2": 2}
    with pytest.raises(ProbeError, match="one group") as err:
        VersionReader(regex="version")
    assert err.value.param == "version_regex"
    with pytest.raises(ProbeError, match="^version_regex: '\\(\\[' is not a valid regular expression"):
        VersionReader(regex="([")


def test_host_header_method_headers_body_and_path(app):
    probe(app + "/ignored?x=1", n=3, concurrency=1, host="app.example.com", path="/hello?y=2", method="post",
          headers={"Cookie": "user=test"}, body="payload")
    assert App.seen_hosts == ["app.example.com"] * 3
    method, path, headers, body = App.seen[0]
    assert method == "POST" and path == "/hello?y=2" and headers["Cookie"] == "user=test" and body == b"payload"
    probe(app + "/from-url?q=1", n=1)
    assert App.seen[-1][1] == "/from-url?q=1" and App.seen_hosts[-1].startswith("127.0.0.1:")


def test_status_errors_still_name_their_version(app):
    out = probe(app + "/status/503", n=10)
    assert out["errors"] == {"count": 10, "by_status": {"503": 10}, "by_exception": {}}
    assert out["counts"] == {"v1": 9, "v2": 1}


def test_timeouts_are_errors(app):
    out = probe(app + "/slow", n=2, concurrency=2, timeout=0.2)
    assert out["errors"]["by_exception"] == {"timeout": 2} and out["responses"] == 0


def test_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = probe("http://127.0.0.1:%d/" % port, n=3, concurrency=1)
    assert out["errors"]["by_exception"] == {"connection refused": 3} and out["responses"] == 0


def test_a_keep_alive_connection_closed_while_idle_is_retried_once(app):
    out = probe(app + "/close", n=20, concurrency=2)
    assert out["errors"]["count"] == 0 and sum(out["counts"].values()) == 20


def test_bad_urls():
    for url in ("ftp://x/", "app.example.com", "http:///path"):
        with pytest.raises(ProbeError) as err:
            Target(url)
        assert err.value.param == "url" and str(err.value).startswith("url: must be an http:// or https:// URL")


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is needed to make a test certificate")
def test_https_with_and_without_certificate_validation(tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=app.example.com", "-keyout", key, "-out", cert], check=True, capture_output=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), App)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    names = []
    ctx.sni_callback = lambda sock, name, _ctx: names.append(name)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = "https://127.0.0.1:%d/" % server.server_address[1]
        out = probe(url, n=5, concurrency=1, host="app.example.com", validate_certs=False)
        assert out["counts"] == {"v1": 5} and names[0] == "app.example.com"
        out = probe(url, n=2, concurrency=1, host="app.example.com")
        assert out["errors"]["by_exception"] == {"TLS error": 2}
    finally:
        server.shutdown()
        server.server_close()
