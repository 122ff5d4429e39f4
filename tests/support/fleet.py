"""A fleet of test bed clusters for playbooks/fleet.yml: the shared default cluster and extra ones
that `tools/testbed/testbed cluster up` starts (each its own kwok cluster, ports, audit log and
Istio install), the same release laid out on each, and a mesh simulator per cluster.

The mesh simulator (tools/mesh_simulator) stands in for Envoy on every cluster: it routes the
release's requests as that cluster's VirtualService says and exports Istio's metrics. All of them
are scraped by the test bed's one Prometheus; each simulator's scrape target carries a `cluster`
label (the inventory host's name), so the fleet runs as with one Prometheus for the whole fleet
(fleet_prometheus_cluster_label: cluster) and no cluster's numbers reach another's gate.
"""

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import yaml

from support.audit import AuditLog
from support.mesh import TUTORIAL_APP, MeshSimulator
from support.release import (PLAYBOOKS, RECORD, REPO, PlaybookRun, create_release, playbook_env, release_vars,
                             route_named, weights_of)

TESTBED = os.path.join(REPO, "tools", "testbed", "testbed")
CLUSTER_LABEL = "cluster"


def start_clusters(names, timeout=900):
    """Start the extra clusters (or find them running); returns {name: facts} (kubeconfig, audit_log ...)."""
    proc = subprocess.run([TESTBED, "cluster", "up"] + list(names), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError("testbed cluster up %s failed:\n%s" % (" ".join(names), proc.stderr[-3000:]))
    return json.loads(proc.stdout)


def stop_clusters(names):
    proc = subprocess.run([TESTBED, "cluster", "down"] + list(names), capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, "testbed cluster down %s failed:\n%s" % (" ".join(names), proc.stderr[-3000:])


def k8s_client(kubeconfig):
    from kubernetes import config as kconfig
    from kubernetes.dynamic import DynamicClient

    return DynamicClient(kconfig.new_client_from_config(config_file=kubeconfig))


class FleetCluster(object):
    """One cluster of the fleet, as one inventory host."""

    def __init__(self, host, kubeconfig, audit_log):
        self.host, self.kubeconfig, self.audit_log = host, kubeconfig, audit_log
        self.k8s = k8s_client(kubeconfig)
        self.audit = AuditLog(audit_log) if audit_log and os.path.exists(audit_log) else None
        self.simulator = None

    def virtual_service(self, namespace, name=TUTORIAL_APP):
        api = self.k8s.resources.get(api_version="networking.istio.io/v1", kind="VirtualService")
        return api.get(name=name, namespace=namespace).to_dict()

    def record(self, namespace):
        """The rollout record on the cluster's VirtualService ({} when none)."""
        annotations = self.virtual_service(namespace)["metadata"].get("annotations") or {}
        return json.loads(annotations[RECORD]) if RECORD in annotations else {}

    def weights(self, namespace):
        return weights_of(route_named(self.virtual_service(namespace), "primary"))


def label_target(simulator, host, targets):
    """Add cluster=<host> to the simulator's file_sd target (Prometheus re-reads it every 2 s)."""
    path = os.path.join(targets, "mesh-simulator-%d.json" % simulator.pid)
    with open(path) as fh:
        groups = json.load(fh)
    for group in groups:
        group.setdefault("labels", {})[CLUSTER_LABEL] = host
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(groups, fh)
    os.replace(tmp, path)


def wait_labelled(prometheus_url, simulator, host, timeout=60):
    instance = simulator.metrics_url.split("://", 1)[1]
    query = urllib.parse.urlencode({"query": 'up{instance="%s",%s="%s"} == 1' % (instance, CLUSTER_LABEL, host)})
    deadline = time.time() + timeout
    while time.time() < deadline:
        with urllib.request.urlopen(prometheus_url + "/api/v1/query?" + query, timeout=10) as resp:
            if json.load(resp)["data"]["result"]:
                return
        time.sleep(0.5)
    raise AssertionError("Prometheus did not scrape the simulator of %s with its cluster label within %ss"
                         % (host, timeout))


class Fleet(object):
    """The same release (podinfo v1 -> v2 in one namespace) on every cluster, each routed by a mesh
    simulator of its own, and the inventory that names them, one host per cluster."""

    def __init__(self, clusters, namespace, prometheus_url, prometheus_targets, tmp_path):
        self.clusters = clusters  # [FleetCluster], in wave order
        self.namespace, self.prometheus_url, self.targets = namespace, prometheus_url, prometheus_targets
        self.tmp_path = tmp_path
        self.report_dir = str(tmp_path / "reports")
        self._own_namespaces = []

    def by_host(self, host):
        return next(c for c in self.clusters if c.host == host)

    def create(self, default_host):
        for c in self.clusters:
            if c.host != default_host:  # the namespace fixture made it on the default cluster
                c.k8s.resources.get(api_version="v1", kind="Namespace").create(
                    body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})
                self._own_namespaces.append(c)
            c.simulator = MeshSimulator(c.kubeconfig, [self.namespace], self.targets).wait_ready()
            create_release(c.k8s, self.namespace, c.simulator)
            label_target(c.simulator, c.host, self.targets)
        for c in self.clusters:
            wait_labelled(self.prometheus_url, c.simulator, c.host)
        return self

    def inventory(self, **plan):
        """Write the fleet's inventory; `plan` sets shift_traffic_* knobs (release_vars' names)."""
        common = release_vars(self.namespace, self.prometheus_url, None, **plan)
        common.pop("release_kubeconfig")
        common.pop("release_ingress_url")
        common.update(release_report_dir=self.report_dir, fleet_prometheus_cluster_label=CLUSTER_LABEL,
                      ansible_connection="local", ansible_python_interpreter=sys.executable)
        hosts = {c.host: {"release_kubeconfig": c.kubeconfig, "release_ingress_url": c.simulator.ingress_url + "/"}
                 for c in self.clusters}
        inv = {"all": {"children": {"fleet": {"hosts": hosts, "vars": common}}}}
        path = self.tmp_path / "fleet-inventory.yml"
        path.write_text(yaml.safe_dump(inv, sort_keys=False))
        return str(path)

    def start(self, inventory, extra_vars=None, waves=(1, 1, 1), timeout=600, forks=5, playbook="fleet.yml"):
        """Run fleet.yml (or another playbook over the fleet's hosts) in the background; `waves` is
        fleet_waves (given with -e, as serial needs)."""
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
               os.path.join(PLAYBOOKS, playbook), "--forks", str(forks),
               "-e", json.dumps(dict(extra_vars or {}, fleet_waves=list(waves)))]
        return PlaybookRun(cmd, playbook_env(), timeout)

    def close(self):
        for c in self.clusters:
            if c.simulator is not None:
                c.simulator.stop()
        for c in self._own_namespaces:
            try:
                c.k8s.resources.get(api_version="v1", kind="Namespace").delete(name=self.namespace)
            except Exception:  # already gone, or the cluster is stopping
                pass


def history_time(record, action):
    """Epoch seconds of the record's first history entry of `action` (None when there is none)."""
    from support.release import parse_time

    for entry in record.get("history") or []:
        if entry.get("action") == action:
            return parse_time(entry["time"])
    return None
