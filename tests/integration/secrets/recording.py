"""Recording servers for the secrets tests: a proxy that keeps the headers of every request and forwards
it unchanged, or a hook server that keeps them and answers by path."""

import http.client
import http.server
import threading
import urllib.parse


class _Recorder(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream, answers):
        self.upstream = urllib.parse.urlsplit(upstream) if upstream else None
        self.answers = answers or {}
        self.seen = []  # (method, path, {header name lower: value})
        self.lock = threading.Lock()
        super(_Recorder, self).__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def headers_seen(self, name, path_prefix=""):
        with self.lock:
            return [h.get(name.lower()) for dummy, path, h in self.seen if path.startswith(path_prefix)]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        server = self.server
        with server.lock:
            server.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        path = urllib.parse.urlsplit(self.path).path
        if server.upstream is None:
            status = server.answers.get(path, 404)
            ok = b"true" if status < 300 else b"false"
            self._reply(status, [("Content-Type", "application/json")], b'{"ok": %s}' % ok)
            return
        conn = http.client.HTTPConnection(server.upstream.hostname, server.upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self._reply(resp.status, [(k, v) for k, v in resp.getheaders()
                                      if k.lower() not in ("connection", "transfer-encoding", "content-length")], data)
        except OSError as err:
            self._reply(502, [("Content-Type", "text/plain")], str(err).encode())
        finally:
            conn.close()

    def _reply(self, status, headers, data):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = _handle


class Recorders(object):
    """start(upstream=None, answers=None) -> a running recording server (a proxy to upstream, or a
    hook server answering {path: status}); close() stops them all."""

    def __init__(self):
        self.servers = []

    def start(self, upstream=None, answers=None):
        srv = _Recorder(upstream, answers)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.servers.append(srv)
        return srv

    def close(self):
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()
