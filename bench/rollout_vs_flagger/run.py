"""The same 5-step canary, run by Flagger v1.36.1 and by playbooks/canary.yml, side by side on the test bed.

    python bench/rollout_vs_flagger/run.py              # 3 runs of each case (--runs N), medians and ratios
    python bench/rollout_vs_flagger/run.py --smoke      # 1 run of each case with a 2-step plan, a quick check

Against the local test bed (`eval "$(tools/testbed/testbed env)"`: the kubeconfig, the audit log,
Prometheus and its file_sd targets directory). The plan of both: step weight 20 up to 100, one
check every 10 s, the two built-in metrics (request success rate min 99 %, request duration p99
max 500 ms, over a 10 s window), a threshold of 2 failed checks. Four cases, interleaved in each
round so that both see the same machine: Flagger healthy, ours healthy, Flagger failing, ours
failing (the candidate answers 50 % of its requests with a 500).

The mesh simulator (tools/mesh_simulator) stands in for Envoy for both: it routes by the
VirtualServices' weights (Flagger's podinfo-primary / podinfo-canary hosts as our subsets) and
exports the istio_* metrics both query; hey sends the load through its ingress for the whole of
each run. Flagger runs out of cluster (-mesh-provider=istio, the test bed's Prometheus) in a
namespace of the bench's own; it is built from its Go module once, into the test bed's cache,
when the binary is missing. Each side makes its requests as a ServiceAccount of its own, so the
audit log tells its requests from everyone else's on the shared test bed.

Measured for each run: wall time from the trigger (Flagger: the Deployment's template changed; ours:
ansible-playbook started) to phase Succeeded, the configured bake (steps x interval), the
overhead (wall - bake), the API requests in that window (reads and writes, watches left out);
for a failing candidate, the time from the failing verdict (Flagger: its status reaching the
failed-checks threshold; ours: the gate's own verdict time in the record) to 100 % on stable
(Flagger: on the primary) and the writes in between. Not a test: it prints numbers, it asserts none.
"""

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))

from support.audit import WRITE_VERBS  # noqa: E402
from support.mesh import ERROR_RATE_ANNOTATION, HEY, MeshSimulator, apply_objects, hey_command  # noqa: E402
from support.release import (TimedAuditLog, delete_clusterrolebinding, host_of, metrics, parse_time,  # noqa: E402
                             read_record, release_objects, release_vars, route_named, serviceaccount_kubeconfig,
                             start_playbook, weights_of)

FLAGGER_VERSION = "v1.36.1"
FLAGGER_MODULE = "github.com/fluxcd/flagger"
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "rollouts-istio-testbed", "bin")
APP = "podinfo"
ERROR_RATE = 0.5
THRESHOLD = 2
METRIC_WINDOW = "10s"
PLANS = {
    # name: (step weight, max weight, interval in seconds)
    "full": (20, 100, 10),
    "smoke": (50, 100, 10),   # Flagger ticks at least every 10 s, whatever a shorter interval says
}
LOAD_QPS, LOAD_CONCURRENCY = 10, 2   # per hey worker: 20 requests/s in all, as the seed's load tester


def say(text):
    print(text, flush=True)


def sh(*args, check=True, env=None, input=None):
    proc = subprocess.run(list(args), capture_output=True, text=True, env=env, input=input, check=False)
    if check and proc.returncode != 0:
        raise SystemExit("%s failed (rc %s):\n%s%s" % (" ".join(args[:5]), proc.returncode, proc.stdout[-2000:],
                                                       proc.stderr[-2000:]))
    return proc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- Flagger, built once

def flagger_binary(bin_dir):
    """The Flagger binary in the test bed's cache; built from its Go module (nice -n 19) when missing."""
    path = os.path.join(bin_dir, "flagger")
    if os.path.exists(path):
        return path
    say("Flagger %s is not built yet: building it once from its Go module into %s (about 5 min on 2 cores)"
        % (FLAGGER_VERSION, bin_dir))
    os.makedirs(bin_dir, exist_ok=True)
    env = dict(os.environ, GOFLAGS="", GOBIN=bin_dir)
    sh("nice", "-n", "19", "go", "install", "%s/cmd/flagger@%s" % (FLAGGER_MODULE, FLAGGER_VERSION), env=env)
    return path


def flagger_crds():
    """artifacts/flagger/crd.yaml of the Flagger module, from the Go module cache (downloaded if it is not there)."""
    env = dict(os.environ, GOFLAGS="")
    modcache = sh("go", "env", "GOMODCACHE", env=env).stdout.strip()
    path = os.path.join(modcache, FLAGGER_MODULE + "@" + FLAGGER_VERSION, "artifacts", "flagger", "crd.yaml")
    if not os.path.exists(path):
        sh("go", "mod", "download", "%s@%s" % (FLAGGER_MODULE, FLAGGER_VERSION), env=env)
    return path


def check_server_version():
    """Flagger refuses an API server whose gitVersion is not semver (a kube-apiserver built without -ldflags)."""
    out = json.loads(sh("kubectl", "version", "-o", "json").stdout)
    version = (out.get("serverVersion") or {}).get("gitVersion", "")
    parts = version.lstrip("v").split("-")[0].split(".")
    if not version.startswith("v") or len(parts) != 3 or not all(p.isdigit() for p in parts) or version.startswith("v0."):
        raise SystemExit("the API server reports gitVersion %r; Flagger needs a semver one (build kube-apiserver with "
                         "-ldflags -X k8s.io/component-base/version.gitVersion=vX.Y.Z, see tools/testbed)" % version)
    return version


class FlaggerProcess(object):
    """Flagger out of cluster, watching one namespace, as its own ServiceAccount."""

    def __init__(self, binary, kubeconfig, namespace, prometheus_url, workdir):
        self.log_path = os.path.join(workdir, "flagger.log")
        self._log = open(self.log_path, "w")
        cmd = [binary, "-kubeconfig", kubeconfig, "-mesh-provider=istio", "-metrics-server=" + prometheus_url,
               "-namespace", namespace, "-port", str(free_port()), "-log-level", "info"]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, lines=30):
        self._log.flush()
        with open(self.log_path) as fh:
            return "".join(fh.readlines()[-lines:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


# ---------------------------------------------------------------- memory

def _proc_status_kb(pid, field):
    """A size field of /proc/<pid>/status (VmRSS, VmHWM) in kB; 0 once the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(root):
    """The pids of root and of every process below it, now."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


class PeakMemory(object):
    """The peak memory of a side's controller during a run: the process's own high-water mark
    (VmHWM) and the resident size of its whole process tree (Ansible's forked workers and the
    modules they start), sampled every 0.2 s."""

    def __init__(self, pid):
        self.pid, self.hwm_kb, self.tree_kb = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.hwm_kb = max(self.hwm_kb, _proc_status_kb(self.pid, "VmHWM"))
            self.tree_kb = max(self.tree_kb, sum(_proc_status_kb(p, "VmRSS") for p in _descendants(self.pid)))
            self._stop.wait(0.2)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return {"controller_mb": round(self.hwm_kb / 1024.0, 1), "tree_mb": round(self.tree_kb / 1024.0, 1)}


# ---------------------------------------------------------------- witnesses

class ObjectWatch(object):
    """Every version of one custom resource kind in a namespace, with the time this process saw it."""

    def __init__(self, api_client, group, version, namespace, plural):
        from kubernetes import client

        self.args = (group, version, namespace, plural)
        self.api = client.CustomObjectsApi(api_client)
        self.versions = []
        self.errors = []
        self._lock = threading.Lock()
        listed = self.api.list_namespaced_custom_object(*self.args)
        self._rv = listed["metadata"]["resourceVersion"]
        now = time.time()
        for item in listed["items"]:
            self.versions.append((now, item))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        from kubernetes import watch

        while not self._stop.is_set():
            w = watch.Watch()
            try:
                for event in w.stream(self.api.list_namespaced_custom_object, *self.args, resource_version=self._rv,
                                      timeout_seconds=2, allow_watch_bookmarks=False):
                    obj = event["object"]
                    self._rv = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        with self._lock:
                            self.versions.append((time.time(), obj))
                    if self._stop.is_set():
                        break
            except Exception as err:  # pylint: disable=broad-except
                self.errors.append(repr(err))
                time.sleep(0.2)
            finally:
                w.stop()

    def since(self, start, name=APP):
        with self._lock:
            return [(t, o) for t, o in self.versions if t >= start and o["metadata"]["name"] == name]

    def wait(self, start, predicate, timeout, what, alive=None):
        """(time, object) of the first version seen after `start` for which predicate(object) holds."""
        deadline = time.time() + timeout
        ended = None
        while time.time() < deadline:
            for t, obj in self.since(start):
                if predicate(obj):
                    return t, obj
            if alive is not None and not alive():
                # The watch may deliver the last write a moment after the process ended.
                ended = ended or time.time()
                if time.time() - ended > 3:
                    raise RuntimeError("the process ended before %s" % what)
            time.sleep(0.1)
        raise RuntimeError("%s not seen within %ss" % (what, timeout))

    def stop(self):
        self._stop.set()
        self._thread.join(10)


class Load(object):
    """hey through the simulator's ingress with the release's Host header, until stopped."""

    def __init__(self, ingress_url, host):
        self.proc = subprocess.Popen(hey_command(ingress_url + "/", host, "30m", LOAD_QPS, LOAD_CONCURRENCY),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def api_requests(audit, mark, user, start, end):
    """{"reads": n, "writes": n, "by": {"verb resource": n}} of one user's requests completed in [start, end]."""
    out = {"reads": 0, "writes": 0, "by": {}}
    for ev in audit.timed_events(mark, user=user):
        if ev.verb == "watch" or ev.time is None or not start <= ev.time <= end:
            continue
        out["writes" if ev.verb in WRITE_VERBS else "reads"] += 1
        key = "%s %s%s" % (ev.verb, ev.resource, "/" + ev.subresource if ev.subresource else "")
        out["by"][key] = out["by"].get(key, 0) + 1
    return out


# ---------------------------------------------------------------- the two sides

def rollback_requests(audit, mark, user, verdict, stable_seen):
    """api_requests from the failing verdict up to the write that put the VirtualService at 100 % stable.

    The watch sees that version a little after the API server stored it, and a write that follows at
    once (our record's phase, Flagger's status) can complete in between: the window ends at the last
    VirtualService write completed before the watch saw the stable version, the one that made it."""
    end = stable_seen
    vs_writes = [ev.time for ev in audit.timed_events(mark, user=user)
                 if ev.verb in WRITE_VERBS and ev.resource == "virtualservices" and ev.time is not None
                 and verdict <= ev.time <= stable_seen]
    if vs_writes:
        end = max(vs_writes)
    return api_requests(audit, mark, user, verdict, end)


def flagger_objects(namespace, plan):
    step_weight, max_weight, interval = plan
    labels = {"app": APP}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": APP, "namespace": namespace, "labels": dict(labels)},
         "spec": {"replicas": 1, "selector": {"matchLabels": dict(labels)},
                  "template": {"metadata": {"labels": dict(labels)},
                               "spec": {"containers": [{"name": APP, "image": "ghcr.io/stefanprodan/podinfo:6.7.0",
                                                        "ports": [{"name": "http", "containerPort": 9898}]}]}}}},
        {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
         "metadata": {"name": "public-gateway", "namespace": namespace},
         "spec": {"selector": {"istio": "ingressgateway"},
                  "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"},
                               "hosts": [host_of(namespace)]}]}},
        {"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
         "metadata": {"name": APP, "namespace": namespace},
         "spec": {
             "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP},
             "progressDeadlineSeconds": 120,
             "service": {"port": 9898, "targetPort": 9898, "gateways": ["public-gateway"],
                         "hosts": [host_of(namespace)]},
             "analysis": {
                 "interval": "%ds" % interval, "threshold": THRESHOLD,
                 "stepWeight": step_weight, "maxWeight": max_weight,
                 "metrics": [
                     {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": METRIC_WINDOW},
                     {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": METRIC_WINDOW},
                 ]}}},
    ]


def canary_weight(vs, primary_host="%s-primary" % APP):
    """The share Flagger's VirtualService gives the canary host (0 when all goes to the primary)."""
    for http in (vs.get("spec") or {}).get("http") or []:
        entries = http.get("route") or []
        if len(entries) == 1:
            return 0 if entries[0]["destination"]["host"] == primary_host else 100
        return sum(e.get("weight", 0) for e in entries if e["destination"]["host"] != primary_host)
    return None


def use_testbed_env():
    """Fill what the environment lacks from the running test bed's exports (its env.sh), PATH first."""
    state = os.environ.get("ROLLOUTS_TESTBED_STATE",
                           os.path.join(os.path.expanduser("~/.cache/rollouts-istio-testbed"), "run"))
    path = os.path.join(state, "env.sh")
    if not os.path.exists(path):
        return
    with open(path) as fh:
        for line in fh:
            if not line.startswith("export "):
                continue
            key, dummy, value = line[len("export "):].strip().partition("=")
            value = shlex.split(value)[0] if value else ""
            if key == "PATH":
                extra = [p for p in value.split(":") if p and p != "$PATH"]
                os.environ["PATH"] = ":".join(extra + [os.environ.get("PATH", "")])
            else:
                os.environ.setdefault(key, value)


class Bench(object):
    def __init__(self, args):
        self.args = args
        self.plan = PLANS["smoke" if args.smoke else "full"]
        use_testbed_env()
        self.kubeconfig = os.environ.get("KUBECONFIG")
        self.audit_path = os.environ.get("ROLLOUTS_TESTBED_AUDIT_LOG")
        self.prometheus_url = os.environ.get("PROMETHEUS_URL") or os.environ.get("ROLLOUTS_TESTBED_PROMETHEUS_URL")
        self.targets = os.environ.get("ROLLOUTS_TESTBED_PROMETHEUS_TARGETS")
        missing = [n for n, v in (("KUBECONFIG", self.kubeconfig), ("ROLLOUTS_TESTBED_AUDIT_LOG", self.audit_path),
                                  ("ROLLOUTS_TESTBED_PROMETHEUS_URL", self.prometheus_url),
                                  ("ROLLOUTS_TESTBED_PROMETHEUS_TARGETS", self.targets)) if not v]
        if missing:
            raise SystemExit("not set: %s (run: eval \"$(tools/testbed/testbed env)\")" % ", ".join(missing))
        if not os.path.exists(HEY):
            raise SystemExit("hey is not installed (tools/testbed/testbed deps installs it)")
        self.audit = TimedAuditLog(self.audit_path)
        tag = uuid.uuid4().hex[:6]
        self.ns_flagger, self.ns_ours = "bench-flagger-" + tag, "bench-ours-" + tag
        self.tmp = tempfile.mkdtemp(prefix="bench-rvf-")
        self.flagger = self.sim = None
        self.watches = []
        self.results = {"flagger": [], "ours": [], "flagger_failing": [], "ours_failing": []}
        self.problems = []

    # ------------------------------------------------------------ setup

    def setup(self):
        from kubernetes import config as kconfig
        from kubernetes.dynamic import DynamicClient

        binary = flagger_binary(os.path.join(CACHE, "flagger-" + FLAGGER_VERSION))
        say("API server %s; Flagger %s at %s" % (check_server_version(), FLAGGER_VERSION, binary))
        sh("kubectl", "apply", "--server-side", "--force-conflicts", "-f", flagger_crds())
        sh("kubectl", "wait", "--for", "condition=established", "--timeout", "60s", "crd/canaries.flagger.app")
        self.api_client = kconfig.new_client_from_config(config_file=self.kubeconfig)
        self.k8s = DynamicClient(self.api_client)
        cluster = {"kubeconfig": self.kubeconfig}
        for ns in (self.ns_flagger, self.ns_ours):
            sh("kubectl", "create", "namespace", ns)
        self.flagger_kc, self.flagger_user = serviceaccount_kubeconfig(cluster, self.ns_flagger, "flagger",
                                                                       os.path.join(self.tmp, "flagger.kubeconfig"))
        self.ours_kc, self.ours_user = serviceaccount_kubeconfig(cluster, self.ns_ours, "rollout",
                                                                 os.path.join(self.tmp, "ours.kubeconfig"))
        self.sim = MeshSimulator(self.kubeconfig, [self.ns_flagger, self.ns_ours], self.targets).wait_ready()
        say("mesh simulator (standing in for Envoy) at %s, metrics %s" % (self.sim.ingress_url, self.sim.metrics_url))
        apply_objects(self.k8s, release_objects(self.ns_ours, foreign_route=False))
        apply_objects(self.k8s, flagger_objects(self.ns_flagger, self.plan))
        self.canaries = ObjectWatch(self.api_client, "flagger.app", "v1beta1", self.ns_flagger, "canaries")
        self.flagger_vs = ObjectWatch(self.api_client, "networking.istio.io", "v1", self.ns_flagger,
                                      "virtualservices")
        self.ours_vs = ObjectWatch(self.api_client, "networking.istio.io", "v1", self.ns_ours, "virtualservices")
        self.watches = [self.canaries, self.flagger_vs, self.ours_vs]
        self.flagger = FlaggerProcess(binary, self.flagger_kc, self.ns_flagger, self.prometheus_url, self.tmp)
        started = time.time()
        try:
            self.canaries.wait(0, lambda o: (o.get("status") or {}).get("phase") == "Initialized", 180,
                               "Flagger's canary Initialized", alive=self.flagger.alive)
        except RuntimeError as err:
            raise SystemExit("Flagger did not initialise the canary: %s\n%s" % (err, self.flagger.log_tail()))
        say("Flagger initialised its canary in %.1f s (podinfo-primary, services, DestinationRules, VirtualService)"
            % (time.time() - started))
        self.sim.wait_synced(self.k8s, self.ns_ours)
        self.sim.wait_scraped(self.prometheus_url)

    def cleanup(self):
        for w in self.watches:
            w.stop()
        if self.flagger is not None:
            self.flagger.stop()
        if self.sim is not None:
            self.sim.stop()
        if self.args.keep:
            say("kept: namespaces %s %s, Flagger's log %s" % (self.ns_flagger, self.ns_ours,
                                                              os.path.join(self.tmp, "flagger.log")))
            return
        for ns, name in ((self.ns_flagger, "flagger"), (self.ns_ours, "rollout")):
            delete_clusterrolebinding(ns, name)
            sh("kubectl", "delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)

    # ------------------------------------------------------------ one run of each

    def bake(self):
        step_weight, max_weight, interval = self.plan
        return (max_weight // step_weight) * interval

    def run_flagger(self, index, failing):
        patch = {"metadata": {"annotations": {ERROR_RATE_ANNOTATION: str(ERROR_RATE) if failing else None}},
                 "spec": {"template": {"metadata": {"annotations": {
                     "bench.rollouts.istio/revision": "%d-%s" % (index, "failing" if failing else "healthy")}}}}}
        want = "Failed" if failing else "Succeeded"
        load = Load(self.sim.ingress_url, host_of(self.ns_flagger))
        memory = PeakMemory(self.flagger.proc.pid)
        try:
            time.sleep(2)
            mark = self.audit.mark()
            t0 = time.time()
            self.k8s.resources.get(api_version="apps/v1", kind="Deployment").patch(
                body=patch, name=APP, namespace=self.ns_flagger, content_type="application/merge-patch+json")
            started, dummy = self.canaries.wait(t0, lambda o: (o.get("status") or {}).get("phase") == "Progressing",
                                                120, "Flagger's canary Progressing", alive=self.flagger.alive)
            end, obj = self.canaries.wait(started, lambda o: (o.get("status") or {}).get("phase") in
                                          ("Succeeded", "Failed"), 600, "Flagger's canary %s" % want,
                                          alive=self.flagger.alive)
        finally:
            load.stop()
            peak = memory.stop()
        phase = obj["status"]["phase"]
        # Flagger's high-water mark is since it started (it runs for the whole bench): its peak so far.
        out = {"wall_s": end - t0, "phase": phase, "memory": peak,
               "requests": api_requests(self.audit, mark, self.flagger_user, t0, end)}
        if failing:
            # The check that brings failedChecks to the threshold is the failing verdict; Flagger writes it
            # to the canary's status at once, and rolls back at its next tick.
            verdict, dummy = self.canaries.wait(started, lambda o: (o.get("status") or {}).get("phase") == "Progressing"
                                                and (o.get("status") or {}).get("failedChecks", 0) >= THRESHOLD, 1,
                                                "failedChecks >= %d" % THRESHOLD)
            stable, dummy = self.flagger_vs.wait(verdict, lambda o: canary_weight(o) == 0, 5,
                                                 "the primary at 100 % after the verdict")
            out.update(verdict_to_stable_s=stable - verdict,
                       rollback_writes=rollback_requests(self.audit, mark, self.flagger_user, verdict, stable))
        return out

    def run_ours(self, index, failing):
        # A fresh release each run: the objects replaced as deploy_versions leaves them (no record).
        objects = release_objects(self.ns_ours, foreign_route=False)
        if failing:
            cand = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == APP + "-v2")
            cand["metadata"]["annotations"][ERROR_RATE_ANNOTATION] = str(ERROR_RATE)
        apply_objects(self.k8s, objects)
        self.sim.wait_synced(self.k8s, self.ns_ours)
        step_weight, max_weight, interval = self.plan
        plan = release_vars(self.ns_ours, self.prometheus_url, None, step_weight=step_weight, max_weight=max_weight,
                            interval="%ds" % interval, iterations=1, threshold=THRESHOLD,
                            metrics=metrics(METRIC_WINDOW), finalise_delay="0s")
        plan["release_kubeconfig"] = self.ours_kc
        plan["release_report_dir"] = os.path.join(self.tmp, "reports-%d-%s" % (index, failing))
        want = "Failed" if failing else "Succeeded"
        load = Load(self.sim.ingress_url, host_of(self.ns_ours))
        try:
            time.sleep(2)
            mark = self.audit.mark()
            run = start_playbook("canary.yml", plan, timeout=900)
            memory = PeakMemory(run.proc.pid)
            t0 = run.started
            end, obj = self.ours_vs.wait(t0, lambda o: (o["metadata"].get("labels") or {}).get("rollouts.istio/phase")
                                         in ("Succeeded", "Failed"), 600, "the record's phase %s" % want,
                                         alive=lambda: not run.done())
            result = run.result()
            peak = memory.stop()
        finally:
            load.stop()
        phase = obj["metadata"]["labels"]["rollouts.istio/phase"]
        out = {"wall_s": end - t0, "playbook_s": result.wall, "phase": phase, "rc": result.rc, "memory": peak,
               "requests": api_requests(self.audit, mark, self.ours_user, t0, end)}
        out["slowest_tasks"] = slowest_tasks(result.data)
        if phase != want:
            out["failure"] = result.failure()
        if failing and phase == "Failed":
            record = read_record(self.ns_ours)
            verdicts = [d for d in record.get("decisions") or [] if d.get("verdict") == "fail" and d.get("verdict_time")]
            if verdicts:
                verdict = parse_time(verdicts[-1]["verdict_time"])
                stable, dummy = self.ours_vs.wait(verdict, lambda o: weights_of(route_named(o, "primary")).get("v2", 0)
                                                  == 0, 5, "100 % on v1 after the verdict")
                out.update(verdict_to_stable_s=stable - verdict,
                           rollback_writes=rollback_requests(self.audit, mark, self.ours_user, verdict, stable))
        return out

    def run(self):
        cases = (("flagger", self.run_flagger, False), ("ours", self.run_ours, False),
                 ("flagger_failing", self.run_flagger, True), ("ours_failing", self.run_ours, True))
        for index in range(self.args.runs):
            for key, fn, failing in cases:
                try:
                    res = fn(index, failing)
                except (RuntimeError, AssertionError) as err:
                    res = {"error": str(err)}
                    if key.startswith("flagger"):
                        res["flagger_log"] = self.flagger.log_tail(15)
                    self.problems.append("%s run %d: %s" % (key, index + 1, err))
                want = "Failed" if failing else "Succeeded"
                if res.get("phase") not in (None, want):
                    # Left out of the medians: a healthy run that failed measures something else.
                    res["error"] = "ended %s, not %s: %s" % (res["phase"], want, res.get("failure") or "")
                    self.problems.append("%s run %d: %s" % (key, index + 1, res["error"]))
                self.results[key].append(res)
                say("run %d %-16s %s" % (index + 1, key, summary(res, self.bake())))

    # ------------------------------------------------------------ the table

    def report(self):
        bake = self.bake()
        step_weight, max_weight, interval = self.plan
        say("")
        say("The same canary both ways: step weight %d to %d, a check every %d s, threshold %d, request-success-rate "
            "min 99 %% and request-duration max 500 ms over %s; bake = %d steps x %d s = %d s; medians of %d runs"
            % (step_weight, max_weight, interval, THRESHOLD, METRIC_WINDOW, max_weight // step_weight, interval, bake,
               self.args.runs))
        rows = []

        def med(key, field, sub=None):
            vals = []
            for r in self.results[key]:
                v = r.get(field)
                if sub is not None and isinstance(v, dict):
                    v = v.get(sub)
                if isinstance(v, (int, float)) and "error" not in r:
                    vals.append(v)
            return statistics.median(vals) if vals else None

        def row(label, flagger, ours, target=""):
            ratio = ours / flagger if flagger and ours is not None else None
            rows.append((label, flagger, ours, ratio, target))

        fw, ow = med("flagger", "wall_s"), med("ours", "wall_s")
        row("wall, trigger -> Succeeded (s)", fw, ow)
        row("configured bake (s)", bake, bake)
        fo = fw - bake if fw is not None else None
        oo = ow - bake if ow is not None else None
        verdict = ""
        if fo is not None and oo is not None:
            verdict = "<= 0.1 x Flagger's: %s" % ("met" if oo <= 0.1 * fo else "MISSED (%.2f x)" % (oo / fo))
        row("overhead = wall - bake (s)", fo, oo, verdict)
        row("API reads in the window", med("flagger", "requests", "reads"), med("ours", "requests", "reads"))
        row("API writes in the window", med("flagger", "requests", "writes"), med("ours", "requests", "writes"))
        row("failing: wall to Failed (s)", med("flagger_failing", "wall_s"), med("ours_failing", "wall_s"))
        fv, ov = med("flagger_failing", "verdict_to_stable_s"), med("ours_failing", "verdict_to_stable_s")
        row("failing: verdict -> 100 % stable (s)", fv, ov,
            "< 2 s: %s" % ("met" if ov < 2 else "MISSED") if ov is not None else "")
        frw, orw = med("flagger_failing", "rollback_writes", "writes"), med("ours_failing", "rollback_writes", "writes")
        row("failing: writes verdict -> stable", frw, orw,
            "one write: %s" % ("met" if orw == 1 else "MISSED") if orw is not None else "")
        row("peak memory, controller process (MB)", med("flagger", "memory", "controller_mb"),
            med("ours", "memory", "controller_mb"))
        row("peak memory, process tree (MB)", med("flagger", "memory", "tree_mb"), med("ours", "memory", "tree_mb"))
        say("%-38s %10s %10s %12s  %s" % ("", "Flagger", "ours", "ratio o/F", "target"))
        for label, f, o, r, t in rows:
            say("%-38s %10s %10s %12s  %s" % (label, fmt(f), fmt(o), fmt(r, 2), t))
        if self.problems:
            say("")
            say("problems:")
            for p in self.problems:
                say("  " + p)
        if self.args.json:
            with open(self.args.json, "w") as fh:
                json.dump({"plan": {"step_weight": step_weight, "max_weight": max_weight, "interval_s": interval,
                                    "threshold": THRESHOLD, "metric_window": METRIC_WINDOW, "bake_s": bake},
                           "table": [dict(zip(("row", "flagger", "ours", "ratio", "target"), r)) for r in rows],
                           "runs": self.results, "problems": self.problems}, fh, indent=2)
            say("runs and table: %s" % self.args.json)


def slowest_tasks(data, count=10):
    """[(task name, seconds summed over its runs, runs)] of a playbook's JSON output, slowest first."""
    spent = {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            dur = task["task"].get("duration") or {}
            if not dur.get("start") or not dur.get("end"):
                continue
            name = task["task"]["name"]
            total, runs = spent.get(name, (0.0, 0))
            spent[name] = (total + parse_time(dur["end"]) - parse_time(dur["start"]), runs + 1)
    ranked = sorted(spent.items(), key=lambda kv: -kv[1][0])[:count]
    return [(name, round(total, 2), runs) for name, (total, runs) in ranked]


def fmt(value, places=1):
    if value is None:
        return "-"
    if isinstance(value, int) or float(value).is_integer():
        return "%d" % value
    return "%.*f" % (places, value)


def summary(res, bake):
    if "error" in res:
        return "ERROR %s" % res["error"]
    text = "%s wall %.1f s (overhead %.1f s), %d reads %d writes" % (
        res["phase"], res["wall_s"], res["wall_s"] - bake, res["requests"]["reads"], res["requests"]["writes"])
    if "playbook_s" in res:
        text += ", ansible-playbook %.1f s" % res["playbook_s"]
    if res.get("memory"):
        text += ", peak %(controller_mb).0f MB (tree %(tree_mb).0f MB)" % res["memory"]
    if "verdict_to_stable_s" in res:
        text += "; verdict -> 100 %% stable %.2f s in %d writes (%s)" % (
            res["verdict_to_stable_s"], res["rollback_writes"]["writes"],
            ", ".join("%s x%d" % kv for kv in sorted(res["rollback_writes"]["by"].items())
                      if kv[0].split()[0] in WRITE_VERBS))
    if res.get("failure"):
        text += "; %s" % res["failure"]
    return text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    p.add_argument("--runs", type=int, default=3, help="runs of each case (default 3); medians are reported")
    p.add_argument("--smoke", action="store_true", help="1 run of each case with a 2-step plan (50, 100 %%), 10 s each")
    p.add_argument("--json", default=os.path.join(tempfile.gettempdir(), "rollout_vs_flagger.json"),
                   help="where to write every run and the table (default: %(default)s)")
    p.add_argument("--keep", action="store_true", help="leave the namespaces (and Flagger's log) for a look afterwards")
    args = p.parse_args(argv)
    if args.smoke:
        args.runs = 1
    if args.runs < 1:
        p.error("--runs: at least 1")
    bench = Bench(args)
    started = time.time()
    try:
        bench.setup()
        bench.run()
    finally:
        bench.cleanup()
    bench.report()
    say("bench wall time %.0f s" % (time.time() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
