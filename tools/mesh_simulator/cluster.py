"""The simulator's view of the cluster: list, then watch, each kind in each namespace it is given.

One thread per (kind, namespace) lists the objects, then watches from that list's
resourceVersion, and lists again whenever a watch ends (timeout, 410 Gone, a dropped
connection). Each change bumps ``Store.generation``, which is how the router knows to compile
a fresh table: changes reach routing within milliseconds of the API server's event.
"""

import json
import logging
import threading
import time
from urllib.parse import urlencode

log = logging.getLogger("mesh_simulator")

ISTIO_GROUP = "networking.istio.io"
# kind -> (group, plural); the core/apps kinds use their typed APIs, Istio's kinds the custom-objects API.
KINDS = {
    "Gateway": (ISTIO_GROUP, "gateways"),
    "VirtualService": (ISTIO_GROUP, "virtualservices"),
    "DestinationRule": (ISTIO_GROUP, "destinationrules"),
    "Service": ("", "services"),
    "Deployment": ("apps", "deployments"),
    "DaemonSet": ("apps", "daemonsets"),
}
WATCH_TIMEOUT_S = 50
RETRY_S = 1.0


class ApiError(Exception):
    def __init__(self, status, text):
        Exception.__init__(self, text)
        self.status = status


class Store(object):
    """The latest version of every watched object, by kind, thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._objects = {kind: {} for kind in KINDS}
        self.generation = 0

    def replace(self, kind, namespace, items):
        with self._lock:
            objs = self._objects[kind]
            for key in [k for k in objs if k[0] == namespace]:
                del objs[key]
            for obj in items:
                objs[(namespace, obj["metadata"]["name"])] = obj
            self.generation += 1

    def apply(self, kind, event_type, obj):
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace"), meta.get("name"))
        with self._lock:
            if event_type == "DELETED":
                self._objects[kind].pop(key, None)
            else:
                self._objects[kind][key] = obj
            self.generation += 1

    def snapshot(self):
        """(generation, {kind: [objects]})."""
        with self._lock:
            return self.generation, {kind: list(objs.values()) for kind, objs in self._objects.items()}


class Watcher(object):
    """Keeps a Store in step with the API server for the given namespaces."""

    def __init__(self, api_client, namespaces, store):
        self.api_client = api_client
        self.namespaces = list(namespaces)
        self.store = store
        self._stop = threading.Event()
        self._synced = {}
        self._istio_version = None

    def start(self):
        self._istio_version = self._discover_istio_version()
        for kind in KINDS:
            for ns in self.namespaces:
                synced = threading.Event()
                self._synced[(kind, ns)] = synced
                t = threading.Thread(target=self._run, args=(kind, ns, synced), name="watch-%s-%s" % (kind, ns),
                                     daemon=True)
                t.start()

    def wait_synced(self, timeout):
        deadline = time.time() + timeout
        for ev in self._synced.values():
            if not ev.wait(max(0.0, deadline - time.time())):
                return False
        return True

    def stop(self):
        self._stop.set()

    def _discover_istio_version(self):
        """The served version of networking.istio.io that the API server prefers (v1 on current Istio)."""
        from kubernetes import client

        try:
            for group in client.ApisApi(self.api_client).get_api_versions().groups:
                if group.name == ISTIO_GROUP:
                    return group.preferred_version.version
        except Exception as exc:  # discovery failing is not fatal: the watch threads retry
            log.warning("API discovery failed: %s", exc)
        log.warning("%s is not served by this API server: no Istio objects will be seen until it is", ISTIO_GROUP)
        return "v1"

    def _path(self, kind, namespace):
        group, plural = KINDS[kind]
        if kind == "Service":
            return "/api/v1/namespaces/%s/services" % namespace
        if group == "apps":
            return "/apis/apps/v1/namespaces/%s/%s" % (namespace, plural)
        return "/apis/%s/%s/namespaces/%s/%s" % (group, self._istio_version, namespace, plural)

    def _request(self, path, query, timeout):
        """GET with the client's TLS pool and credentials; the raw streaming response.

        The generated API methods changed shape across kubernetes client releases; its
        Configuration and urllib3 pool have not, so they are all this uses.
        """
        import urllib3

        cfg = self.api_client.configuration
        if getattr(cfg, "refresh_api_key_hook", None):
            cfg.refresh_api_key_hook(cfg)
        headers = {"Accept": "application/json", "User-Agent": "mesh-simulator"}
        for auth in cfg.auth_settings().values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        url = cfg.host + path + ("?" + urlencode(query) if query else "")
        resp = self.api_client.rest_client.pool_manager.request(
            "GET", url, headers=headers, preload_content=False,
            timeout=urllib3.Timeout(connect=10, read=timeout))
        if resp.status != 200:
            body = resp.read()[:300]
            resp.release_conn()
            raise ApiError(resp.status, "GET %s: %s %s" % (path, resp.status, body.decode("utf-8", "replace")))
        return resp

    def _run(self, kind, namespace, synced):
        path = self._path(kind, namespace)
        while not self._stop.is_set():
            try:
                resp = self._request(path, [], 30)
                doc = json.loads(resp.data)
                self.store.replace(kind, namespace, doc.get("items") or [])
                synced.set()
                self._watch(kind, path, doc["metadata"].get("resourceVersion"))
            except Exception as exc:
                status = getattr(exc, "status", None)
                if status == 404:
                    # Not served (no Istio CRDs yet) or no namespace yet: nothing to see, try again later.
                    self.store.replace(kind, namespace, [])
                    synced.set()
                elif not self._stop.is_set():
                    log.warning("watching %s in %s: %s", kind, namespace, str(exc).splitlines()[0] if str(exc) else exc)
                self._stop.wait(RETRY_S)

    def _watch(self, kind, path, resource_version):
        query = [("watch", "true"), ("resourceVersion", resource_version), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", str(WATCH_TIMEOUT_S))]
        resp = self._request(path, query, WATCH_TIMEOUT_S + 10)
        try:
            buf = b""
            for chunk in resp.stream(4096, decode_content=True):
                if self._stop.is_set():
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind_of_event = event.get("type")
                    if kind_of_event == "ERROR":
                        return  # 410 Gone and friends: list again
                    if kind_of_event == "BOOKMARK":
                        continue
                    self.store.apply(kind, kind_of_event, event["object"])
                    log.debug("%s %s %s/%s", kind_of_event, kind, event["object"]["metadata"].get("namespace"),
                              event["object"]["metadata"].get("name"))
        finally:
            resp.release_conn()
