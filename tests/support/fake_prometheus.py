"""A local HTTP server that plays Prometheus badly or well: the unit tests of the client and the
integration tests of the modules use it for what a real Prometheus will not do on demand
(garbage, slowness, 5xx, dropped connections, a token check)."""

import json
import socket
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OK = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "99.5"]}]}}


def api(doc, status=200, delay=0.0):
    return (status, "application/json", json.dumps(doc).encode(), delay)


class FakePrometheus(object):
    """A local HTTP server that plays a script of answers, one per request (the last repeats).

    An answer is (status, content type, body, delay), "close" to drop the connection unanswered, or a
    callable that gets the request ({"path", "headers", "form"}) and returns one of those."""

    def __init__(self, script, tls=None):
        self.script = list(script)
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "form": form})
                answer = fake.script[min(len(fake.requests), len(fake.script)) - 1]
                if callable(answer):
                    answer = answer(fake.requests[-1])
                if answer == "close":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, ctype, body, delay = answer
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
