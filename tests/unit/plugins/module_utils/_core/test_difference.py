"""One difference computation feeds changed and diff."""

from ansible_collections.rollouts.istio.plugins.module_utils._core import difference as D


def test_differences_nested():
    before = {"spec": {"hosts": ["a"], "http": [{"route": [{"weight": 100}]}]}, "x": 1}
    after = {"spec": {"hosts": ["a"], "http": [{"route": [{"weight": 90}]}]}, "y": 2}
    assert D.differences(before, after) == [
        ("spec.http[0].route[0].weight", 100, 90),
        ("x", 1, None),
        ("y", None, 2),
    ]


def test_list_length_change_is_one_difference():
    assert D.differences({"a": [1]}, {"a": [1, 2]}) == [("a", [1], [1, 2])]


def test_bool_and_int_differ():
    assert D.differences({"a": 1}, {"a": True}) == [("a", 1, True)]


def test_tracker_changed_and_diff_agree():
    same = D.DifferenceTracker({"a": 1}, {"a": 1})
    assert not same.changed and same.changes == []
    t = D.DifferenceTracker({"a": 1}, {"a": 2}, header="VS ns/x")
    assert t.changed
    assert t.changes == [{"path": "a", "before": 1, "after": 2}]
    assert t.diff() == {"before": {"a": 1}, "after": {"a": 2}, "before_header": "VS ns/x", "after_header": "VS ns/x"}


def test_tracker_absent_side_is_empty_dict():
    assert D.DifferenceTracker(None, {"a": 1}).diff() == {"before": {}, "after": {"a": 1}}


def test_comparable_strips_server_fields():
    live = {
        "apiVersion": "v1", "kind": "X", "status": {"s": 1},
        "metadata": {"name": "n", "resourceVersion": "5", "generation": 2, "uid": "u", "managedFields": [],
                     "creationTimestamp": "t",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"a": 1},
    }
    assert D.comparable(live) == {"apiVersion": "v1", "kind": "X", "metadata": {"name": "n"}, "spec": {"a": 1}}
    assert "status" in live  # the input is not changed
    assert D.comparable(None) == {}


def test_is_subset():
    live = {"spec": {"hosts": ["a"], "http": [{"name": "r", "timeout": "5s", "route": [{"w": 1}]}]}, "x": 1}
    assert D.is_subset({"spec": {"http": [{"name": "r"}]}}, live)
    assert not D.is_subset({"spec": {"http": [{"name": "r"}, {"name": "s"}]}}, live)
    assert not D.is_subset({"spec": {"hosts": ["b"]}}, live)
    assert not D.is_subset({"missing": 1}, live)
    assert not D.is_subset({"x": True}, {"x": 1})
