"""An in-memory Istio API that behaves like the server where the flows depend on it.

Objects by (kind, namespace, name); JSON patches are checked against the resourceVersion like the
API server does; Kubernetes Services are objects of kind "Service". The flow tests drive
set_split and ensure with it; the integration tests prove the same against the real server.
"""

import copy

from ansible_collections.rollouts.istio.plugins.module_utils._core import routes as R
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_client import Conflict, Invalid


class FakeApi(object):
    """Objects by (kind, ns, name); JSON patches checked against resourceVersion like the server."""

    api_version = "networking.istio.io/v1"

    def __init__(self, objects=(), namespaces=("shop",), defaults=None):
        self.objects = {}
        self.namespaces = set(namespaces)
        self.calls = []
        self.before_patch = None
        self.defaults = defaults or {}
        for obj in objects:
            self.put(copy.deepcopy(obj))

    def put(self, obj):
        meta = obj["metadata"]
        old = self.objects.get((obj["kind"], meta["namespace"], meta["name"]))
        meta["resourceVersion"] = str(int(old["metadata"]["resourceVersion"]) + 1 if old else 1)
        self.objects[(obj["kind"], meta["namespace"], meta["name"])] = obj

    def live(self, kind, ns, name):
        return self.objects[(kind, ns, name)]

    def get(self, kind, ns, name):
        self.calls.append(("get", kind))
        return copy.deepcopy(self.objects.get((kind, ns, name)))

    def service(self, ns, name):
        self.calls.append(("get", "Service"))
        return copy.deepcopy(self.objects.get(("Service", ns, name)))

    def list(self, kind, ns, label_selector=None):
        self.calls.append(("list", kind))
        return [copy.deepcopy(o) for (k, n, _name), o in sorted(self.objects.items()) if k == kind and n == ns]

    # The workload reader's reads (_edges/workloads.py), so a FakeApi can stand for both.
    def workload(self, kind, ns, name):
        self.calls.append(("get", kind))
        return copy.deepcopy(self.objects.get((kind, ns, name)))

    def configmap(self, ns, name):
        return self.workload("ConfigMap", ns, name)

    def secret(self, ns, name):
        return self.workload("Secret", ns, name)

    def namespace_exists(self, ns):
        return ns in self.namespaces

    def json_patch(self, kind, ns, name, ops, dry_run=False):
        if self.before_patch:
            self.before_patch()
        self.calls.append(("patch-dry" if dry_run else "patch", kind))
        live = self.objects[(kind, ns, name)]
        rv = live["metadata"]["resourceVersion"]
        guard = [op["value"] for op in ops if op["path"] == "/metadata/resourceVersion"]
        if guard and guard[0] != rv:
            # The server checks the resourceVersion before anything else of the patch.
            raise Conflict("the object has been modified", status=409)
        try:
            new = R.apply_patch(live, ops)
        except ValueError:
            raise Invalid("the server rejected our request due to an error in our request", status=422)
        if new["metadata"]["resourceVersion"] != rv:
            raise Conflict("the object has been modified", status=409)
        if not dry_run:
            self.put(new)
        return copy.deepcopy(new)

    def apply(self, kind, ns, name, obj, dry_run=False, force=True):
        self.calls.append(("apply-dry" if dry_run else "apply", kind))
        live = self.objects.get((kind, ns, name))
        new = copy.deepcopy(obj)
        new["spec"] = dict(self.defaults, **new["spec"])
        if live:
            new["metadata"] = dict(live["metadata"], **new["metadata"])
        if not dry_run:
            self.put(new)
        return copy.deepcopy(new)

    def delete(self, kind, ns, name, dry_run=False, resource_version=None):
        self.calls.append(("delete-dry" if dry_run else "delete", kind))
        if not dry_run:
            del self.objects[(kind, ns, name)]


def service(name="reviews", ns="shop", export_to=None):
    meta = {"name": name, "namespace": ns}
    if export_to is not None:
        meta["annotations"] = {R.SERVICE_EXPORT_TO_ANNOTATION: export_to}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"ports": [{"name": "http", "port": 9080}]}}


def service_entry(hosts, name="external", ns="shop", export_to=None):
    spec = {"hosts": list(hosts), "location": "MESH_EXTERNAL", "resolution": "DNS",
            "ports": [{"number": 443, "name": "https", "protocol": "TLS"}]}
    if export_to is not None:
        spec["exportTo"] = list(export_to)
    return {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def deployment(name="reviews-v2", ns="shop", image="reviews:2", kind="Deployment", volumes=None, env=None,
               annotations=None):
    """A workload (Deployment or DaemonSet) of one container; its pod template as the revision reads it."""
    container = {"name": "app", "image": image}
    if env:
        container["env"] = env
    template = {"metadata": {"labels": {"app": "reviews", "version": name.rsplit("-", 1)[-1]}},
                "spec": {"containers": [container]}}
    if annotations:
        template["metadata"]["annotations"] = annotations
    if volumes:
        template["spec"]["volumes"] = volumes
    spec = {"selector": {"matchLabels": template["metadata"]["labels"]}, "template": template}
    if kind == "Deployment":
        spec["replicas"] = 1
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}


def configmap(name, data, ns="shop", kind="ConfigMap"):
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "data": dict(data)}
