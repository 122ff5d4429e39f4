"""End-to-end releases on the test bed: the tutorial laid out for a rollout, the release playbooks run
as a user runs them, the rollout record read back, and what the API server saw, with times.

The release tests (tests/integration/release/) go through ansible-playbook and the shipped playbooks,
so they see what a user sees. Around a run they keep two witnesses that do not depend on the code
under test: the API server's audit log (which requests, by whom, when) and a watch on the
namespace's VirtualServices (every version the API server stored, in order), so "100 % stable within
2 s of the verdict" and "the weights were valid at every point" are measured, not assumed.
"""

import base64
import calendar
import copy
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import yaml

from support.audit import AuditEvent, AuditLog
from support.mesh import ISTIO_API, TUTORIAL_APP, apply_objects, tutorial_objects

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = os.path.join(REPO, "playbooks")
# The test-only callback that holds a run before a task until a file exists (hold_at; never shipped).
HOLD_CALLBACKS = os.path.join(REPO, "tests", "support", "callback_plugins")
INVENTORY = os.path.join(REPO, "inventories", "testbed")
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMINGS = os.environ.get("ROLLOUTS_RELEASE_TIMINGS", os.path.join(_REPO, "tests", "output", "release-timings.json"))

RECORD = "rollouts.istio/record"
PHASE = "rollouts.istio/phase"
ACTIVE_PHASES = ("Initialized", "Progressing", "WaitingApproval", "Promoting", "Finalising")

# A route somebody else owns on the same VirtualService: its own match, a retry policy, a header
# rewrite. A rollout must leave it exactly as it is, key order included.
FOREIGN_ROUTE = {
    "name": "ops-debug",
    "match": [{"headers": {"x-ops-debug": {"exact": "1"}}}],
    "route": [{"destination": {"host": TUTORIAL_APP, "subset": "v1"}}],
    "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,reset"},
    "headers": {"response": {"set": {"x-ops": "debug"}}},
}


# ---------------------------------------------------------------- the objects

def host_of(namespace):
    """The release's public host: one per namespace. Tests run side by side on one test bed, and
    istioctl analyze (a gate of every step) rightly fails two VirtualServices or Gateways that claim
    the same host."""
    return "%s.example.com" % namespace


def release_objects(namespace, foreign_route=True, stable="v1"):
    """The tutorial as deploy_versions leaves it before a release: both versions deployed, the
    DestinationRule with a subset per version, a Gateway for the release's host and a VirtualService
    whose `primary` route sends 100 % to the stable subset alone; with the foreign route above it."""
    objects = tutorial_objects(namespace, host=host_of(namespace))
    gateway = next(o for o in objects if o["kind"] == "Gateway")
    gateway["spec"]["servers"][0]["hosts"] = [host_of(namespace)]
    vs = objects[-1]
    vs["spec"]["http"][-1]["route"] = [{"destination": {"host": TUTORIAL_APP, "subset": stable}, "weight": 100}]
    if foreign_route:
        vs["spec"]["http"].insert(0, copy.deepcopy(FOREIGN_ROUTE))
    return objects


def create_release(k8s, namespace, simulator=None, **kwargs):
    """Create the release's objects; wait until the simulator (if given) has them all."""
    created = apply_objects(k8s, release_objects(namespace, **kwargs))
    if simulator is not None:
        simulator.wait_synced(k8s, namespace)
    return created


def raw_virtual_service(namespace, name=TUTORIAL_APP):
    """The VirtualService exactly as the API server returns it (kubectl's JSON), or None."""
    proc = subprocess.run(["kubectl", "-n", namespace, "get", "virtualservices.networking.istio.io", name, "-o",
                           "json"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        if "NotFound" in proc.stderr:
            return None
        raise AssertionError(proc.stderr)
    return json.loads(proc.stdout)


def route_named(vs, name):
    """The HTTP route of that name in a VirtualService (dict), or None."""
    for route in (vs or {}).get("spec", {}).get("http") or []:
        if route.get("name") == name:
            return route
    return None


def weights_of(route):
    """{subset: weight} of a route's destinations, as Istio reads them (a lone destination is 100)."""
    entries = (route or {}).get("route") or []
    if len(entries) == 1:
        return {entries[0]["destination"].get("subset"): 100}
    return {e["destination"].get("subset"): e.get("weight", 0) for e in entries}


def primary_weights(namespace, name=TUTORIAL_APP, route="primary"):
    return weights_of(route_named(raw_virtual_service(namespace, name), route))


def deployment(k8s, namespace, name):
    return k8s.resources.get(api_version="apps/v1", kind="Deployment").get(name=name, namespace=namespace).to_dict()


# ---------------------------------------------------------------- the rollout record

def read_record(namespace, vs=TUTORIAL_APP):
    """The rollout record on the VirtualService: the JSON of its record annotation ({} when none),
    with the readable annotations and the phase label beside it under `_annotations` / `_label`."""
    obj = raw_virtual_service(namespace, vs) or {}
    meta = obj.get("metadata", {})
    annotations = meta.get("annotations") or {}
    record = json.loads(annotations[RECORD]) if RECORD in annotations else {}
    record["_annotations"] = {k: v for k, v in annotations.items() if k.startswith("rollouts.istio/") and k != RECORD}
    record["_label"] = (meta.get("labels") or {}).get(PHASE)
    return record


def wait_record(namespace, predicate, timeout=120, step=0.2, what="the rollout record", run=None):
    """Poll the record until predicate(record) holds; fails naming what it waited for (and the
    playbook's output, when the run in the background ended first)."""
    deadline = time.time() + timeout
    record = {}
    while time.time() < deadline:
        record = read_record(namespace)
        if predicate(record):
            return record
        if run is not None and run.done():
            record = read_record(namespace)
            if predicate(record):
                return record
            raise AssertionError("the playbook ended (rc=%s) before %s: %s\n%s"
                                 % (run.proc.returncode, what, _short(record), run.result().summary()))
        time.sleep(step)
    raise AssertionError("%s not reached within %ss: %s" % (what, timeout, _short(record)))


def _short(record):
    return json.dumps({k: record.get(k) for k in ("phase", "step", "weight", "run", "message")})


def parse_time(text):
    """Seconds since the epoch of an RFC 3339 UTC time (with or without fractions)."""
    text = text.rstrip("Z").replace("+00:00", "")
    whole, dot, frac = text.partition(".")
    base = calendar.timegm(datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").timetuple())
    return base + (float("0." + frac) if frac else 0.0)


# ---------------------------------------------------------------- playbooks

class PlaybookRun(object):
    """One ansible-playbook run, in the background until result() is asked for."""

    def __init__(self, cmd, env, timeout):
        self.cmd = cmd
        self.timeout = timeout
        self._out = tempfile.TemporaryFile(mode="w+")
        self._err = tempfile.TemporaryFile(mode="w+")
        self.started = time.time()
        # A session of its own: a test kills the whole run (ansible-playbook and its workers) at once.
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=self._err, env=env, cwd=REPO,
                                     start_new_session=True)
        self.ended = None
        self._result = None

    def done(self):
        return self.proc.poll() is not None

    def kill(self):
        """SIGKILL the run's process group, as an operator's kill -9 or a lost AWX node would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.ended = time.time()

    def result(self):
        if self._result is None:
            try:
                self.proc.wait(max(1, self.timeout - (time.time() - self.started)))
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
                raise AssertionError("%s did not end within %ss" % (" ".join(self.cmd[:2]), self.timeout))
            self.ended = self.ended or time.time()
            self._out.seek(0)
            self._err.seek(0)
            self._result = PlaybookResult(self.proc.returncode, self._out.read(), self._err.read(),
                                          self.ended - self.started)
            keep = os.environ.get("ROLLOUTS_RELEASE_KEEP")
            if keep:  # a directory to keep each run's JSON output in, to read a failure afterwards
                os.makedirs(keep, exist_ok=True)
                name = "%s-%d.json" % (os.path.basename(self.cmd[3]), int(self.started * 1000))
                with open(os.path.join(keep, name), "w") as fh:
                    fh.write(self._result.stdout)
        return self._result


class PlaybookResult(object):
    """What a run printed through the ansible.posix.json callback, read as tests need it."""

    def __init__(self, rc, stdout, stderr, wall):
        self.rc, self.stdout, self.stderr, self.wall = rc, stdout, stderr, wall
        try:
            self.data = json.loads(stdout[stdout.index("{"):])
        except ValueError:
            self.data = {}
        self.tasks = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                for host, res in (task.get("hosts") or {}).items():
                    res = dict(res)
                    res["_task"] = task["task"]["name"]
                    self.tasks.append(res)

    @property
    def stats(self):
        return next(iter(self.data.get("stats", {}).values()), {})

    @property
    def changed(self):
        return self.stats.get("changed", 0)

    def failed_tasks(self):
        return [t for t in self.tasks if t.get("failed") and not t.get("ignore_errors")]

    def failure(self):
        """The message that ended the run: the last failed task's msg (None when the run passed)."""
        if self.rc == 0:
            return None
        failed = [t for t in self.tasks if t.get("failed")]
        if not failed:
            return (self.stderr or self.stdout)[-3000:]
        last = failed[-1]
        items = [r for r in last.get("results") or [] if r.get("failed")]
        return (items[-1] if items else last).get("msg")

    def results_of(self, action):
        """The results of every task that ran `action` (e.g. rollouts.istio.rollout), in order."""
        return [t for t in self.tasks if t.get("action") == action or t.get("_action") == action]

    def text(self):
        return self.stdout

    def summary(self):
        lines = ["rc=%s wall=%.1fs stats=%s" % (self.rc, self.wall, json.dumps(self.stats))]
        for t in self.tasks:
            flag = "FAILED " if t.get("failed") else ("changed " if t.get("changed") else "")
            lines.append("  %s%s%s" % (flag, t["_task"], (": " + str(t.get("msg"))[:600]) if t.get("failed") else ""))
        if not self.tasks:
            lines.append(self.stdout[-3000:])
            lines.append(self.stderr[-3000:])
        return "\n".join(lines)

    def __repr__(self):
        return "<PlaybookResult %s>" % self.summary()


def playbook_env(extra=None):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    })
    env.update(extra or {})
    return env


def hold_env(task, gate, env=None):
    """The environment that holds a run before its first task named `task` until the file `gate` exists
    (`gate`.reached appears when the run is held there)."""
    return dict(env or {}, ANSIBLE_CALLBACK_PLUGINS=HOLD_CALLBACKS, ANSIBLE_CALLBACKS_ENABLED="hold_at",
                ROLLOUTS_HOLD_TASK=task, ROLLOUTS_HOLD_FILE=str(gate))


def start_playbook(name, extra_vars=None, check=False, diff=False, env=None, timeout=300, args=()):
    """Start playbooks/<name> against the test bed inventory in the background; returns a PlaybookRun."""
    inventory = INVENTORY if os.path.exists(INVENTORY) else "localhost,"
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
           os.path.join(PLAYBOOKS, name)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += list(args)
    return PlaybookRun(cmd, playbook_env(env), timeout)


def run_playbook(name, extra_vars=None, **kwargs):
    """Run playbooks/<name> to its end; returns its PlaybookResult (a failed run does not raise)."""
    return start_playbook(name, extra_vars, **kwargs).result()


# ---------------------------------------------------------------- the release's variables

def metrics(window="10s"):
    """The two built-in checks over a short window (Prometheus scrapes the test bed every 2 s)."""
    return [{"name": "request-success-rate", "min": 99, "interval": window},
            {"name": "request-duration", "max": 500, "interval": window}]


def release_vars(namespace, prometheus_url, simulator=None, qps=10, concurrency=2, load_headers=None, **plan):
    """The variables of a release of podinfo v1 -> v2 in `namespace`, with short waits.

    The playbooks' own variables (release_*, playbooks/vars/release.yml) name the release, the
    cluster, Prometheus and the ingress (the simulator's, so the role's load hook sends hey there
    with the gateway's Host header; no simulator: no load). `plan` sets shift_traffic_* variables by
    their name without the prefix (steps=[10, 50], iterations=3 ...); a value of None drops one.
    """
    values = {
        "release_app": TUTORIAL_APP, "release_namespace": namespace, "release_stable": "v1",
        "release_candidate": "v2", "release_prometheus_url": prometheus_url,
        "release_kubeconfig": os.environ.get("KUBECONFIG", ""),
        "release_hosts": [host_of(namespace), TUTORIAL_APP],
        "release_ingress_url": simulator.ingress_url + "/" if simulator is not None else "",
        "release_load_qps": qps, "release_load_concurrency": concurrency,
        # Each test's records and reports apart (parallel tests share the app's name).
        "release_report_dir": os.path.join(tempfile.gettempdir(), "rollouts-istio-reports", namespace),
    }
    if load_headers:
        values["release_load_headers"] = dict(load_headers)
    knobs = {"interval": "2s", "iterations": 2, "threshold": 3, "metrics": metrics(), "finalise_delay": "0s"}
    knobs.update(plan)
    values.update(("shift_traffic_" + k, v) for k, v in knobs.items() if v is not None)
    return values


# ---------------------------------------------------------------- what the API server saw

class TimedEvent(AuditEvent):
    """An audit event with the time the API server completed it (epoch seconds)."""
    __slots__ = ("time", "user_agent")

    def __init__(self, raw):
        super(TimedEvent, self).__init__(raw)
        stamp = raw.get("stageTimestamp") or raw.get("requestReceivedTimestamp")
        self.time = parse_time(stamp) if stamp else None
        self.user_agent = raw.get("userAgent")


class TimedAuditLog(AuditLog):
    """The audit log, its events carrying their completion time."""

    event_class = TimedEvent

    def timed_events(self, since, **filters):
        """As events(); ``writes_only`` leaves dry runs out too (they never reach storage)."""
        if filters.get("writes_only"):
            filters["include_dry_run"] = False
        return self.events(since, **filters)

    def vs_patches(self, since, namespace, name=None):
        """Successful, stored PATCHes of VirtualServices in the namespace, oldest first."""
        events = self.timed_events(since, writes_only=True, namespace=namespace, resource="virtualservices",
                                   verb="patch")
        return [e for e in events if (name is None or e.name == name) and e.code and e.code < 300]


class VirtualServiceWatch(object):
    """Every version of the namespace's VirtualServices the API server stores while the watch runs:
    [(time seen, name, resourceVersion, object)], in order. Nothing a run writes escapes it.
    ``plural`` watches another networking.istio.io kind the same way (destinationrules)."""

    def __init__(self, cluster, namespace, plural="virtualservices"):
        from kubernetes import client, config as kconfig

        self.namespace = namespace
        self.plural = plural
        self.versions = []
        self.errors = []
        self._api = client.CustomObjectsApi(kconfig.new_client_from_config(config_file=cluster["kubeconfig"]))
        listed = self._api.list_namespaced_custom_object("networking.istio.io", "v1", namespace, plural)
        self._rv = listed["metadata"]["resourceVersion"]
        now = time.time()
        for item in listed["items"]:
            self.versions.append((now, item["metadata"]["name"], item["metadata"]["resourceVersion"], item))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        from kubernetes import watch

        while not self._stop.is_set():
            w = watch.Watch()
            try:
                for event in w.stream(self._api.list_namespaced_custom_object, "networking.istio.io", "v1",
                                      self.namespace, self.plural, resource_version=self._rv,
                                      timeout_seconds=1, allow_watch_bookmarks=False):
                    obj = event["object"]
                    self._rv = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        self.versions.append((time.time(), obj["metadata"]["name"], self._rv,
                                              None if event["type"] == "DELETED" else obj))
                    if self._stop.is_set():
                        break
            except Exception as err:  # a watch gone stale must show in the test, not vanish
                self.errors.append(repr(err))
                time.sleep(0.2)
            finally:
                w.stop()

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        assert not self.errors, "the VirtualService watch broke: %s" % self.errors
        return self.versions

    def of(self, name=TUTORIAL_APP):
        return [(t, rv, obj) for t, n, rv, obj in self.versions if n == name]


def subsets_of(k8s, namespace, name=TUTORIAL_APP):
    dr = k8s.resources.get(api_version=ISTIO_API, kind="DestinationRule").get(name=name, namespace=namespace)
    return set(s["name"] for s in dr.spec.subsets or [])


def split_problems(vs, subsets, host=TUTORIAL_APP):
    """What is wrong with the split of every weighted route of one VirtualService version: weights
    not adding up to 100, or a destination on a subset the DestinationRule does not have."""
    problems = []
    for i, route in enumerate(vs["spec"].get("http") or []):
        entries = route.get("route") or []
        label = route.get("name") or "#%d" % i
        if len(entries) > 1 and sum(e.get("weight", 0) for e in entries) != 100:
            problems.append("%s: weights %s add up to %d" % (label, weights_of(route),
                                                             sum(e.get("weight", 0) for e in entries)))
        for e in entries:
            dest = e.get("destination") or {}
            if dest.get("host") == host and dest.get("subset") not in subsets:
                problems.append("%s: subset %r is not in the DestinationRule (%s)"
                                % (label, dest.get("subset"), sorted(subsets)))
    return problems


# ---------------------------------------------------------------- another identity

def token_kubeconfig(cluster, namespace, name, token, path):
    """A kubeconfig with the cluster of the test bed's and the token alone as credential."""
    with open(cluster["kubeconfig"]) as fh:
        config = yaml.safe_load(fh)
    ctx = next(c["context"] for c in config["contexts"] if c["name"] == config.get("current-context"))
    cl = copy.deepcopy(next(c for c in config["clusters"] if c["name"] == ctx["cluster"]))
    ca = cl["cluster"].get("certificate-authority")
    if ca and not os.path.isabs(ca):
        cl["cluster"]["certificate-authority"] = os.path.join(os.path.dirname(cluster["kubeconfig"]), ca)
    own = {"apiVersion": "v1", "kind": "Config", "clusters": [cl],
           "users": [{"name": name, "user": {"token": token}}],
           "contexts": [{"name": name, "context": {"cluster": cl["name"], "user": name, "namespace": namespace}}],
           "current-context": name}
    with open(path, "w") as fh:
        yaml.safe_dump(own, fh)
    return path


def serviceaccount_kubeconfig(cluster, namespace, name, path):
    """A kubeconfig for a fresh ServiceAccount with cluster-admin rights, so its requests carry a user
    of their own in the audit log (system:serviceaccount:<ns>:<name>). Returns (path, user)."""
    def kubectl(*args):
        proc = subprocess.run(["kubectl"] + list(args), capture_output=True, text=True, check=False)
        assert proc.returncode == 0, "kubectl %s: %s" % (" ".join(args), proc.stderr)
        return proc.stdout

    user = "system:serviceaccount:%s:%s" % (namespace, name)
    kubectl("-n", namespace, "create", "serviceaccount", name)
    kubectl("create", "clusterrolebinding", "%s-%s" % (namespace, name)[:63], "--clusterrole", "cluster-admin",
            "--serviceaccount", "%s:%s" % (namespace, name))
    token = kubectl("-n", namespace, "create", "token", name).strip()
    token_kubeconfig(cluster, namespace, name, token, path)
    deadline = time.time() + 30
    while time.time() < deadline:
        proc = subprocess.run(["kubectl", "--kubeconfig", path, "auth", "can-i", "patch",
                               "virtualservices.networking.istio.io", "-n", namespace],
                              capture_output=True, text=True, check=False)
        if proc.stdout.strip() == "yes":
            break
        time.sleep(0.2)
    return path, user


def api_key_env(cluster, namespace, tmp_path):
    """K8S_AUTH_* for a fresh ServiceAccount's token, as AWX's Kubernetes credential sets them (and no
    kubeconfig to fall back on); returns (env, token, user)."""
    path, user = serviceaccount_kubeconfig(cluster, namespace, "holder", str(tmp_path / "sa-kubeconfig"))
    with open(path) as fh:
        config = yaml.safe_load(fh)
    token = config["users"][0]["user"]["token"]
    server = config["clusters"][0]["cluster"]
    env = {"K8S_AUTH_API_KEY": token, "K8S_AUTH_HOST": server["server"], "KUBECONFIG": "/nonexistent",
           "K8S_AUTH_KUBECONFIG": ""}
    if server.get("certificate-authority"):
        env["K8S_AUTH_SSL_CA_CERT"] = server["certificate-authority"]
    elif server.get("certificate-authority-data"):
        ca = tmp_path / "ca.crt"
        ca.write_bytes(base64.b64decode(server["certificate-authority-data"]))
        env["K8S_AUTH_SSL_CA_CERT"] = str(ca)
    os.unlink(path)  # the token is to be found only where the run puts it
    return env, token, user


def delete_clusterrolebinding(namespace, name):
    subprocess.run(["kubectl", "delete", "clusterrolebinding", ("%s-%s" % (namespace, name))[:63],
                    "--ignore-not-found"], capture_output=True, text=True, check=False)


# ---------------------------------------------------------------- timings for the lead

def save_timing(key, **values):
    """Merge one measurement into the timings file (JSON) and print it (pytest -s shows it)."""
    try:
        with open(TIMINGS) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        data = {}
    data[key] = dict(values, measured_at=datetime.datetime.now(datetime.timezone.utc).isoformat())
    os.makedirs(os.path.dirname(TIMINGS), exist_ok=True)
    with open(TIMINGS, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    print("\n[release timing] %s: %s" % (key, json.dumps(values, sort_keys=True)))
