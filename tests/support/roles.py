"""Helpers for the role tests: reading a play's results, files with checksums."""

import contextlib
import functools
import hashlib
import http.server
import os
import sys
import threading

# The roles' kubernetes.core tasks need the kubernetes client of the Python that runs the tests.
PLAY_ENV = {"ANSIBLE_PYTHON_INTERPRETER": sys.executable}


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def task(result, suffix):
    """The result of the task whose name ends with `suffix` (role tasks carry the role's name)."""
    for t in result.tasks:
        if t["_task"].endswith(suffix):
            return t
    raise KeyError("no task named ...%s in %s" % (suffix, [t["_task"] for t in result.tasks]))


def failure(result):
    """The message of the task that failed the play (the last failed one: a rescue's), or None."""
    if result.rc == 0:
        return None
    failed = [t for t in result.tasks if t.get("failed")]
    if not failed:
        return result.stderr[-2000:]
    last = failed[-1]
    items = [r for r in last.get("results") or [] if r.get("failed")]
    return items[-1].get("msg") if items else last.get("msg")


def changed_tasks(result):
    return [t["_task"] for t in result.tasks if t.get("changed")]


def executable(path, text):
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o755)
    return path


@contextlib.contextmanager
def serve(directory):
    """Serve `directory` over HTTP on 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
