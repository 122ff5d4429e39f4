"""The traffic_split flow (read, decide, guarded write, bounded retry), against an in-memory API.

The integration tests prove the same against the real API server; these pin down the decisions
(when to write, when to dry-run, when to retry, when a concurrent change must not be overwritten,
which hosts and subsets count) exhaustively and fast.
"""

import copy

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import routes as R
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import IstioError
from ansible_collections.rollouts.istio.plugins.module_utils._flows.set_split import ConcurrentWeightChange, set_split
from support.fake_istio import FakeApi, service, service_entry


def vs():
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews", "namespace": "shop"},
            "spec": {"hosts": ["reviews"], "http": [
                {"name": "primary", "route": [
                    {"destination": {"host": "reviews", "subset": "stable"}, "weight": 100},
                    {"destination": {"host": "reviews", "subset": "candidate"}, "weight": 0}]}]}}


def dr(subsets=("stable", "candidate"), ns="shop"):
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "reviews", "namespace": ns},
            "spec": {"host": "reviews", "subsets": [{"name": s} for s in subsets]}}


SPLIT = [{"subset": "stable", "weight": 90}, {"subset": "candidate", "weight": 10}]


def test_split_reads_checks_and_writes_once():
    api = FakeApi([vs(), dr(), service()])
    result, tracker = set_split(api, "shop", "reviews", SPLIT)
    assert api.calls == [("get", "VirtualService"), ("get", "Service"), ("list", "DestinationRule"),
                         ("patch", "VirtualService")]
    assert result["changed"] and tracker.changed and result["attempts"] == 1
    assert result["before"] == {"stable": 100, "candidate": 0} and result["after"] == {"stable": 90, "candidate": 10}
    assert result["object"]["metadata"]["resourceVersion"] == "2"


def test_split_again_reads_only():
    api = FakeApi([vs(), dr(), service()])
    set_split(api, "shop", "reviews", SPLIT)
    api.calls = []
    result, tracker = set_split(api, "shop", "reviews", SPLIT, validate_destinations=False)
    assert api.calls == [("get", "VirtualService")]
    assert not result["changed"] and not tracker.changed and tracker.diff()["before"] == tracker.diff()["after"]


def test_split_check_mode_dry_runs():
    api = FakeApi([vs(), dr(), service()])
    result, _tracker = set_split(api, "shop", "reviews", SPLIT, check_mode=True)
    assert ("patch-dry", "VirtualService") in api.calls
    assert result["changed"] and api.objects[("VirtualService", "shop", "reviews")]["metadata"]["resourceVersion"] == "1"


def test_split_retries_after_a_concurrent_write_and_keeps_it():
    api = FakeApi([vs(), dr(), service()])
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
    api = FakeApi([vs(), dr(), service()])

    def always():
        obj = copy.deepcopy(api.objects[("VirtualService", "shop", "reviews")])
        api.put(obj)

    api.before_patch = always
    with pytest.raises(IstioError) as err:
        set_split(api, "shop", "reviews", SPLIT, max_retries=3)
    assert "conflict retries exhausted" in err.value.msg and "4 attempts" in err.value.msg


def test_split_guard_failure_without_a_concurrent_write_is_an_error_not_a_loop():
    api = FakeApi([vs(), dr(), service()])
    real = api.json_patch

    def broken(kind, ns, name, ops, dry_run=False):
        return real(kind, ns, name, ops + [{"op": "test", "path": "/spec/hosts/0", "value": "nope"}], dry_run)

    api.json_patch = broken
    with pytest.raises(IstioError) as err:
        set_split(api, "shop", "reviews", SPLIT)
    assert "rejected" in err.value.msg
    assert api.calls.count(("get", "VirtualService")) == 2


def test_split_missing_object_and_namespace():
    with pytest.raises(IstioError) as err:
        set_split(FakeApi([]), "shop", "reviews", SPLIT)
    assert err.value.param == "name"
    assert str(err.value) == "name: VirtualService reviews not found in namespace shop"
    with pytest.raises(IstioError, match="namespace gone does not exist"):
        set_split(FakeApi([], namespaces=()), "gone", "reviews", SPLIT)


def test_split_unknown_subset_is_refused_before_writing():
    api = FakeApi([vs(), dr(subsets=("stable",)), service()])
    with pytest.raises(R.RouteError) as err:
        set_split(api, "shop", "reviews", SPLIT)
    assert err.value.param == "destinations" and "'candidate'" in err.value.msg
    assert not [c for c in api.calls if c[0].startswith("patch")]


def test_split_finds_the_destination_rule_in_the_host_namespace():
    obj = vs()
    for d in obj["spec"]["http"][0]["route"]:
        d["destination"]["host"] = "reviews.backend.svc.cluster.local"
    api = FakeApi([obj, dr(ns="backend"), service(ns="backend")])
    result, _tracker = set_split(api, "shop", "reviews", SPLIT)
    assert result["changed"] and api.calls.count(("list", "DestinationRule")) == 2


# ---------------------------------------------------------------- a concurrent change of the same weights

def _write_between_read_and_patch(api, edit):
    """Another writer edits the live VirtualService once, just before this flow's first patch."""
    done = []

    def writer():
        if not done:
            obj = copy.deepcopy(api.live("VirtualService", "shop", "reviews"))
            edit(obj)
            api.put(obj)
            done.append(1)

    api.before_patch = writer


def _rollback(obj):
    # An operator's emergency manual rollback: everything back to stable.
    obj["spec"]["http"][0]["route"][0]["weight"] = 100
    obj["spec"]["http"][0]["route"][1]["weight"] = 0


def _half_way():
    obj = vs()
    obj["spec"]["http"][0]["route"][0]["weight"] = 50
    obj["spec"]["http"][0]["route"][1]["weight"] = 50
    return obj


def test_concurrent_change_of_the_same_weights_fails_and_names_both():
    api = FakeApi([_half_way(), dr(), service()])
    _write_between_read_and_patch(api, _rollback)
    with pytest.raises(ConcurrentWeightChange) as err:
        set_split(api, "shop", "reviews", SPLIT)
    msg = str(err.value)
    assert "HTTP route primary" in msg and "on_concurrent_weight_change=override" in msg
    assert "read first: candidate=50, stable=50" in msg and "now: candidate=0, stable=100" in msg
    assert err.value.result_fields() == {"weights_read_first": {"stable": 50, "candidate": 50},
                                         "weights_now": {"stable": 100, "candidate": 0}}
    # The rollback stands.
    assert [d["weight"] for d in api.live("VirtualService", "shop", "reviews")["spec"]["http"][0]["route"]] == [100, 0]
    assert api.calls.count(("patch", "VirtualService")) == 1  # the refused first attempt only


def test_concurrent_change_of_the_same_weights_is_replaced_when_told_to_override():
    api = FakeApi([_half_way(), dr(), service()])
    _write_between_read_and_patch(api, _rollback)
    result, _tracker = set_split(api, "shop", "reviews", SPLIT, on_concurrent_weight_change="override")
    assert result["attempts"] == 2 and result["changed"]
    assert result["before"] == {"stable": 100, "candidate": 0}
    assert [d["weight"] for d in api.live("VirtualService", "shop", "reviews")["spec"]["http"][0]["route"]] == [90, 10]


def test_concurrent_change_to_the_requested_weights_is_not_a_conflict():
    api = FakeApi([_half_way(), dr(), service()])

    def same_as_requested(obj):
        obj["spec"]["http"][0]["route"][0]["weight"] = 90
        obj["spec"]["http"][0]["route"][1]["weight"] = 10

    _write_between_read_and_patch(api, same_as_requested)
    result, tracker = set_split(api, "shop", "reviews", SPLIT)
    assert result["attempts"] == 2 and not result["changed"] and not tracker.changed


def test_concurrent_change_of_another_field_of_the_same_route_is_merged():
    api = FakeApi([vs(), dr(), service()])
    _write_between_read_and_patch(api, lambda obj: obj["spec"]["http"][0].update(timeout="3s"))
    result, _tracker = set_split(api, "shop", "reviews", SPLIT)
    live = api.live("VirtualService", "shop", "reviews")["spec"]["http"][0]
    assert result["attempts"] == 2 and live["timeout"] == "3s"
    assert [d["weight"] for d in live["route"]] == [90, 10]


def test_unknown_concurrent_policy_is_refused_before_any_request():
    api = FakeApi([vs(), dr(), service()])
    with pytest.raises(ParameterError) as err:
        set_split(api, "shop", "reviews", SPLIT, on_concurrent_weight_change="merge")
    assert err.value.param == "on_concurrent_weight_change" and "'merge'" in err.value.msg
    assert api.calls == []


# ---------------------------------------------------------------- hosts must exist

def _host_split(host):
    return [{"host": "reviews", "weight": 90}, {"host": host, "weight": 10}]


def test_a_host_that_is_no_service_is_refused_before_writing():
    api = FakeApi([vs(), service()])
    with pytest.raises(ParameterError) as err:
        set_split(api, "shop", "reviews", _host_split("reveiws"))
    assert err.value.param == "destinations"
    assert "destinations[1].host 'reveiws' (reveiws.shop.svc.cluster.local): no such Service" in err.value.msg
    assert "destinations[0]" not in err.value.msg
    assert not [c for c in api.calls if c[0].startswith("patch")]
    assert api.live("VirtualService", "shop", "reviews")["metadata"]["resourceVersion"] == "1"


def test_a_host_known_from_a_service_entry_is_accepted():
    api = FakeApi([vs(), service(), service_entry(["*.payments.example.com"], ns="istio-system")])
    result, _tracker = set_split(api, "shop", "reviews", _host_split("api.payments.example.com"))
    assert result["changed"] and result["after"] == {"reviews.shop.svc.cluster.local": 90, "api.payments.example.com": 10}


@pytest.mark.parametrize("export_to,ns,ok", [
    (None, "shop", True), (["*"], "istio-system", True), (["."], "shop", True), (["."], "istio-system", False),
    (["shop"], "istio-system", True), (["other"], "istio-system", False), (["~"], "shop", False),
])
def test_a_service_entry_counts_only_where_it_is_exported(export_to, ns, ok):
    api = FakeApi([vs(), service(), service_entry(["api.example.com"], ns=ns, export_to=export_to)])
    if ok:
        assert set_split(api, "shop", "reviews", _host_split("api.example.com"))[0]["changed"]
    else:
        with pytest.raises(ParameterError, match="no ServiceEntry for this host visible"):
            set_split(api, "shop", "reviews", _host_split("api.example.com"))


def test_a_service_exported_only_to_its_own_namespace_is_not_visible():
    obj = vs()
    api = FakeApi([obj, service(), service("ratings", ns="backend", export_to=".")])
    with pytest.raises(ParameterError, match="ratings.backend.svc.cluster.local"):
        set_split(api, "shop", "reviews", _host_split("ratings.backend.svc.cluster.local"))
    api = FakeApi([obj, service(), service("ratings", ns="backend", export_to="shop,other")])
    assert set_split(api, "shop", "reviews", _host_split("ratings.backend.svc.cluster.local"))[0]["changed"]


def test_host_validation_can_be_turned_off_under_its_old_name_too():
    api = FakeApi([vs()])
    result, _tracker = set_split(api, "shop", "reviews", _host_split("reveiws"), validate_destinations=False)
    assert result["changed"] and api.calls == [("get", "VirtualService"), ("patch", "VirtualService")]


# ---------------------------------------------------------------- where DestinationRules count

def test_a_destination_rule_in_the_root_namespace_counts():
    api = FakeApi([vs(), service(), dict(dr(ns="istio-system"), spec={
        "host": "reviews.shop.svc.cluster.local", "subsets": [{"name": "stable"}, {"name": "candidate"}]})])
    result, _tracker = set_split(api, "shop", "reviews", SPLIT)
    assert result["changed"]
    assert [c for c in api.calls if c[0] == "list"] == [("list", "DestinationRule")] * 2  # shop, then istio-system


def test_the_root_namespace_is_an_option():
    rule = dict(dr(ns="mesh-root"), spec={
        "host": "reviews.shop.svc.cluster.local", "subsets": [{"name": "stable"}, {"name": "candidate"}]})
    with pytest.raises(ParameterError, match="no DestinationRule for this host"):
        set_split(FakeApi([vs(), service(), rule]), "shop", "reviews", SPLIT)
    assert set_split(FakeApi([vs(), service(), rule]), "shop", "reviews", SPLIT, root_namespace="mesh-root")[0]["changed"]


def test_the_client_namespace_rule_wins_over_the_root_one():
    root = dict(dr(ns="istio-system"), spec={
        "host": "reviews.shop.svc.cluster.local", "subsets": [{"name": "stable"}, {"name": "candidate"}]})
    api = FakeApi([vs(), service(), dr(subsets=("stable",)), root])
    with pytest.raises(ParameterError, match="'candidate' of reviews.shop.svc.cluster.local: not defined"):
        set_split(api, "shop", "reviews", SPLIT)


def test_a_destination_rule_not_exported_to_the_client_does_not_count():
    hidden = dr(ns="backend")
    hidden["spec"]["exportTo"] = ["."]
    obj = vs()
    for d in obj["spec"]["http"][0]["route"]:
        d["destination"]["host"] = "reviews.backend.svc.cluster.local"
    api = FakeApi([obj, service(ns="backend"), hidden])
    with pytest.raises(ParameterError, match="no DestinationRule for this host"):
        set_split(api, "shop", "reviews", SPLIT)
    hidden["spec"]["exportTo"] = ["shop"]
    assert set_split(FakeApi([obj, service(ns="backend"), hidden]), "shop", "reviews", SPLIT)[0]["changed"]


# ---------------------------------------------------------------- reports

def test_a_lone_destination_with_weight_0_is_reported_as_all_the_traffic():
    obj = vs()
    obj["spec"]["http"][0]["route"] = [{"destination": {"host": "reviews", "subset": "stable"}, "weight": 0}]
    api = FakeApi([obj, dr(), service()])
    result, _tracker = set_split(api, "shop", "reviews", SPLIT)
    assert result["before"] == {"stable": 100}
    assert result["after"] == {"stable": 90, "candidate": 10}


def test_changed_and_diff_come_from_one_place():
    api = FakeApi([vs(), dr(), service()])
    for split, changed in ((SPLIT, True), (SPLIT, False)):
        result, tracker = set_split(api, "shop", "reviews", split)
        assert result["changed"] is tracker.changed is changed
        assert (tracker.diff()["before"] != tracker.diff()["after"]) is changed
