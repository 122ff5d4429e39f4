"""Benchmark one traffic change: traffic_split (now and as a module), kubernetes.core.k8s, kubectl apply.

    python bench/traffic_split/run.py [--changes 20]
    python bench/traffic_split/run.py --smoke     # the smallest run (1 change each), in seconds

Against the local test bed (needs its audit log: `eval "$(tools/testbed/testbed env)"`):

1. One weight change of one route, side by side: rollouts.istio.traffic_split as it runs now (its
   action plugin runs the module's code in the controller's worker), the same module run as a module
   (before: shipped and started per task; a local connection under another name makes the action
   plugin do that), kubernetes.core.k8s applying the same VirtualService with the new weights, and
   `kubectl apply`. Medians of --changes changes each: the task's own wall time (from the JSON
   callback's task duration) and the whole process' (ansible-playbook / kubectl, as a user waits for
   it), ratios to kubernetes.core.k8s, and the API requests each makes per change (audit log).
2. The same with nothing to change: how many requests and writes each makes.

Many VirtualServices in one play: bench/many_services.

Every request is made as a ServiceAccount of the benchmark's own namespace, so the audit log
tells this benchmark's requests from everyone else's. Not a test: it prints numbers, it asserts none.
"""

import argparse
import base64
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))

from support.audit import AuditLog  # noqa: E402

# The local connection under another name: rollouts.istio's action plugins run their module as a module
# when the connection is not local, so this gives the 'before' column (the module shipped and started per task).
MODULE_AS_MODULE = '''"""The local connection under another name, for the benchmark's 'module as a module' column."""
from ansible.plugins.connection import local as _local

DOCUMENTATION = _local.DOCUMENTATION.replace("name: local", "name: module_as_module", 1)


class Connection(_local.Connection):
    transport = "module_as_module"
'''


def sh(*args, input=None, check=True, env=None):
    proc = subprocess.run(list(args), input=input, capture_output=True, text=True, env=env, check=False)
    if check and proc.returncode != 0:
        raise SystemExit("%s failed:\n%s%s" % (" ".join(args[:4]), proc.stdout[-2000:], proc.stderr[-2000:]))
    return proc


def kubectl(*args, **kw):
    return sh("kubectl", *args, **kw)


def virtual_service(ns, name, stable, candidate):
    return {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"hosts": [name], "http": [
            {"name": "testers", "match": [{"headers": {"x-tester": {"exact": "yes"}}}],
             "route": [{"destination": {"host": name, "subset": "candidate"}}]},
            {"name": "primary", "retries": {"attempts": 3, "perTryTimeout": "2s"}, "timeout": "10s",
             "route": [{"destination": {"host": name, "subset": "stable"}, "weight": stable},
                       {"destination": {"host": name, "subset": "candidate"}, "weight": candidate}]},
        ]},
    }


def service(ns, name):
    """The Service the VirtualService's host names: traffic_split checks that it exists."""
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 9080}]}}


def cluster_ca(cluster, tmp):
    """The path of the cluster's CA certificate, whether the kubeconfig embeds it or names a file.

    kubectl-made kubeconfigs carry certificate-authority-data; kwokctl's (the test bed's) name the
    file as certificate-authority, relative to the kubeconfig's directory when not absolute.
    """
    if cluster.get("certificate-authority-data"):
        path = os.path.join(tmp, "ca.crt")
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(cluster["certificate-authority-data"]))
        return path
    if cluster.get("certificate-authority"):
        return cluster["certificate-authority"]
    return None


def destination_rule(ns, name):
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"host": name, "subsets": [{"name": "stable", "labels": {"version": "v1"}},
                                               {"name": "candidate", "labels": {"version": "v2"}}]}}


def _when(text):
    return datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")


def tasks_wall(stdout):
    """The wall time of the play's tasks, from ansible.posix.json's task durations (not the process' start-up)."""
    out = json.loads(stdout)
    total = 0.0
    for play in out["plays"]:
        for task in play["tasks"]:
            d = task["task"]["duration"]
            total += (_when(d["end"]) - _when(d["start"])).total_seconds()
    return total


class Bench(object):
    def __init__(self, audit_log, kubeconfig):
        self.audit = AuditLog(audit_log)
        self.ns = "bench-ts-" + uuid.uuid4().hex[:6]
        self.tmp = tempfile.mkdtemp(prefix="bench-ts-")
        self.kubeconfig = kubeconfig
        with open(kubeconfig) as fh:
            cfg = yaml.safe_load(fh)
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == cfg["current-context"])
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        self.server = cluster["server"]
        ca = cluster_ca(cluster, self.tmp)
        if ca and not os.path.isabs(ca):
            ca = os.path.join(os.path.dirname(os.path.abspath(kubeconfig)), ca)
        self.ca = ca
        self.insecure = ca is None and bool(cluster.get("insecure-skip-tls-verify"))

    # ------------------------------------------------------------ setup

    def setup(self, count):
        kubectl("create", "namespace", self.ns)
        kubectl("-n", self.ns, "apply", "-f", os.path.join(REPO, "docs", "rbac"))
        kubectl("-n", self.ns, "create", "serviceaccount", "bench")
        kubectl("-n", self.ns, "create", "rolebinding", "bench", "--role", "rollouts-istio-manage",
                "--serviceaccount", "%s:bench" % self.ns)
        self.user = "system:serviceaccount:%s:bench" % self.ns
        self.token = kubectl("-n", self.ns, "create", "token", "bench", "--duration", "2h").stdout.strip()
        # kubectl as the same ServiceAccount, from a kubeconfig of its own.
        self.sa_kubeconfig = os.path.join(self.tmp, "kubeconfig")
        with open(self.sa_kubeconfig, "w") as fh:
            yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "bench",
                            "clusters": [{"name": "c", "cluster": self.kube_cluster()}],
                            "users": [{"name": "bench", "user": {"token": self.token}}],
                            "contexts": [{"name": "bench", "context": {"cluster": "c", "user": "bench", "namespace": self.ns}}]},
                           fh)
        docs = []
        for i in range(count):
            name = "vs-%03d" % i
            docs += [service(self.ns, name), destination_rule(self.ns, name), virtual_service(self.ns, name, 100, 0)]
        kubectl("-n", self.ns, "apply", "-f", "-", input=yaml.safe_dump_all(docs))

    def teardown(self):
        kubectl("delete", "namespace", self.ns, "--wait=false", check=False)

    # ------------------------------------------------------------ runners

    def kube_cluster(self):
        if self.ca:
            return {"server": self.server, "certificate-authority": self.ca}
        return {"server": self.server, "insecure-skip-tls-verify": self.insecure}

    def conn(self):
        if self.ca:
            return {"host": self.server, "api_key": self.token, "ca_cert": self.ca}
        return {"host": self.server, "api_key": self.token, "validate_certs": not self.insecure}

    def playbook(self, tasks, connection="local"):
        path = os.path.join(self.tmp, "play-%s.yml" % uuid.uuid4().hex[:6])
        with open(path, "w") as fh:
            yaml.safe_dump([{"hosts": "localhost", "connection": connection, "gather_facts": False, "tasks": tasks}], fh)
        plugins = os.path.join(self.tmp, "connection_plugins")
        if not os.path.exists(plugins):
            os.makedirs(plugins)
            with open(os.path.join(plugins, "module_as_module.py"), "w") as fh:
                fh.write(MODULE_AS_MODULE)
        env = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", KUBECONFIG="/nonexistent",
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                   ANSIBLE_CONNECTION_PLUGINS=plugins)
        return ["ansible-playbook", "-i", "localhost,", path], env

    def traffic_split(self, name, stable, candidate, validate_destinations=True, connection="local"):
        return self.playbook([{"rollouts.istio.traffic_split": dict(
            self.conn(), name=name, namespace=self.ns, route="primary", validate_destinations=validate_destinations,
            destinations=[{"subset": "stable", "weight": stable}, {"subset": "candidate", "weight": candidate}])}],
            connection=connection)

    def k8s_core(self, name, stable, candidate):
        return self.playbook([{"kubernetes.core.k8s": dict(
            self.conn(), state="present", definition=virtual_service(self.ns, name, stable, candidate))}])

    def kubectl_apply(self, name, stable, candidate):
        path = os.path.join(self.tmp, "%s-%d.yaml" % (name, stable))
        with open(path, "w") as fh:
            yaml.safe_dump(virtual_service(self.ns, name, stable, candidate), fh)
        return ["kubectl", "--kubeconfig", self.sa_kubeconfig, "apply", "-f", path], dict(os.environ)

    def timed(self, cmd_env, task_wall=False):
        """(process wall s, audit events) or, with task_wall, (process wall s, tasks' wall s, audit events)."""
        cmd, env = cmd_env
        mark = self.audit.mark()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit("%s failed:\n%s%s" % (cmd[0], proc.stdout[-3000:], proc.stderr[-3000:]))
        events = self.audit.events(mark, user=self.user)
        if not task_wall:
            return wall, events
        return wall, (tasks_wall(proc.stdout) if cmd[0] == "ansible-playbook" else wall), events

    # ------------------------------------------------------------ scenarios

    def one_change(self, changes):
        tools = [
            ("rollouts.istio.traffic_split", self.traffic_split),
            ("traffic_split as a module (before)", lambda n, s, c: self.traffic_split(n, s, c, connection="module_as_module")),
            ("traffic_split validate_destinations=false", lambda n, s, c: self.traffic_split(n, s, c, False)),
            ("kubernetes.core.k8s", self.k8s_core),
            ("kubectl apply", self.kubectl_apply),
        ]
        results = dict((label, {"wall": [], "task": [], "requests": [], "writes": [], "verbs": {}}) for label, _make in tools)
        # Interleaved, so load from others on the machine hits every tool alike.
        for i in range(changes):
            stable = 90 - (i % 2) * 10
            for j, (label, make) in enumerate(tools):
                name = "vs-%03d" % j
                wall, task, events = self.timed(make(name, stable, 100 - stable), task_wall=True)
                r = results[label]
                r["wall"].append(wall)
                r["task"].append(task)
                r["requests"].append(len(events))
                r["writes"].append(sum(1 for e in events if e.is_write and not e.dry_run))
                for e in events:
                    key = "%s %s" % (e.verb, e.resource or e.uri.split("?")[0])
                    r["verbs"][key] = r["verbs"].get(key, 0) + 1
        return results

    def no_change(self):
        out = {}
        for j, (label, make) in enumerate([
                ("rollouts.istio.traffic_split", lambda n: self.traffic_split(n, 80, 20)),
                ("traffic_split as a module (before)", lambda n: self.traffic_split(n, 80, 20, connection="module_as_module")),
                ("traffic_split validate_destinations=false", lambda n: self.traffic_split(n, 80, 20, False)),
                ("kubernetes.core.k8s", lambda n: self.k8s_core(n, 80, 20)),
                ("kubectl apply", lambda n: self.kubectl_apply(n, 80, 20))]):
            name = "vs-%03d" % j
            self.timed(make(name))  # bring it to 80/20
            wall, events = self.timed(make(name))
            out[label] = (wall, len(events), sum(1 for e in events if e.is_write and not e.dry_run))
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="the smallest run that still goes through every scenario: --changes 1")
    args = parser.parse_args()
    if args.smoke:
        args.changes = 1
    if args.changes < 1:
        parser.error("--changes: give at least 1, got %d" % args.changes)
    audit_log = os.environ.get("ROLLOUTS_TESTBED_AUDIT_LOG")
    kubeconfig = os.environ.get("KUBECONFIG")
    if not audit_log or not kubeconfig:
        raise SystemExit('needs the test bed: eval "$(tools/testbed/testbed env)"')
    bench = Bench(audit_log, kubeconfig)
    bench.setup(5)
    try:
        print("One traffic change of one route, %d changes per tool (medians; ratios to kubernetes.core.k8s)" % args.changes)
        res = bench.one_change(args.changes)
        base_task = statistics.median(res["kubernetes.core.k8s"]["task"])
        base_wall = statistics.median(res["kubernetes.core.k8s"]["wall"])
        header = ("tool", "task s", "ratio", "process s", "ratio", "requests", "writes", "requests per change")
        print("%-42s %8s %6s %9s %6s %9s %7s  %s" % header)
        for label, r in res.items():
            task, wall = statistics.median(r["task"]), statistics.median(r["wall"])
            verbs = ", ".join("%s x%.1f" % (k, v / float(args.changes)) for k, v in sorted(r["verbs"].items()))
            print("%-42s %8.3f %6.2f %9.3f %6.2f %9.1f %7.1f  %s" % (
                label, task, task / base_task, wall, wall / base_wall, statistics.mean(r["requests"]),
                statistics.mean(r["writes"]), verbs))
        print("(task s: the task's own wall time, from the JSON callback; kubectl has no task, its process is its task)")
        print()
        print("Nothing to change (the same weights again)")
        for label, (wall, requests, writes) in bench.no_change().items():
            print("%-42s %9.3f s %4d requests %4d writes" % (label, wall, requests, writes))
    finally:
        bench.teardown()


if __name__ == "__main__":
    main()
