"""What a run leaves in its namespace, as a value two runs can compare (the kill-everywhere campaign).

A re-run decides from the cluster alone: the rollout record and the objects the release is made of.
So the state a SIGKILL at a boundary leaves is the set of those objects, with what differs between two
runs of the same release taken out: resourceVersions, uids, times, run ids, the namespace's own name,
and the measured values in messages. Two boundaries with the same state are the same point for a
re-run. Used by the kill_at callback (inside ansible-playbook) and by the tests.
"""

import copy
import hashlib
import json
import re

ISTIO = ("networking.istio.io", "v1")
ISTIO_KINDS = ("virtualservices", "destinationrules", "gateways")
RECORD = "rollouts.istio/record"
# Fields of the rollout record (and of its history and decisions) that differ between two runs of the
# same release at the same point: when, and by which run.
VOLATILE = frozenset(("started", "updated", "heartbeat", "promoted", "time", "verdict_time", "decided_at", "run",
                      "rollouts.istio/updated", "rollouts.istio/run"))
NUMBER = re.compile(r"\d+(\.\d+)?(e[-+]?\d+)?")


class Reader(object):
    """Lists the release's objects in a namespace through the Kubernetes Python client."""

    def __init__(self, kubeconfig):
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=kubeconfig)
        self.custom = client.CustomObjectsApi(api)
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.serialize = api.sanitize_for_serialization

    def objects(self, namespace):
        out = {}
        for plural in ISTIO_KINDS:
            for item in self.custom.list_namespaced_custom_object(ISTIO[0], ISTIO[1], namespace, plural)["items"]:
                out["%s/%s" % (plural, item["metadata"]["name"])] = item
        for kind, lister in (("deployments", self.apps.list_namespaced_deployment),
                             ("daemonsets", self.apps.list_namespaced_daemon_set),
                             ("services", self.core.list_namespaced_service)):
            for item in lister(namespace).items:
                item = self.serialize(item)
                out["%s/%s" % (kind, item["metadata"]["name"])] = item
        return out


def _scrub(value):
    """The record's JSON without what differs between runs: times, run ids, measured numbers."""
    if isinstance(value, dict):
        return dict((k, _scrub(v)) for k, v in value.items() if k not in VOLATILE)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return NUMBER.sub("#", value)
    return value


def _decisions(record):
    # A gate's decision carries the values it measured; which step it judged and its verdict are the state.
    record = dict(record)
    if "decisions" in record:
        record["decisions"] = [{"step": d.get("step"), "verdict": d.get("verdict")} for d in record["decisions"]]
    return record


def normalize(objects, namespace):
    """The comparable state of a namespace's release objects (a dict)."""
    state = {}
    for key, obj in sorted(objects.items()):
        meta = obj.get("metadata") or {}
        kind = key.split("/", 1)[0]
        entry = {"labels": meta.get("labels") or {}}
        annotations = dict((k, v) for k, v in (meta.get("annotations") or {}).items()
                           if k.startswith("rollouts.istio/") and k not in VOLATILE)
        if RECORD in annotations:
            annotations[RECORD] = _scrub(_decisions(json.loads(annotations[RECORD])))
        entry["annotations"] = annotations
        spec = copy.deepcopy(obj.get("spec") or {})
        if kind in ("deployments", "daemonsets"):
            template = spec.get("template") or {}
            spec = {"replicas": spec.get("replicas"), "selector": spec.get("selector"),
                    "template": {"metadata": {"labels": (template.get("metadata") or {}).get("labels")},
                                 "containers": [c.get("image") for c in (template.get("spec") or {}).get(
                                     "containers") or []]}}
        elif kind == "services":
            ports = [(p.get("name"), p.get("port")) for p in spec.get("ports") or []]
            spec = {"selector": spec.get("selector"), "ports": ports}
        entry["spec"] = spec
        state[key] = entry
    text = json.dumps(state, sort_keys=True).replace(namespace, "<ns>")
    return json.loads(text)


def state_key(state):
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def differences(a, b, path=""):
    """Where two states differ, as readable lines (at most 10)."""
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append("%s/%s: %s" % (path, k, "only after the kill" if k in b else "only in the reference"))
            elif a[k] != b[k]:
                out.extend(differences(a[k], b[k], "%s/%s" % (path, k)))
    elif a != b:
        out.append("%s: reference %s, after the kill %s" % (path, json.dumps(a)[:200], json.dumps(b)[:200]))
    return out[:10]
