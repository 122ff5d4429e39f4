"""set_splits: several VirtualServices in one call, every one read and checked before any is written.

Against the in-memory API (tests/support/fake_istio.py); the real API server in
tests/integration/istio_resources/test_traffic_split.py.
"""

import copy

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._flows.set_split import set_splits
from support.fake_istio import FakeApi, service


def vs(name):
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"hosts": [name], "http": [
                {"name": "primary", "route": [
                    {"destination": {"host": name, "subset": "stable"}, "weight": 100},
                    {"destination": {"host": name, "subset": "candidate"}, "weight": 0}]}]}}


def dr(name, subsets=("stable", "candidate")):
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"host": name, "subsets": [{"name": s} for s in subsets]}}


NAMES = ("a", "b", "c", "d")


def bed(names=NAMES, subsets=None):
    objs = []
    for n in names:
        objs += [vs(n), dr(n, (subsets or {}).get(n, ("stable", "candidate"))), service(n)]
    return FakeApi(objs)


def items(names=NAMES, stable=70, **more):
    out = []
    for n in names:
        item = dict(namespace="shop", name=n, route=None,
                    destinations=[{"subset": "stable", "weight": stable}, {"subset": "candidate", "weight": 100 - stable}])
        item.update(more.get(n, {}))
        out.append(item)
    return out


def weights(api, name):
    return [d["weight"] for d in api.objects[("VirtualService", "shop", name)]["spec"]["http"][0]["route"]]


def patches(api):
    return [c for c in api.calls if c[0].startswith("patch")]


def test_each_is_read_once_checked_once_per_namespace_and_written_once():
    api = bed()
    results, trackers = set_splits(api, items())
    assert [r["changed"] for r in results] == [True] * 4 and all(t.changed for t in trackers)
    assert all(weights(api, n) == [70, 30] for n in NAMES)
    assert api.calls.count(("get", "VirtualService")) == 4
    assert api.calls.count(("patch", "VirtualService")) == 4
    # One list of DestinationRules for the namespace, whatever the number of VirtualServices.
    assert api.calls.count(("list", "DestinationRule")) == 1
    assert [r["attempts"] for r in results] == [1] * 4


def test_every_item_is_checked_before_any_is_written():
    api = bed(subsets={"c": ("stable",)})
    with pytest.raises(RolloutsError) as err:
        set_splits(api, items())
    assert err.value.param == "virtual_services[2].destinations"
    assert str(err.value).startswith("virtual_services[2].destinations: ") and "'candidate'" in str(err.value)
    assert patches(api) == [] and all(weights(api, n) == [100, 0] for n in NAMES)


@pytest.mark.parametrize("bad,param", [
    ({"b": {"destinations": [{"subset": "stable", "weight": 60}]}}, "virtual_services[1].destinations[0].weight"),
    ({"d": {"name": "missing"}}, "virtual_services[3].name"),
    ({"a": {"route": "nope"}}, "virtual_services[0].route"),
])
def test_bad_input_names_the_item_and_writes_nothing(bad, param):
    api = bed()
    with pytest.raises(RolloutsError) as err:
        set_splits(api, items(**bad))
    assert err.value.param == param
    assert patches(api) == []


def test_nothing_to_change_writes_nothing():
    api = bed()
    set_splits(api, items())
    api.calls = []
    results, _trackers = set_splits(api, items(), validate_destinations=False)
    assert [r["changed"] for r in results] == [False] * 4
    assert api.calls == [("get", "VirtualService")] * 4


def test_check_mode_dry_runs_every_one():
    api = bed()
    results, _trackers = set_splits(api, items(), check_mode=True)
    assert all(r["changed"] for r in results)
    assert api.calls.count(("patch-dry", "VirtualService")) == 4 and ("patch", "VirtualService") not in api.calls
    assert all(weights(api, n) == [100, 0] for n in NAMES)


def test_a_concurrent_write_of_another_field_is_kept_and_the_change_retried():
    api = bed()
    done = []

    def other_writer():
        if not done:
            obj = copy.deepcopy(api.objects[("VirtualService", "shop", "a")])
            obj["spec"]["hosts"].append("a.example.com")
            api.put(obj)
            done.append(1)

    api.before_patch = other_writer
    results, _trackers = set_splits(api, items())
    assert results[0]["attempts"] == 2 and weights(api, "a") == [70, 30]
    assert api.objects[("VirtualService", "shop", "a")]["spec"]["hosts"] == ["a", "a.example.com"]


def test_a_concurrent_weight_change_fails_naming_the_item_and_what_was_written():
    api = bed()
    calls = []

    def operator_rollback():
        calls.append(1)
        if len(calls) == 2:  # between the check of every item and the write of the second
            obj = copy.deepcopy(api.objects[("VirtualService", "shop", "b")])
            obj["spec"]["http"][0]["route"][0]["weight"] = 0
            obj["spec"]["http"][0]["route"][1]["weight"] = 100
            api.put(obj)

    api.before_patch = operator_rollback
    with pytest.raises(RolloutsError) as err:
        set_splits(api, items())
    assert str(err.value).startswith("virtual_services[1]")
    assert "changed by someone else" in str(err.value)
    assert err.value.result["written"] == ["shop/a"] and err.value.result["changed"] is True
    assert weights(api, "b") == [0, 100] and weights(api, "c") == [100, 0]


def test_override_replaces_a_concurrent_weight_change():
    api = bed()
    calls = []

    def operator():
        calls.append(1)
        if len(calls) == 1:
            obj = copy.deepcopy(api.objects[("VirtualService", "shop", "a")])
            obj["spec"]["http"][0]["route"][0]["weight"] = 50
            obj["spec"]["http"][0]["route"][1]["weight"] = 50
            api.put(obj)

    api.before_patch = operator
    results, _trackers = set_splits(api, items(), on_concurrent_weight_change="override")
    assert results[0]["attempts"] == 2 and weights(api, "a") == [70, 30]
