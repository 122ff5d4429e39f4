"""The mesh simulator for tests, and the tutorial's objects to route through it.

How to use it from any test module (tests/conftest.py puts tests/ on sys.path, so this module is
``support.mesh``; importing a fixture into a test module makes pytest use it there):

    from support.mesh import mesh_simulator, create_tutorial  # noqa: F401

    def test_something(k8s, namespace, mesh_simulator):
        create_tutorial(k8s, namespace, weights={"v1": 90, "v2": 10})
        mesh_simulator.wait_synced()
        status, headers, body = mesh_simulator.get("/", host=TUTORIAL_HOST)

Tests under tests/tooling/mesh/ get the fixture from that folder's conftest.py without the
import. The fixture starts one simulator for the test's namespace, announced to the test bed's
Prometheus (file_sd) so its istio_* series are scraped every 2 s, and stops it afterwards. It
skips, with the reason, where the test bed's Prometheus targets directory is unknown (a cluster
given by KUBECONFIG alone, such as minikube with real Istio: those tests do not run there, see
docs/mesh-simulator.md).

The tutorial (Istio's traffic-shifting task with podinfo, as the Flagger and Kurator tutorials
deploy it): Deployments podinfo-v1 and podinfo-v2 (app=podinfo, version=v1/v2), a Service podinfo,
a Gateway public-gateway for every host on port 80, a DestinationRule podinfo with subsets v1 and
v2, and a VirtualService podinfo bound to the gateway and to the mesh, routing
TUTORIAL_HOST and podinfo (the service) by weight.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(REPO, "tools")
ISTIO_API = "networking.istio.io/v1"
TUTORIAL_HOST = "app.example.com"
TUTORIAL_APP = "podinfo"
ERROR_RATE_ANNOTATION = "mesh-simulator.rollouts.istio/error-rate"
LATENCY_ANNOTATION = "mesh-simulator.rollouts.istio/latency-ms"
STOPPED_ANNOTATION = "mesh-simulator.rollouts.istio/stopped"


# ---------------------------------------------------------------- the simulator process

class MeshSimulator(object):
    """A running mesh simulator: its URLs, plain HTTP helpers, and a way to wait for it to see a change."""

    def __init__(self, kubeconfig, namespaces, prometheus_targets=None, extra_args=()):
        self.namespaces = list(namespaces)
        self._dir = tempfile.mkdtemp(prefix="mesh-simulator-")
        self.ready_file = os.path.join(self._dir, "ready.json")
        self.log_file = os.path.join(self._dir, "simulator.log")
        cmd = [sys.executable, "-m", "mesh_simulator", "--kubeconfig", kubeconfig,
               "--ingress-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--ready-file", self.ready_file]
        for ns in self.namespaces:
            cmd += ["--namespace", ns]
        if prometheus_targets:
            cmd += ["--prometheus-targets", prometheus_targets]
        cmd += list(extra_args)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [TOOLS, os.environ.get("PYTHONPATH")])))
        self._log = open(self.log_file, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.ingress_url = self.metrics_url = None

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("mesh simulator exited with %s:\n%s" % (self.proc.returncode, self.log_tail()))
            if os.path.exists(self.ready_file):
                with open(self.ready_file) as fh:
                    ready = json.load(fh)
                self.ingress_url, self.metrics_url, self.pid = ready["ingress"], ready["metrics"], ready["pid"]
                return self
            time.sleep(0.1)
        self.stop()
        raise AssertionError("mesh simulator not ready after %ss:\n%s" % (timeout, self.log_tail()))

    def log_tail(self, lines=40):
        self._log.flush()
        with open(self.log_file) as fh:
            return "".join(fh.readlines()[-lines:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    # -- talking to it

    def get(self, path="/", host=TUTORIAL_HOST, method="GET", headers=None, timeout=10):
        """(status, {header: value} lower-cased, body text) of one request through the ingress port."""
        req = urllib.request.Request(self.ingress_url + path, method=method, headers=dict(headers or {}))
        if host:
            req.add_header("Host", host)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read().decode()

    def versions(self, n, path="/", host=TUTORIAL_HOST, headers=None):
        """How many of n requests each version answered ({version: count}; errors under their status)."""
        counts = {}
        for dummy in range(n):
            status, hdrs, dummy = self.get(path, host=host, headers=headers)
            key = hdrs.get("x-version") if status == 200 else status
            counts[key] = counts.get(key, 0) + 1
        return counts

    def set_ingress(self, state):
        """Make the ingress gateway serve ("serving"), refuse connections ("refusing") or accept them and
        never answer ("hanging"); returns the simulator's {"state", "address"}."""
        req = urllib.request.Request(self.metrics_url + "/debug/ingress", data=json.dumps({"state": state}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    def metrics(self):
        with urllib.request.urlopen(self.metrics_url + "/metrics", timeout=10) as resp:
            return resp.read().decode()

    def objects(self):
        with urllib.request.urlopen(self.metrics_url + "/debug/objects", timeout=10) as resp:
            return json.load(resp)

    def wait_scraped(self, prometheus_url, timeout=30):
        """Wait until Prometheus has scraped this simulator. Load sent before that reaches Prometheus
        as counters already at their final value, and rate() over them is 0 (a NaN quantile)."""
        instance = self.metrics_url.split("://", 1)[1]
        query = urllib.parse.urlencode({"query": 'up{instance="%s"} == 1' % instance})
        deadline = time.time() + timeout
        while time.time() < deadline:
            with urllib.request.urlopen(prometheus_url + "/api/v1/query?" + query, timeout=10) as resp:
                if json.load(resp)["data"]["result"]:
                    return
            time.sleep(0.5)
        raise AssertionError("Prometheus did not scrape the simulator at %s within %ss" % (instance, timeout))

    def wait_seen(self, obj, timeout=10):
        """Wait until the simulator has the version of an object the API server returned (a create or patch)."""
        meta = obj["metadata"] if isinstance(obj, dict) else obj.metadata
        kind = obj["kind"] if isinstance(obj, dict) else obj.kind
        key = "%s/%s" % (meta["namespace"], meta["name"])
        rv = meta["resourceVersion"]
        deadline = time.time() + timeout
        while time.time() < deadline:
            seen = self.objects()["objects"].get(kind, {})
            if key in seen and int(seen[key]) >= int(rv):
                return
            time.sleep(0.05)
        raise AssertionError("the simulator did not see %s %s at resourceVersion %s within %ss"
                             % (kind, key, rv, timeout))

    def wait_synced(self, k8s, namespace=None, timeout=10):
        """Wait until the simulator has every tutorial-relevant object the API server has in the namespace."""
        namespace = namespace or self.namespaces[0]
        for api_version, kind in (("apps/v1", "Deployment"), ("apps/v1", "DaemonSet"), ("v1", "Service"),
                                  (ISTIO_API, "Gateway"),
                                  (ISTIO_API, "DestinationRule"), (ISTIO_API, "VirtualService")):
            for item in k8s.resources.get(api_version=api_version, kind=kind).get(namespace=namespace).items:
                seen = {"kind": kind, "metadata": {"namespace": namespace, "name": item.metadata.name,
                                                   "resourceVersion": item.metadata.resourceVersion}}
                self.wait_seen(seen, timeout=timeout)


def start_simulator(cluster, namespaces, extra_args=()):
    """Start a simulator against the cluster under test; skips where the local test bed is not in use."""
    if not cluster.get("prometheus_targets"):
        pytest.skip("the mesh simulator runs only on the local test bed (no Prometheus targets directory "
                    "for this cluster; these tests do not run against a real cluster's Envoys: "
                    "docs/mesh-simulator.md)")
    sim = MeshSimulator(cluster["kubeconfig"], namespaces, cluster["prometheus_targets"], extra_args)
    return sim.wait_ready()


@pytest.fixture
def mesh_simulator(namespace, cluster):
    """A mesh simulator watching the test's namespace, stopped after the test."""
    sim = start_simulator(cluster, [namespace])
    yield sim
    rc = sim.stop()
    assert rc == 0, "mesh simulator did not exit cleanly (%s):\n%s" % (rc, sim.log_tail())


# ---------------------------------------------------------------- the tutorial's objects

def deployment(namespace, version, app=TUTORIAL_APP, replicas=1, annotations=None):
    labels = {"app": app, "version": version}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "%s-%s" % (app, version), "namespace": namespace, "labels": dict(labels),
                     "annotations": dict(annotations or {})},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{
                    "name": app, "image": "ghcr.io/stefanprodan/podinfo:6.7.1",
                    "env": [{"name": "PODINFO_UI_MESSAGE", "value": version}],
                    "ports": [{"name": "http", "containerPort": 9898}],
                }]},
            },
        },
    }


def virtual_service(namespace, weights, app=TUTORIAL_APP, hosts=(TUTORIAL_HOST,), gateway="public-gateway",
                    http_extra=()):
    """The tutorial's VirtualService: weights {subset: weight}, bound to the gateway and the mesh."""
    return {
        "apiVersion": ISTIO_API, "kind": "VirtualService",
        "metadata": {"name": app, "namespace": namespace},
        "spec": {
            "hosts": list(hosts) + [app],
            "gateways": [gateway, "mesh"],
            "http": list(http_extra) + [{
                "name": "primary",
                "route": [{"destination": {"host": app, "subset": subset}, "weight": weight}
                          for subset, weight in weights.items()],
            }],
        },
    }


def tutorial_objects(namespace, weights=None, app=TUTORIAL_APP, host=TUTORIAL_HOST, versions=("v1", "v2")):
    """The manifests of the tutorial, in creation order."""
    weights = weights or {"v1": 100, "v2": 0}
    return [deployment(namespace, v, app) for v in versions] + [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": app, "namespace": namespace, "labels": {"app": app}},
         "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 9898, "targetPort": 9898}]}},
        {"apiVersion": ISTIO_API, "kind": "Gateway",
         "metadata": {"name": "public-gateway", "namespace": namespace},
         "spec": {"selector": {"istio": "ingressgateway"},
                  "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}},
        {"apiVersion": ISTIO_API, "kind": "DestinationRule",
         "metadata": {"name": app, "namespace": namespace},
         "spec": {"host": app, "subsets": [{"name": v, "labels": {"version": v}} for v in versions]}},
        virtual_service(namespace, weights, app, hosts=(host,)),
    ]


def apply_objects(k8s, objects):
    """Create each object (or replace it if it exists); returns the API server's copies."""
    from kubernetes.dynamic.exceptions import ConflictError

    out = []
    for obj in objects:
        api = k8s.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        ns = obj["metadata"]["namespace"]
        try:
            out.append(api.create(body=obj, namespace=ns))
        except ConflictError:
            current = api.get(name=obj["metadata"]["name"], namespace=ns)
            body = dict(obj, metadata=dict(obj["metadata"], resourceVersion=current.metadata.resourceVersion))
            out.append(api.replace(body=body, namespace=ns))
    return out


def create_tutorial(k8s, namespace, weights=None, **kwargs):
    """Create the tutorial's objects in a namespace; returns the API server's copies."""
    return apply_objects(k8s, tutorial_objects(namespace, weights, **kwargs))


def set_weights(k8s, namespace, weights, app=TUTORIAL_APP):
    """Patch the tutorial VirtualService's primary route to these weights; returns the patched object."""
    api = k8s.resources.get(api_version=ISTIO_API, kind="VirtualService")
    vs = api.get(name=app, namespace=namespace).to_dict()
    http = vs["spec"]["http"]
    http[-1]["route"] = [{"destination": {"host": app, "subset": s}, "weight": w} for s, w in weights.items()]
    return api.patch(body={"spec": {"http": http}}, name=app, namespace=namespace,
                     content_type="application/merge-patch+json")


def set_faults(k8s, namespace, name, error_rate=None, latency_ms=None):
    """Set (a number) or clear (None) the simulator's fault annotations on a Deployment."""
    api = k8s.resources.get(api_version="apps/v1", kind="Deployment")
    annotations = {ERROR_RATE_ANNOTATION: None if error_rate is None else str(error_rate),
                   LATENCY_ANNOTATION: None if latency_ms is None else str(latency_ms)}
    return api.patch(body={"metadata": {"annotations": annotations}}, name=name, namespace=namespace,
                     content_type="application/merge-patch+json")


def set_stopped(k8s, namespace, name, stopped=True):
    """Make a Deployment's app stop answering (its sidecar answers 503 UF), or answer again (False)."""
    api = k8s.resources.get(api_version="apps/v1", kind="Deployment")
    body = {"metadata": {"annotations": {STOPPED_ANNOTATION: "true" if stopped else None}}}
    return api.patch(body=body, name=name, namespace=namespace, content_type="application/merge-patch+json")


# ---------------------------------------------------------------- load, as the seed's webhook makes it

HEY = "/usr/bin/hey"


def hey_command(url, host=None, duration="1m", qps=10, concurrency=2):
    """The seed's load: `hey -z 1m -q 10 -c 2 URL` (Flagger's load tester webhook); -host for the gateway."""
    cmd = [HEY, "-z", duration, "-q", str(qps), "-c", str(concurrency)]
    if host:
        cmd += ["-host", host]
    return cmd + [url]


def run_hey(url, host=None, seconds=5, qps=10, concurrency=2):
    """Run hey for a few seconds, to the end; returns its summary text. Skips where hey is not installed."""
    if not os.path.exists(HEY):
        pytest.skip("hey is not installed (tools/testbed/testbed deps installs it)")
    proc = subprocess.run(hey_command(url, host, "%ds" % seconds, qps, concurrency), capture_output=True, text=True,
                          timeout=seconds + 30, check=False)
    assert proc.returncode == 0, "hey failed: %s" % proc.stderr
    return proc.stdout
