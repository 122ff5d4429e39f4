"""Benchmark: traffic_probe's requests per second against hey's, on the same URL.

    .venv/bin/python bench/traffic_probe/run.py                 # the tutorial on the running test bed
    .venv/bin/python bench/traffic_probe/run.py --url http://127.0.0.1:8080/ --host app.example.com
    .venv/bin/python bench/traffic_probe/run.py --smoke         # smallest sizes: seconds, to check it runs

Without --url it creates the tutorial (90/10) in a fresh namespace of the test bed's cluster
(`tools/testbed/testbed up` first), starts a mesh simulator for it, and deletes both afterwards.
For each concurrency it runs, alternately and --rounds times each, `hey -n N -c C` (no rate
limit) and the probe's own engine (plugins/module_utils/_edges/http_probe.py, as the module runs it) with
the same N and C, and reports the median requests per second and CPU time per request of each
client, plus the probe's throughput as a share of hey's. It also times one whole module run
through ansible-playbook once, to show what Ansible adds around the probe.

--smoke runs the smallest case (20 requests, concurrency 1, one round, the module run included): a
check that the bench works, not a measurement.

Both clients reach the same server on this 2-core machine, so the server's own limit caps both:
the ratio says how close the probe gets to a load tester, not how fast the server is.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.environ.get("ROLLOUTS_COLLECTIONS", os.path.join(REPO, ".venv", "collections")))

from ansible_collections.rollouts.istio.plugins.module_utils._edges.http_probe import Target, VersionReader, run_probe  # noqa: E402
from ansible_collections.rollouts.istio.plugins.module_utils._core.split_stats import summarize  # noqa: E402

HEY = "/usr/bin/hey"


def testbed_kubeconfig():
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]
    state = os.environ.get("ROLLOUTS_TESTBED_STATE",
                           os.path.join(os.path.expanduser("~/.cache/rollouts-istio-testbed"), "run"))
    env = os.path.join(state, "env.sh")
    if os.path.exists(env):
        for line in open(env):
            m = re.match(r'export KUBECONFIG="(.*)"', line.strip())
            if m and os.path.exists(m.group(1)):
                return m.group(1)
    sys.exit("bench: no cluster; start the test bed (tools/testbed/testbed up) or pass --url")


class Tutorial(object):
    """The tutorial in a fresh namespace, routed by a mesh simulator; removed on exit."""

    def __enter__(self):
        from kubernetes import config as kconfig
        from kubernetes.dynamic import DynamicClient

        from support.mesh import MeshSimulator, create_tutorial

        self.kubeconfig = testbed_kubeconfig()
        self.k8s = DynamicClient(kconfig.new_client_from_config(config_file=self.kubeconfig))
        self.namespace = "bench-probe-" + uuid.uuid4().hex[:6]
        self.ns_api = self.k8s.resources.get(api_version="v1", kind="Namespace")
        self.ns_api.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})
        create_tutorial(self.k8s, self.namespace, weights={"v1": 90, "v2": 10})
        self.sim = MeshSimulator(self.kubeconfig, [self.namespace]).wait_ready()
        self.sim.wait_synced(self.k8s, self.namespace)
        return self

    def __exit__(self, *exc):
        self.sim.stop()
        self.ns_api.delete(name=self.namespace)


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_hey(url, host, n, c):
    cmd = [HEY, "-n", str(n), "-c", str(c)] + (["-host", host] if host else []) + [url]
    cpu0 = children_cpu()
    t0 = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    wall = time.monotonic() - t0
    cpu = children_cpu() - cpu0
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    codes = dict((int(k), int(v)) for k, v in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    errors = n - codes.get(200, 0)
    return {"rps": rps, "wall_s": wall, "cpu_ms_per_request": 1000.0 * cpu / n, "errors": errors}


def run_probe_engine(url, host, n, c):
    target = Target(url, host=host, timeout=10)
    reader = VersionReader(header="X-Version")
    cpu0 = time.process_time()
    t0 = time.monotonic()
    samples = run_probe(target, reader, n, c)
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    summary = summarize(samples)
    return {"rps": n / wall, "wall_s": wall, "cpu_ms_per_request": 1000.0 * cpu / n,
            "errors": summary["errors"]["count"], "split": summary["split"]}


def run_module_once(url, host, n, c):
    """Wall time of one traffic_probe task through ansible-playbook (startup included)."""
    with tempfile.TemporaryDirectory() as tmp:
        play = os.path.join(tmp, "play.yml")
        with open(play, "w") as fh:
            json.dump([{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
                {"rollouts.istio.traffic_probe": {"url": url, "host": host, "requests": n, "concurrency": c}}]}], fh)
        env = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="false",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                   ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH",
                                                           os.path.join(REPO, ".venv", "collections")))
        t0 = time.monotonic()
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                               play], capture_output=True, text=True, env=env, check=False)
        wall = time.monotonic() - t0
    if proc.returncode != 0:
        return {"error": proc.stdout[-2000:] + proc.stderr[-2000:]}
    return {"requests": n, "concurrency": c, "wall_s": round(wall, 2), "rps_including_ansible": round(n / wall, 1)}


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def bench(url, host, n, concurrencies, rounds):
    results = []
    # Warm both paths (connections, caches) before measuring.
    run_hey(url, host, min(n, 200), min(2, max(concurrencies)))
    run_probe_engine(url, host, min(n, 200), min(2, max(concurrencies)))
    for c in concurrencies:
        hey_rows, probe_rows = [], []
        for dummy in range(rounds):
            hey_rows.append(run_hey(url, host, n, c))
            probe_rows.append(run_probe_engine(url, host, n, c))
        row = {
            "requests": n, "concurrency": c, "rounds": rounds,
            "hey_rps": round(median(hey_rows, "rps"), 1),
            "probe_rps": round(median(probe_rows, "rps"), 1),
            "hey_cpu_ms_per_request": round(median(hey_rows, "cpu_ms_per_request"), 3),
            "probe_cpu_ms_per_request": round(median(probe_rows, "cpu_ms_per_request"), 3),
            "hey_errors": sum(r["errors"] for r in hey_rows),
            "probe_errors": sum(r["errors"] for r in probe_rows),
            "probe_split_last_round": probe_rows[-1]["split"],
        }
        row["probe_vs_hey"] = round(row["probe_rps"] / row["hey_rps"], 3) if row["hey_rps"] else None
        results.append(row)
        print("c=%-3d hey %8.1f req/s (%.3f ms CPU/req)   probe %8.1f req/s (%.3f ms CPU/req)   probe/hey %.2f"
              % (c, row["hey_rps"], row["hey_cpu_ms_per_request"], row["probe_rps"], row["probe_cpu_ms_per_request"],
                 row["probe_vs_hey"] or 0), file=sys.stderr)
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    p.add_argument("--url", help="bench this URL instead of the tutorial on the test bed")
    p.add_argument("--host", help="Host header (default: the tutorial's, app.example.com, without --url)")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, action="append", help="repeatable; default 1, 2, 4, 8")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-module", action="store_true", help="skip the one run through ansible-playbook")
    p.add_argument("--output", help="also write the JSON report here")
    p.add_argument("--smoke", action="store_true",
                   help="the smallest case (20 requests, concurrency 1, one round): seconds, to check that the bench runs")
    args = p.parse_args(argv)
    if args.smoke:
        args.requests, args.concurrency, args.rounds = 20, [1], 1
    if args.requests < 1 or args.rounds < 1 or min(args.concurrency or [1]) < 1:
        p.error("--requests, --rounds and --concurrency must be 1 or more")
    if not os.path.exists(HEY):
        sys.exit("bench: hey is not installed (tools/testbed/testbed deps installs it)")
    concurrencies = args.concurrency or [1, 2, 4, 8]

    def measure(url, host):
        report = {"url": url, "host": host, "machine": {"cpus": os.cpu_count()},
                  "results": bench(url, host, args.requests, concurrencies, args.rounds)}
        if not args.no_module:
            report["module_run"] = run_module_once(url, host, args.requests, max(concurrencies))
        return report

    if args.url:
        report = measure(args.url, args.host)
    else:
        with Tutorial() as tut:
            report = measure(tut.sim.ingress_url + "/", args.host or "app.example.com")
            report["server"] = "mesh simulator (tools/mesh_simulator), tutorial 90/10"
    text = json.dumps(report, indent=2)
    print("throughput ratio probe/hey: %s" % ", ".join(
        "%.2f (c=%d)" % (row["probe_vs_hey"] or 0.0, row["concurrency"]) for row in report["results"]))
    print(text)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
