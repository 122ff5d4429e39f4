"""The traffic_split and present/absent flows, against an in-memory API that behaves like the server.

The integration tests prove the same against the real API server; these pin down the decisions
(when to write, when to dry-run, when to retry) exhaustively and fast.
"""

import copy

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import routes as R
from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import IstioError
from ansible_collections.rollouts.istio.plugins.module_utils._flows.ensure_object import desired_object, ensure
from ansible_collections.rollouts.istio.plugins.module_utils._flows.set_split import set_split
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_client import Conflict, Invalid


class FakeApi(object):
    """Objects by (kind, ns, name); JSON patches checked against resourceVersion like the server."""

    api_version = "networking.istio.io/v1"

    def __init__(self, objects=(), namespaces=("shop",), defaults=None):
        self.objects = {}
        self.namespaces = set(namespaces)
        self.calls = []
        self.before_patch = None
        self.defaults = defaults or {}
        for obj in objects:
            self.put(copy.deepcopy(obj))

    def put(self, obj):
        meta = obj["metadata"]
        old = self.objects.get((obj["kind"], meta["namespace"], meta["name"]))
        meta["resourceVersion"] = str(int(old["metadata"]["resourceVersion"]) + 1 if old else 1)
        self.objects[(obj["kind"], meta["namespace"], meta["name"])] = obj

    def get(self, kind, ns, name):
        self.calls.append(("get", kind))
        return copy.deepcopy(self.objects.get((kind, ns, name)))

    def list(self, kind, ns, label_selector=None):
        self.calls.append(("list", kind))
        return [copy.deepcopy(o) for (k, n, _name), o in sorted(self.objects.items()) if k == kind and n == ns]

    def namespace_exists(self, ns):
        return ns in self.namespaces

    def json_patch(self, kind, ns, name, ops, dry_run=False):
        if self.before_patch:
            self.before_patch()
        self.calls.append(("patch-dry" if dry_run else "patch", kind))
        live = self.objects[(kind, ns, name)]
        rv = live["metadata"]["resourceVersion"]
        try:
            new = R.apply_patch(live, ops)
        except ValueError:
            raise Invalid("the server rejected our request due to an error in our request", status=422)
        if new["metadata"]["resourceVersion"] != rv:
            raise Conflict("the object has been modified", status=409)
        if not dry_run:
            self.put(new)
        return copy.deepcopy(new)

    def apply(self, kind, ns, name, obj, dry_run=False, force=True):
        self.calls.append(("apply-dry" if dry_run else "apply", kind))
        live = self.objects.get((kind, ns, name))
        new = copy.deepcopy(obj)
        new["spec"] = dict(self.defaults, **new["spec"])
        if live:
            new["metadata"] = dict(live["metadata"], **new["metadata"])
        if not dry_run:
            self.put(new)
        return copy.deepcopy(new)

    def delete(self, kind, ns, name, dry_run=False, resource_version=None):
        self.calls.append(("delete-dry" if dry_run else "delete", kind))
        if not dry_run:
            del self.objects[(kind, ns, name)]


def vs():
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews", "namespace": "shop"},
            "spec": {"hosts": ["reviews"], "http": [
                {"name": "primary", "route": [
                    {"destination": {"host": "reviews", "subset": "stable"}, "weight": 100},
                    {"destination": {"host": "reviews", "subset": "canary"}, "weight": 0}]}]}}


def dr(subsets=("stable", "canary"), ns="shop"):
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "reviews", "namespace": ns},
            "spec": {"host": "reviews", "subsets": [{"name": s} for s in subsets]}}


SPLIT = [{"subset": "stable", "weight": 90}, {"subset": "canary", "weight": 10}]


def test_split_reads_checks_and_writes_once():
    api = FakeApi([vs(), dr()])
    result, tracker = set_split(api, "shop", "reviews", SPLIT)
    assert api.calls == [("get", "VirtualService"), ("list", "DestinationRule"), ("patch", "VirtualService")]
    assert result["changed"] and tracker.changed and result["attempts"] == 1
    assert result["before"] == {"stable": 100, "canary": 0} and result["after"] == {"stable": 90, "canary": 10}
    assert result["object"]["metadata"]["resourceVersion"] == "2"


def test_split_again_reads_only():
    api = FakeApi([vs(), dr()])
    set_split(api, "shop", "reviews", SPLIT)
    api.calls = []
    result, tracker = set_split(api, "shop", "reviews", SPLIT, validate_subsets=False)
    assert api.calls == [("get", "VirtualService")]
    assert not result["changed"] and not tracker.changed and tracker.diff()["before"] == tracker.diff()["after"]


def test_split_check_mode_dry_runs():
    api = FakeApi([vs(), dr()])
    result, _tracker = set_split(api, "shop", "reviews", SPLIT, check_mode=True)
    assert ("patch-dry", "VirtualService") in api.calls
    assert result["changed"] and api.objects[("VirtualService", "shop", "reviews")]["metadata"]["resourceVersion"] == "1"


def test_split_retries_after_a_concurrent_write_and_keeps_it():
    api = FakeApi([vs(), dr()])
    writes = []

    def other_writer():
        if not writes:
            obj = api.objects[("VirtualService", "shop", "reviews")]
            obj = copy.deepcopy(obj)
            obj["spec"]["hosts"].append("reviews.example.com")
            api.put(obj)
            writes.append(1)

    api.before_patch = other_writer
    result, _tracker = set_split(api, "shop", "reviews", SPLIT)
    assert result["attempts"] == 2
    live = api.objects[("VirtualService", "shop", "reviews")]
    assert live["spec"]["hosts"] == ["reviews", "reviews.example.com"]
    assert [d["weight"] for d in live["spec"]["http"][0]["route"]] == [90, 10]
    # The DestinationRules were read once, not on every attempt.
    assert api.calls.count(("list", "DestinationRule")) == 1


def test_split_gives_up_after_max_retries():
    api = FakeApi([vs(), dr()])

    def always():
        obj = copy.deepcopy(api.objects[("VirtualService", "shop", "reviews")])
        api.put(obj)

    api.before_patch = always
    with pytest.raises(IstioError) as err:
        set_split(api, "shop", "reviews", SPLIT, max_retries=3)
    assert "conflict retries exhausted" in err.value.msg and "4 attempts" in err.value.msg


def test_split_guard_failure_without_a_concurrent_write_is_an_error_not_a_loop():
    api = FakeApi([vs(), dr()])
    real = api.json_patch

    def broken(kind, ns, name, ops, dry_run=False):
        return real(kind, ns, name, ops + [{"op": "test", "path": "/spec/hosts/0", "value": "nope"}], dry_run)

    api.json_patch = broken
    with pytest.raises(IstioError) as err:
        set_split(api, "shop", "reviews", SPLIT)
    assert "rejected" in err.value.msg
    assert api.calls.count(("get", "VirtualService")) == 2


def test_split_missing_object_and_namespace():
    with pytest.raises(IstioError, match="VirtualService reviews not found in namespace shop"):
        set_split(FakeApi([]), "shop", "reviews", SPLIT)
    with pytest.raises(IstioError, match="namespace gone does not exist"):
        set_split(FakeApi([], namespaces=()), "gone", "reviews", SPLIT)


def test_split_unknown_subset_is_refused_before_writing():
    api = FakeApi([vs(), dr(subsets=("stable",))])
    with pytest.raises(R.RouteError) as err:
        set_split(api, "shop", "reviews", SPLIT)
    assert err.value.param == "destinations" and "'canary'" in err.value.msg
    assert not [c for c in api.calls if c[0].startswith("patch")]


def test_split_finds_the_destination_rule_in_the_host_namespace():
    obj = vs()
    for d in obj["spec"]["http"][0]["route"]:
        d["destination"]["host"] = "reviews.backend.svc.cluster.local"
    api = FakeApi([obj, dr(ns="backend")])
    result, _tracker = set_split(api, "shop", "reviews", SPLIT)
    assert result["changed"] and api.calls.count(("list", "DestinationRule")) == 2


# ---------------------------------------------------------------- present / absent

def gateway(**spec):
    return desired_object("Gateway", "gw", "shop", dict({"servers": [{"hosts": ["*"], "port": {"number": 80}}]}, **spec))


def test_create_writes_without_a_dry_run():
    api = FakeApi()
    result = ensure(api, gateway(), want_diff=True)
    assert result["changed"] and api.calls == [("get", "Gateway"), ("apply", "Gateway")]
    assert result["diff"]["before"] == {} and result["diff"]["after"]["spec"]["servers"]


def test_create_in_check_mode_dry_runs():
    api = FakeApi()
    result = ensure(api, gateway(), check_mode=True)
    assert result["changed"] and api.calls == [("get", "Gateway"), ("apply-dry", "Gateway")]
    assert not api.objects


def test_unchanged_object_is_not_written_and_server_defaults_do_not_count():
    api = FakeApi(defaults={"selector": {"istio": "ingressgateway"}})
    ensure(api, gateway())
    api.calls = []
    result = ensure(api, gateway())
    assert not result["changed"] and result["changes"] == []
    assert api.calls == [("get", "Gateway"), ("apply-dry", "Gateway")]


def test_update_writes_and_reports_the_changed_fields():
    api = FakeApi()
    ensure(api, gateway())
    api.calls = []
    result = ensure(api, gateway(selector={"app": "edge"}), want_diff=True)
    assert result["changed"] and api.calls == [("get", "Gateway"), ("apply", "Gateway")]
    assert result["changes"] == [{"path": "spec.selector", "before": None, "after": {"app": "edge"}}]
    assert "selector" not in result["diff"]["before"]["spec"]


def test_absent():
    api = FakeApi()
    ensure(api, gateway())
    result = ensure(api, gateway(), state="absent", check_mode=True, want_diff=True)
    assert result["changed"] and result["diff"]["after"] == {} and api.objects
    assert ensure(api, gateway(), state="absent")["changed"] and not api.objects
    api.calls = []
    assert not ensure(api, gateway(), state="absent")["changed"]
    assert api.calls == [("get", "Gateway")]
