"""The bad-input catalogue's bed and its batches.

One namespace holds what the rows need (podinfo v1/v2 as the tutorial lays them out, a podinfo-v3
Deployment the DestinationRule has no subset for, an app `lonely` without a DestinationRule). Every
run goes through a ServiceAccount of its own (a kubeconfig with its token), so the audit log tells
this catalogue's requests from every other test's. No mesh simulator is needed: no row gets as far
as traffic.

The rows run in batches, not one ansible-playbook each: all module rows are the tasks of one play
(ignore_errors), all role rows are block/rescue around include_role in one play, and the playbook
rows are a few runs side by side. The batches run at the same time; the audit log is read once for
the window from before the first to after the last, so "no write" holds for every row of them.
"""

import copy
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from support.fake_prometheus import OK, FakePrometheus, api
from support.mesh import apply_objects, deployment, tutorial_objects
from support.release import (PLAYBOOKS, INVENTORY, PlaybookRun, TimedAuditLog, delete_clusterrolebinding, playbook_env,
                             serviceaccount_kubeconfig)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable-next=import-error,wrong-import-position
from rows import ALONE_ROWS, MODULE_ROWS, PLAYBOOK_ROWS, ROLE_ROWS, TOKEN  # noqa: E402

RUN_TIMEOUT = 400
ROLE_PLAYS = 4
# The runs wait on processes starting more than on CPU: five at a time keep two CPUs busy.
WORKERS = 5


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(value, names):
    """The row's value with {placeholders} filled in (strings, lists and dicts, recursively)."""
    if isinstance(value, str):
        for key, text in names.items():
            value = value.replace("{%s}" % key, str(text))
        return value
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    if isinstance(value, dict):
        return dict((k, fill(v, names)) for k, v in value.items())
    return value


class Bed(object):
    """The namespace, the identity and the servers the rows refer to."""

    def __init__(self, namespace, kubeconfig, user, prometheus_url, token_prometheus, tmp, dead):
        self.namespace, self.kubeconfig, self.user = namespace, kubeconfig, user
        self.names = {
            "ns": namespace, "kubeconfig": kubeconfig, "prometheus": prometheus_url,
            "token_prometheus": token_prometheus.url, "dead": dead,
            "nons": "%s-nosuch" % namespace, "nofile": os.path.join(tmp, "no-such-kubeconfig"),
        }
        self.tmp = tmp
        self.alone = None  # the Bed of the rows that run alone

    @property
    def namespaces(self):
        return [self.namespace, self.names["nons"]]


def _token_answer(request):
    if request["headers"].get("Authorization") != "Bearer %s" % TOKEN:
        return api({"status": "error", "errorType": "unauthorized", "error": "bad token"}, status=401)
    return api(OK)


def _lay_out(k8s, cluster, tmp, name):
    """A namespace with the rows' objects, and a ServiceAccount's kubeconfig: (namespace, kubeconfig, user)."""
    ns_api = k8s.resources.get(api_version="v1", kind="Namespace")
    namespace = "%s-%s" % (name, uuid.uuid4().hex[:6])
    ns_api.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    objects = tutorial_objects(namespace) + [deployment(namespace, "v3", replicas=0)]
    lonely = [o for o in tutorial_objects(namespace, app="lonely", host="lonely.example.com")
              if o["kind"] in ("Deployment", "Service", "VirtualService")]
    for obj in lonely:
        if obj["kind"] == "Deployment":
            obj["spec"]["replicas"] = 0
    apply_objects(k8s, objects + lonely)
    kubeconfig, user = serviceaccount_kubeconfig(cluster, namespace, "bad-input",
                                                 os.path.join(tmp, namespace + ".kubeconfig"))
    return namespace, kubeconfig, user


@pytest.fixture(scope="package")
def bad_input_bed(cluster, k8s, prometheus_url):
    token_prometheus = FakePrometheus([_token_answer])
    tmp = tempfile.mkdtemp(prefix="bad-input-")
    made = []
    try:
        dead = _free_port()
        for name in ("bad-input", "bad-input-alone"):
            made.append(_lay_out(k8s, cluster, tmp, name))
        bed = Bed(made[0][0], made[0][1], made[0][2], prometheus_url, token_prometheus, tmp, dead)
        bed.alone = Bed(made[1][0], made[1][1], made[1][2], prometheus_url, token_prometheus, tmp, dead)
        yield bed
    finally:
        token_prometheus.stop()
        ns_api = k8s.resources.get(api_version="v1", kind="Namespace")
        for namespace, dummy, dummy in made:
            delete_clusterrolebinding(namespace, "bad-input")
            try:
                ns_api.delete(name=namespace)
            except Exception:  # already gone
                pass


# ---------------------------------------------------------------- the batches

def _env(bed):
    # Whatever a run reaches without its own kubeconfig goes as the batch's ServiceAccount too.
    return playbook_env({"KUBECONFIG": bed.kubeconfig, "K8S_AUTH_KUBECONFIG": bed.kubeconfig,
                         "PROMETHEUS_URL": bed.names["prometheus"]})


def _playbook_cmd(path, extra_vars=None, inventory="localhost,"):
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, path]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    return cmd


def module_play(rows, bed):
    """One play: every module row a task named by its id, failing on its own (ignore_errors)."""
    tasks = []
    for r in rows:
        task = {"name": r.id, "ignore_errors": True}
        task.update(fill(copy.deepcopy(r.task), bed.names))
        tasks.append(task)
    return [{"name": "bad input: modules", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "module_defaults": {"group/rollouts.istio.istio": {"kubeconfig": bed.kubeconfig}},
             "tasks": tasks}]


ROLE_BASE = {
    "rollouts.istio.shift_traffic": {
        "shift_traffic_kubeconfig": "{kubeconfig}", "shift_traffic_app": "podinfo", "shift_traffic_namespace": "{ns}",
        "shift_traffic_stable": "v1", "shift_traffic_candidate": "v2", "shift_traffic_prometheus_url": "{prometheus}",
        "shift_traffic_analyze": False, "shift_traffic_interval": "1s", "shift_traffic_iterations": 1,
        "shift_traffic_run_id": "bad-input"},
    "rollouts.istio.deploy_versions": {
        "deploy_versions_kubeconfig": "{kubeconfig}", "deploy_versions_app": "podinfo",
        "deploy_versions_namespace": "{ns}",
        "deploy_versions_stable": {"version": "v1", "image": "ghcr.io/stefanprodan/podinfo:6.7.0"},
        "deploy_versions_candidate": {"version": "v2", "image": "ghcr.io/stefanprodan/podinfo:6.7.1"}},
    "rollouts.istio.install_minikube": {"install_minikube_bin_dir": "{tmp}/bin",
                                        "install_minikube_cache_dir": "{tmp}/cache"},
    "rollouts.istio.install_istio": {"install_istio_version": "1.24.2", "install_istio_kubeconfig": "{kubeconfig}",
                                     "install_istio_install_dir": "{tmp}/istio"},
}


def role_play(rows, bed, results_path):
    """One play: every role row a block around include_role; the rescue keeps the failure by the row's id."""
    names = dict(bed.names, tmp=bed.tmp)
    tasks = [{"name": "Start the results", "ansible.builtin.set_fact": {"_bad_input": {}}}]
    for r in rows:
        role = r.task["role"]
        variables = fill(dict(ROLE_BASE.get(role, {}), **copy.deepcopy(r.task["vars"])), names)
        tasks.append({
            "name": r.id,
            "block": [
                {"name": "%s: run the role" % r.id, "ansible.builtin.include_role": {"name": role}, "vars": variables},
                {"name": "%s: passed" % r.id, "ansible.builtin.set_fact": {
                    "_bad_input": "{{ _bad_input | combine({'%s': {'failed': false}}) }}" % r.id}},
            ],
            "rescue": [
                {"name": "%s: failed" % r.id, "ansible.builtin.set_fact": {
                    "_bad_input": "{{ _bad_input | combine({'%s': {'failed': true, 'task': ansible_failed_task.name,"
                                  " 'result': ansible_failed_result}}) }}" % r.id}},
            ],
        })
    tasks.append({"name": "Write the results", "ansible.builtin.copy": {
        "content": "{{ _bad_input | to_nice_json }}", "dest": results_path, "mode": "0600"}})
    return [{"name": "bad input: roles", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": tasks}]


PLAYBOOK_BASE = {
    "release_app": "podinfo", "release_namespace": "{ns}", "release_stable": "v1", "release_candidate": "v2",
    "release_prometheus_url": "{prometheus}", "release_kubeconfig": "{kubeconfig}",
    "release_hosts": ["{ns}.example.com", "podinfo"], "release_run_id": "bad-input",
    "shift_traffic_analyze": False, "shift_traffic_interval": "1s", "shift_traffic_iterations": 1,
}


def failure_message(result):
    """The message of a failed task's result (the failed item's, for a loop)."""
    if not isinstance(result, dict):
        return str(result)
    items = [r for r in result.get("results") or [] if isinstance(r, dict) and r.get("failed")]
    return str((items[-1] if items else result).get("msg") or "")


class Outcome(object):
    """What one row's run ended with: failed or not, the message, the task that failed."""

    def __init__(self, failed, message, task="", run=None):
        self.failed, self.message, self.task, self.run = failed, message, task, run

    def __repr__(self):
        return "<failed=%s task=%r msg=%r>" % (self.failed, self.task, self.message[:800])


class Batches(object):
    """Every row's outcome, the audit events of the window of all batches, and the wall time of each batch."""

    def __init__(self, bed, outcomes, events, walls):
        self.bed, self.outcomes, self.events, self.walls = bed, outcomes, events, walls

    def writes(self, row):
        """(writes in the row's namespaces by anyone, writes by the row's ServiceAccount anywhere)."""
        bed = self.bed.alone if row.family == "alone" else self.bed
        return ([e for e in self.events if e.namespace in bed.namespaces],
                [e for e in self.events if e.user == bed.user])


def _outcomes_of_modules(run_result):
    out = {}
    for t in run_result.tasks:
        out[t["_task"]] = Outcome(bool(t.get("failed")), failure_message(t) if t.get("failed") else "", t["_task"])
    return out


def _outcomes_of_roles(path):
    with open(path) as fh:
        data = json.load(fh)
    return dict((rid, Outcome(v["failed"], failure_message(v.get("result")) if v["failed"] else "", v.get("task", "")))
                for rid, v in data.items())


def _outcome_of_playbook(run_result):
    failed = run_result.rc != 0
    return Outcome(failed, str(run_result.failure() or "") if failed else "",
                   (run_result.failed_tasks() or [{}])[-1].get("_task", "") if failed else "")


@pytest.fixture(scope="package")
def batches(cluster, bad_input_bed):
    if not cluster["audit_log"] or not os.path.exists(cluster["audit_log"]):
        pytest.skip("no audit log for this cluster (set ROLLOUTS_TESTBED_AUDIT_LOG to read one)")
    audit = TimedAuditLog(cluster["audit_log"])
    bed = bad_input_bed
    env = _env(bed)
    work = tempfile.mkdtemp(prefix="bad-input-runs-", dir=bed.tmp)
    module_path = os.path.join(work, "modules.yml")
    with open(module_path, "w") as fh:
        yaml.safe_dump(module_play(MODULE_ROWS, bed), fh, sort_keys=False)
    # The role rows in a few plays, side by side, dealt round-robin: the rows that pass the plan read the
    # cluster and Prometheus (a k8s_info task costs seconds), and they come together in the list.
    role_jobs = []
    for index in range(ROLE_PLAYS):
        part = ROLE_ROWS[index::ROLE_PLAYS]
        path = os.path.join(work, "roles-%d.yml" % index)
        results = os.path.join(work, "roles-%d.json" % index)
        with open(path, "w") as fh:
            yaml.safe_dump(role_play(part, bed, results), fh, sort_keys=False)
        role_jobs.append((path, results))
    inventory = INVENTORY if os.path.exists(INVENTORY) else "localhost,"

    mark = audit.mark()
    started = time.time()
    jobs = []
    for index, (path, dummy) in enumerate(role_jobs):
        jobs.append(("roles-%d" % index, lambda p=path: PlaybookRun(_playbook_cmd(p), env, RUN_TIMEOUT)))
    jobs.append(("modules", lambda: PlaybookRun(_playbook_cmd(module_path), env, RUN_TIMEOUT)))
    for r in PLAYBOOK_ROWS:
        extra = fill(dict(PLAYBOOK_BASE, **copy.deepcopy(r.task["vars"])), bed.names)
        cmd = _playbook_cmd(os.path.join(PLAYBOOKS, r.task["playbook"]), extra, inventory)
        jobs.append((r.id, lambda c=cmd: PlaybookRun(c, env, RUN_TIMEOUT)))
    for r in ALONE_ROWS:
        path = os.path.join(work, r.id + ".yml")
        variables = fill(dict(ROLE_BASE[r.task["role"]], **copy.deepcopy(r.task["vars"])), bed.alone.names)
        with open(path, "w") as fh:
            yaml.safe_dump([{"name": r.id, "hosts": "localhost", "connection": "local", "gather_facts": False,
                             "tasks": [{"name": r.id, "ansible.builtin.include_role": {"name": r.task["role"]},
                                        "vars": variables}]}], fh, sort_keys=False)
        # The first to start: it takes the longest (a step is written before it fails).
        jobs.insert(0, (r.id, lambda p=path: PlaybookRun(_playbook_cmd(p), _env(bed.alone), RUN_TIMEOUT)))

    def run(job):
        name, start = job
        t0 = time.time()
        result = start().result()
        return name, result, time.time() - t0

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        done = list(pool.map(run, jobs))
    walls = dict((name, wall) for name, dummy, wall in done)
    walls["all"] = time.time() - started
    outcomes = {}
    for name, result, dummy in done:
        if name == "modules":
            outcomes.update(_outcomes_of_modules(result))
        elif name.startswith("roles-"):
            path = role_jobs[int(name.split("-")[1])][1]
            assert os.path.exists(path), "the role batch wrote no results:\n%s" % result.summary()
            outcomes.update(_outcomes_of_roles(path))
        else:
            outcomes[name] = _outcome_of_playbook(result)
            outcomes[name].run = result
    # Writes of any kind, dry runs included: bad input must not even ask the API server to try one.
    events = audit.events(mark, writes_only=True)
    keep = os.environ.get("ROLLOUTS_BAD_INPUT_KEEP")
    if keep:  # a file to keep every outcome and write in, to read a failure afterwards
        with open(keep, "w") as fh:
            kept = dict((k, vars(o) if o.run is None else dict(vars(o), run=None)) for k, o in outcomes.items())
            json.dump({"started": started, "outcomes": kept,
                       "writes": [dict(repr=repr(e), time=e.time, agent=e.user_agent) for e in events
                                  if e.user in (bed.user, bed.alone.user)
                                  or e.namespace in bed.namespaces + bed.alone.namespaces]},
                      fh, indent=1, default=str)
    print("\n[bad input] wall times: %s" % json.dumps(dict((k, round(v, 1)) for k, v in walls.items()), sort_keys=True))
    return Batches(bed, outcomes, events, walls)
