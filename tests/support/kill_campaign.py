"""The kill-everywhere campaign (issue 11): a release SIGKILLed at its task boundaries and in the
middle of every long task, then run again to its end; every trial must converge.

1. A reference run of the scenario lists its boundaries: the kill_at callback
   (tests/integration/kill_everywhere/callback_plugins) writes one line per task start, with the state
   a kill there would leave (tests/support/kill_state.py: the release's objects and the rollout record,
   without times, run ids and measured values). A re-run decides from that state alone, so boundaries
   with the same state are the same point for it: the boundaries fall into a few distinct states
   (one per write the run makes).
2. For every distinct state, a trial in a clean namespace starts the same playbook with
   ROLLOUTS_KILL_AT set to the first boundary that leaves it (the callback SIGKILLs the run's whole
   process group as that task starts, before it runs), checks that the kill left exactly the state the
   reference recorded there (so the grouping is measured, not assumed), then runs the playbook again,
   without a kill, to its end. For each wait (a Deployment becoming Available, a gate's analysis, the
   step's load; and any task longer than LONG_TASK in the reference), one more trial kills the run
   halfway through it.
3. From outside the code under test each trial keeps a watch on the namespace's VirtualServices and
   DestinationRules (every stored version, both runs) and checks:
   - convergence: the second run ends as the state table says (promoted, or rolled back), and the
     route and the record agree;
   - at every stored VirtualService version: each weighted route sums to 100, every destination's
     subset is in the DestinationRule as stored at that moment, and while the rollout is active the
     record's weight is the route's (they are written in one patch).

So every boundary is covered: a real SIGKILL at the first boundary of each state (and mid-task), and,
for the boundaries after it with the same state, the evidence that a kill there leaves that same state.
The mesh simulator stands in for Envoy (docs/mesh-simulator.md); Prometheus and the API server are the
test bed's real ones. Trials run side by side, each worker in a namespace of its own that it cleans
between trials.
"""

import concurrent.futures
import json
import os
import signal
import subprocess
import tempfile
import time

from support import kill_state
from support.release import (ACTIVE_PHASES, REPO, VirtualServiceWatch, primary_weights, read_record, route_named,
                             TIMINGS, save_timing, split_problems, start_playbook,
                             weights_of)

CALLBACKS = os.path.join(REPO, "tests", "integration", "kill_everywhere", "callback_plugins")
# The waits of a release, each killed in its middle too: a Deployment becoming Available, a gate's
# analysis, the step's load. Any other task that takes this long in the reference run is as well.
WAITS = ("Wait until each workload is Available", "Check the candidate's metrics",
         "Wait for the load of the step to end")
LONG_TASK = 5.0
APP = "podinfo"
KINDS = ("virtualservices.networking.istio.io", "destinationrules.networking.istio.io",
         "gateways.networking.istio.io", "deployments.apps", "daemonsets.apps", "services", "configmaps")


def kill_env(log, at=None, delay=None, snapshot=None):
    env = {"ANSIBLE_CALLBACK_PLUGINS": CALLBACKS, "ANSIBLE_CALLBACKS_ENABLED": "kill_at", "ROLLOUTS_KILL_LOG": log}
    if snapshot:
        env["ROLLOUTS_KILL_SNAPSHOT"] = snapshot
    if at:
        env["ROLLOUTS_KILL_AT"] = str(at)
    if delay:
        env["ROLLOUTS_KILL_DELAY"] = "%.2f" % delay
    return env


def read_boundaries(path):
    """[{i, task, t[, state, key]}] and the end ({t[, state, key]}; None when the run was killed)."""
    boundaries, end = [], None
    with open(path) as fh:
        for line in fh:
            entry = json.loads(line)
            if "end" in entry:
                end = dict(entry, t=entry["end"])
            else:
                boundaries.append(entry)
    return boundaries, end


def kill_points(boundaries, end):
    """The first boundary of each distinct state (kill before that task runs) and the middle of each
    long task. Each point names the boundaries that share its state."""
    points, first = [], {}
    for b in boundaries:
        if b["key"] not in first:
            first[b["key"]] = {"at": b["i"], "delay": 0.0, "task": b["task"], "key": b["key"], "same_state": []}
            points.append(first[b["key"]])
        else:
            first[b["key"]]["same_state"].append(b["i"])
    for b, after in zip(boundaries, boundaries[1:] + [end]):
        took = after["t"] - b["t"]
        if took >= LONG_TASK or (b["task"].split(" : ")[-1] in WAITS and took >= 0.5):
            points.append({"at": b["i"], "delay": round(took / 2, 2), "task": b["task"], "took": round(took, 2),
                           "same_state": []})
    return points


def clean_namespace(namespace):
    """Delete what a trial left (the rollout record goes with its VirtualService), and wait until gone."""
    proc = subprocess.run(["kubectl", "-n", namespace, "delete", ",".join(KINDS), "--all", "--wait=true",
                           "--timeout=60s"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, "cleaning %s: %s" % (namespace, proc.stderr)


def version_problems(vs_versions, dr_versions, app=APP):
    """What is wrong at any stored version of the app's VirtualService: weights, subsets (against the
    DestinationRule stored at that moment), and the record disagreeing with the route."""
    problems = []
    drs = sorted((int(rv), obj) for dummy, name, rv, obj in dr_versions if name == app)
    for dummy, name, rv, obj in vs_versions:
        if obj is None or name != app:
            continue
        known = [o for r, o in drs if r <= int(rv)]
        subsets = set(s["name"] for s in ((known[-1] or {}).get("spec", {}).get("subsets") or [])) if known else set()
        for problem in split_problems(obj, subsets, host=app):
            problems.append("resourceVersion %s: %s" % (rv, problem))
        ann = obj["metadata"].get("annotations") or {}
        if ann.get("rollouts.istio/phase") in ACTIVE_PHASES and "rollouts.istio/record" in ann:
            record = json.loads(ann["rollouts.istio/record"])
            on_route = weights_of(route_named(obj, "primary")).get(record["candidate"], 0)
            if int(record.get("weight") or 0) != on_route and record.get("phase") != "Initialized":
                problems.append("resourceVersion %s: the record says %s %% but the route sends %s %%"
                                % (rv, record.get("weight"), on_route))
    return problems


class Scenario(object):
    """A release to kill: the playbook, its variables for a namespace, what to lay out first, and
    the phase it must end in (Succeeded, or Failed for a rollback)."""

    def __init__(self, name, playbook, plan, expect, setup=None, timeout=300):
        self.name, self.playbook, self.plan, self.expect = name, playbook, plan, expect
        self.setup = setup or (lambda namespace: None)
        self.timeout = timeout

    def converged(self, namespace, rerun):
        """Why the namespace is not where the state table says the re-run must leave it ('' when it is)."""
        record = read_record(namespace)
        phase = record.get("phase")
        weights = primary_weights(namespace)
        if phase != self.expect or record.get("_label") != self.expect:
            return "phase %s (label %s), expected %s; re-run rc=%s: %s" % (
                phase, record.get("_label"), self.expect, rerun.rc, (rerun.failure() or "")[:300])
        if self.expect == "Succeeded":
            if rerun.rc != 0:
                return "re-run failed (rc=%s): %s" % (rerun.rc, (rerun.failure() or "")[:300])
            if weights != {record["stable"]: 100}:
                return "promoted, but the route sends %s" % weights
        elif weights.get(record["stable"], 0) != 100:
            return "rolled back, but the route sends %s" % weights
        return ""


def run_trial(cluster, scenario, namespace, point, simulator, k8s, reader, reference):
    """One kill and one re-run in `namespace`; returns the trial's outcome (problems empty: converged)."""
    clean_namespace(namespace)
    scenario.setup(namespace)
    simulator.wait_synced(k8s, namespace)
    log = tempfile.NamedTemporaryFile(prefix="kill-", suffix=".jsonl", delete=False).name
    vs_watch = VirtualServiceWatch(cluster, namespace)
    dr_watch = VirtualServiceWatch(cluster, namespace, plural="destinationrules")
    outcome = dict(point, namespace=namespace, problems=[])
    try:
        plan = scenario.plan(namespace)
        killed = start_playbook(scenario.playbook, plan, env=kill_env(log, point["at"], point["delay"]),
                                timeout=scenario.timeout).result()
        boundaries, end = read_boundaries(log)
        marked = [b for b in boundaries if b.get("kill")]
        outcome["killed_at"] = marked[0]["task"] if marked else None
        if killed.rc != -signal.SIGKILL:
            outcome["problems"].append("the run was not killed (rc=%s; it reached %d boundaries): %s"
                                       % (killed.rc, len(boundaries), (killed.failure() or "")[:300]))
        elif marked and marked[0]["task"] != point["task"]:
            outcome["problems"].append("boundary %d is %r, not %r as in the reference run"
                                       % (point["at"], marked[0]["task"], point["task"]))
        elif not point["delay"]:
            left = kill_state.normalize(reader.objects(namespace), namespace)
            if kill_state.state_key(left) != point["key"]:
                outcome["problems"].append("the kill left another state than the reference's at this boundary: %s"
                                           % "; ".join(kill_state.differences(reference[point["key"]], left)))
        rerun = start_playbook(scenario.playbook, plan, timeout=scenario.timeout).result()
        outcome["rerun_rc"] = rerun.rc
        why = scenario.converged(namespace, rerun)
        if why:
            outcome["problems"].append(why)
    except AssertionError as err:  # a run that did not end in time is a trial that did not converge
        outcome["problems"].append(str(err)[:500])
    finally:
        vs_versions, dr_versions = vs_watch.stop(), dr_watch.stop()
        os.unlink(log)
    outcome["versions"] = len([v for v in vs_versions if v[1] == APP])
    outcome["problems"] += version_problems(vs_versions, dr_versions)
    return outcome


def reference_run(cluster, scenario, namespace, simulator, k8s):
    """The scenario once, unkilled: its boundaries (and it must itself converge)."""
    clean_namespace(namespace)
    scenario.setup(namespace)
    simulator.wait_synced(k8s, namespace)
    log = tempfile.NamedTemporaryFile(prefix="kill-ref-", suffix=".jsonl", delete=False).name
    started = time.time()
    result = start_playbook(scenario.playbook, scenario.plan(namespace), env=kill_env(log, snapshot=namespace),
                            timeout=scenario.timeout).result()
    boundaries, end = read_boundaries(log)
    os.unlink(log)
    why = scenario.converged(namespace, result)
    assert not why, "the reference run of %s did not end as expected: %s\n%s" % (scenario.name, why, result.summary())
    assert boundaries and end, "the kill_at callback listed no boundaries: %s" % result.summary()
    return boundaries, end, time.time() - started, (result.failure() or "")[:300]


def campaign(cluster, k8s, scenario, namespaces, simulator):
    """Reference run, then every kill point on the worker namespaces side by side. Returns the report."""
    started = time.time()
    boundaries, end, reference_wall, reference_end = reference_run(cluster, scenario, namespaces[0], simulator, k8s)
    reference = dict((b["key"], b["state"]) for b in boundaries)
    points = kill_points(boundaries, end)
    reader = kill_state.Reader(cluster["kubeconfig"])
    free = list(namespaces)

    def work(point):
        namespace = free.pop()
        try:
            return run_trial(cluster, scenario, namespace, point, simulator, k8s, reader, reference)
        finally:
            free.append(namespace)

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(namespaces)) as pool:
        outcomes = list(pool.map(work, points))
    failed = [o for o in outcomes if o["problems"]]
    report = {"scenario": scenario.name, "boundaries": len(boundaries), "distinct_states": len(reference),
              "boundary_kills": len([p for p in points if not p["delay"]]),
              "mid_task_kills": len([p for p in points if p["delay"]]), "trials": len(outcomes),
              "converged": len(outcomes) - len(failed),
              "boundaries_covered": sum(1 + len(o["same_state"]) for o in outcomes if not o["delay"]),
              "versions_checked": sum(o["versions"] for o in outcomes),
              "reference_wall_s": round(reference_wall, 1), "campaign_wall_s": round(time.time() - started, 1),
              "workers": len(namespaces)}
    save_timing("kill_everywhere_" + scenario.name, **report)
    save_trials(scenario.name, boundaries, outcomes)
    # How the reference run ended (its failure, for a rollback): a trial that takes another path says so.
    report["failed"], report["reference_end"] = failed, reference_end
    return report


def save_trials(name, boundaries, outcomes):
    """Every boundary and every trial, for a person to read: tests/output/kill-everywhere-<name>.json."""
    path = os.path.join(os.path.dirname(TIMINGS), "kill-everywhere-%s.json" % name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump({"boundaries": [{"i": b["i"], "task": b["task"], "state": b["key"]} for b in boundaries],
                   "trials": outcomes}, fh, indent=1, sort_keys=True)
