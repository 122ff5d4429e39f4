"""Benchmark one traffic change three ways, and many VirtualServices in one play.

    python bench/traffic_split/run.py [--changes 20] [--sizes 50,100,200]
    python bench/traffic_split/run.py --smoke     # the smallest run (1 change, 1 VirtualService), in seconds

Against the local test bed (needs its audit log: `eval "$(tools/testbed/testbed env)"`):

1. One weight change of one route, side by side: rollouts.istio.traffic_split, kubernetes.core.k8s
   applying the same VirtualService with the new weights, and `kubectl apply`. Median wall time
   of --changes changes each (the whole ansible-playbook / kubectl process, as a user waits for it),
   ratios, and the API requests each makes per change, counted from the audit log.
2. The same with nothing to change: how many requests and writes each makes.
3. --sizes VirtualServices changed in one play (one traffic_split task looping over them) against
   a kubectl loop (`kubectl patch` per object), and how both grow.

Every request is made as a ServiceAccount of the benchmark's own namespace, so the audit log
tells this benchmark's requests from everyone else's. Not a test: it prints numbers, it asserts none.
"""

import argparse
import base64
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

    def playbook(self, tasks):
        path = os.path.join(self.tmp, "play-%s.yml" % uuid.uuid4().hex[:6])
        with open(path, "w") as fh:
            yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}], fh)
        env = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", KUBECONFIG="/nonexistent",
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
        return ["ansible-playbook", "-i", "localhost,", path], env

    def traffic_split(self, name, stable, candidate, validate_destinations=True):
        return self.playbook([{"rollouts.istio.traffic_split": dict(
            self.conn(), name=name, namespace=self.ns, route="primary", validate_destinations=validate_destinations,
            destinations=[{"subset": "stable", "weight": stable}, {"subset": "candidate", "weight": candidate}])}])

    def k8s_core(self, name, stable, candidate):
        return self.playbook([{"kubernetes.core.k8s": dict(
            self.conn(), state="present", definition=virtual_service(self.ns, name, stable, candidate))}])

    def kubectl_apply(self, name, stable, candidate):
        path = os.path.join(self.tmp, "%s-%d.yaml" % (name, stable))
        with open(path, "w") as fh:
            yaml.safe_dump(virtual_service(self.ns, name, stable, candidate), fh)
        return ["kubectl", "--kubeconfig", self.sa_kubeconfig, "apply", "-f", path], dict(os.environ)

    def timed(self, cmd_env):
        cmd, env = cmd_env
        mark = self.audit.mark()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit("%s failed:\n%s%s" % (cmd[0], proc.stdout[-3000:], proc.stderr[-3000:]))
        events = self.audit.events(mark, user=self.user)
        return wall, events

    # ------------------------------------------------------------ scenarios

    def one_change(self, changes):
        tools = [
            ("rollouts.istio.traffic_split", self.traffic_split),
            ("traffic_split validate_destinations=false", lambda n, s, c: self.traffic_split(n, s, c, False)),
            ("kubernetes.core.k8s", self.k8s_core),
            ("kubectl apply", self.kubectl_apply),
        ]
        results = dict((label, {"wall": [], "requests": [], "writes": [], "verbs": {}}) for label, _make in tools)
        # Interleaved, so load from others on the machine hits every tool alike.
        for i in range(changes):
            stable = 90 - (i % 2) * 10
            for j, (label, make) in enumerate(tools):
                name = "vs-%03d" % j
                wall, events = self.timed(make(name, stable, 100 - stable))
                r = results[label]
                r["wall"].append(wall)
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
                ("traffic_split validate_destinations=false", lambda n: self.traffic_split(n, 80, 20, False)),
                ("kubernetes.core.k8s", lambda n: self.k8s_core(n, 80, 20)),
                ("kubectl apply", lambda n: self.kubectl_apply(n, 80, 20))]):
            name = "vs-%03d" % j
            self.timed(make(name))  # bring it to 80/20
            wall, events = self.timed(make(name))
            out[label] = (wall, len(events), sum(1 for e in events if e.is_write and not e.dry_run))
        return out

    def many(self, sizes):
        out = []
        for size in sizes:
            names = ["vs-%03d" % i for i in range(size)]
            stable = 70 if len(out) % 2 == 0 else 60
            play = self.playbook([{
                "rollouts.istio.traffic_split": dict(
                    self.conn(), name="{{ item }}", namespace=self.ns, route="primary",
                    destinations=[{"subset": "stable", "weight": stable}, {"subset": "candidate", "weight": 100 - stable}]),
                "loop": names}])
            t_play, ev_play = self.timed(play)
            script = "".join(
                "kubectl --kubeconfig %s -n %s patch virtualservice.networking.istio.io %s --type=json -p "
                "'[{\"op\":\"replace\",\"path\":\"/spec/http/1/route/0/weight\",\"value\":%d},"
                "{\"op\":\"replace\",\"path\":\"/spec/http/1/route/1/weight\",\"value\":%d}]' >/dev/null\n"
                % (self.sa_kubeconfig, self.ns, n, stable - 5, 105 - stable) for n in names)
            t_loop, ev_loop = self.timed((["bash", "-c", "set -e\n" + script], dict(os.environ)))
            out.append((size, t_play, len(ev_play), t_loop, len(ev_loop)))
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--sizes", default="50,100,200")
    parser.add_argument("--smoke", action="store_true",
                        help="the smallest run that still goes through every scenario: --changes 1 --sizes 1")
    args = parser.parse_args()
    if args.smoke:
        args.changes, args.sizes = 1, "1"
    if args.changes < 1:
        parser.error("--changes: give at least 1, got %d" % args.changes)
    audit_log = os.environ.get("ROLLOUTS_TESTBED_AUDIT_LOG")
    kubeconfig = os.environ.get("KUBECONFIG")
    if not audit_log or not kubeconfig:
        raise SystemExit('needs the test bed: eval "$(tools/testbed/testbed env)"')
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        parser.error("--sizes: give counts separated by commas, such as 50,100,200, got %r" % args.sizes)
    if not sizes or min(sizes) < 1:
        parser.error("--sizes: give counts of at least 1, got %r" % args.sizes)
    bench = Bench(audit_log, kubeconfig)
    bench.setup(max(sizes + [4]))
    try:
        print("One traffic change of one route, %d changes per tool (median wall time of the whole process)" % args.changes)
        res = bench.one_change(args.changes)
        base = statistics.median(res["rollouts.istio.traffic_split"]["wall"])
        print("%-40s %9s %7s %9s %7s  %s" % ("tool", "median s", "ratio", "requests", "writes", "requests per change"))
        for label, r in res.items():
            med = statistics.median(r["wall"])
            verbs = ", ".join("%s x%.1f" % (k, v / float(args.changes)) for k, v in sorted(r["verbs"].items()))
            print("%-40s %9.3f %7.2f %9.1f %7.1f  %s" % (label, med, med / base, statistics.mean(r["requests"]),
                                                         statistics.mean(r["writes"]), verbs))
        print()
        print("Nothing to change (the same weights again)")
        for label, (wall, requests, writes) in bench.no_change().items():
            print("%-40s %9.3f s %4d requests %4d writes" % (label, wall, requests, writes))
        print()
        print("Many VirtualServices: one play with one traffic_split task looping over them, against a kubectl patch loop")
        header = ("count", "play s", "per VS s", "requests", "kubectl s", "per VS s", "requests")
        print("%6s %12s %10s %12s %14s %10s %12s" % header)
        rows = bench.many(sizes)
        for size, t_play, r_play, t_loop, r_loop in rows:
            print("%6d %12.2f %10.3f %12d %14.2f %10.3f %12d" % (size, t_play, t_play / size, r_play, t_loop,
                                                                 t_loop / size, r_loop))
        if len(rows) > 1:
            s0, p0, k0 = rows[0][0], rows[0][1], rows[0][3]
            s1, p1, k1 = rows[-1][0], rows[-1][1], rows[-1][3]
            print("growth from %d to %d VirtualServices (x%.1f): play x%.2f, kubectl loop x%.2f"
                  % (s0, s1, s1 / float(s0), p1 / p0, k1 / k0))
    finally:
        bench.teardown()


if __name__ == "__main__":
    main()
