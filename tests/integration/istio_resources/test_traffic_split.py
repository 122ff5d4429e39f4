"""rollouts.istio.traffic_split against a real API server: exact, minimal and safe."""

import copy
import json

import pytest

from support.istio_objects import (
    app_objects,
    apply_yaml,
    destination_rule,
    get_raw,
    module_requests,
    play,
    rich_virtual_service,
)
from support.kube import kubectl

VS = "reviews"


def split_task(namespace, destinations, **extra):
    args = {"name": VS, "namespace": namespace, "destinations": destinations}
    args.update(extra)
    return {"name": "split", "rollouts.istio.traffic_split": args}


def weights(stable, candidate):
    return [{"subset": "stable", "weight": stable}, {"subset": "candidate", "weight": candidate}]


def primary_weights(namespace):
    return [d["weight"] for d in get_raw(namespace, "virtualservice", VS)["spec"]["http"][1]["route"]]


def without_volatile(obj):
    obj = copy.deepcopy(obj)
    for key in ("resourceVersion", "generation", "managedFields"):
        obj["metadata"].pop(key, None)
    return obj


def dump(obj):
    """The exact JSON text of an object as the server gave it (key order included)."""
    return json.dumps(obj, sort_keys=False, separators=(",", ":"))


def test_split_changes_only_the_weights(mesh_app):
    ns = mesh_app
    before = get_raw(ns, "virtualservice", VS)
    res = play([split_task(ns, weights(90, 10), route="primary")])
    task = res[0]
    assert not task.get("failed"), task
    assert task["changed"] is True
    assert task["before"] == {"stable": 100, "candidate": 0}
    assert task["after"] == {"stable": 90, "candidate": 10}
    assert task["route"] == "primary" and task["route_index"] == 1

    after = get_raw(ns, "virtualservice", VS)
    expected = without_volatile(before)
    expected["spec"]["http"][1]["route"][0]["weight"] = 90
    expected["spec"]["http"][1]["route"][1]["weight"] = 10
    assert without_volatile(after) == expected
    # Byte for byte: the other route, and the fields of this route the module does not model.
    assert dump(after["spec"]["http"][0]) == dump(before["spec"]["http"][0])
    for field in ("timeout", "retries", "headers", "corsPolicy", "mirrorPercentage"):
        assert dump(after["spec"]["http"][1][field]) == dump(before["spec"]["http"][1][field])
    assert dump(after["spec"]["http"][1]["route"][0]["headers"]) == dump(before["spec"]["http"][1]["route"][0]["headers"])
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]
    assert task["object"]["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"]


def test_same_split_twice_writes_once(mesh_app, audit):
    ns = mesh_app
    first = play([split_task(ns, weights(80, 20))])[0]  # the default route: the only one without match
    assert first["changed"] and first["route"] == "primary"
    mark = audit.mark()
    second = play([split_task(ns, weights(80, 20))])[0]
    assert second["changed"] is False and not second.get("failed")
    assert second["before"] == second["after"] == {"stable": 80, "candidate": 20}
    assert module_requests(audit, mark, ns, writes=True) == []
    reads = audit.events(mark, namespace=ns, resource="virtualservices")
    assert [e.verb for e in reads] == ["get"]


def test_one_change_is_one_read_and_one_write_of_the_virtual_service(mesh_app, audit):
    ns = mesh_app
    mark = audit.mark()
    assert play([split_task(ns, weights(70, 30))])[0]["changed"]
    vs_events = audit.events(mark, namespace=ns, resource="virtualservices")
    assert [e.verb for e in vs_events] == ["get", "patch"]
    dr_events = audit.events(mark, namespace=ns, resource="destinationrules")
    assert [e.verb for e in dr_events] == ["list"]  # the subset check
    mark = audit.mark()
    assert play([split_task(ns, weights(60, 40), validate_subsets=False)])[0]["changed"]
    assert [e.verb for e in module_requests(audit, mark, ns)] == ["get", "patch"]


def test_check_mode_writes_nothing_and_reports_the_change(mesh_app, audit):
    ns = mesh_app
    before = get_raw(ns, "virtualservice", VS)
    mark = audit.mark()
    task = play([split_task(ns, weights(50, 50))], check=True, diff=True)[0]
    assert task["changed"] is True and not task.get("failed")
    assert task["after"] == {"stable": 50, "candidate": 50}
    # The server's dry run answered with the object as it would be.
    assert [d["weight"] for d in task["object"]["spec"]["http"][1]["route"]] == [50, 50]
    assert module_requests(audit, mark, ns, writes=True) == []
    dry = [e for e in module_requests(audit, mark, ns) if e.is_write]
    assert dry and all(e.dry_run for e in dry)
    assert get_raw(ns, "virtualservice", VS) == before
    assert task["diff"]["before"]["route"][0]["weight"] == 100
    assert task["diff"]["after"]["route"][0]["weight"] == 50


def test_diff_shows_the_route_before_and_after(mesh_app):
    task = play([split_task(mesh_app, weights(95, 5))], diff=True)[0]
    diff = task["diff"]
    assert diff["before"]["name"] == diff["after"]["name"] == "primary"
    assert [d["weight"] for d in diff["before"]["route"]] == [100, 0]
    assert [d["weight"] for d in diff["after"]["route"]] == [95, 5]
    assert "primary" in diff["before_header"]


def test_new_destination_is_appended_and_unnamed_ones_removed(mesh_app):
    ns = mesh_app
    task = play([split_task(ns, [{"subset": "candidate", "weight": 100}], route="primary")])[0]
    assert task["changed"] and task["after"] == {"candidate": 100}
    route = get_raw(ns, "virtualservice", VS)["spec"]["http"][1]["route"]
    assert route == [{"destination": {"host": VS, "subset": "candidate", "port": {"number": 9080}}, "weight": 100}]
    task = play([split_task(ns, weights(100, 0), route="primary")])[0]
    route = get_raw(ns, "virtualservice", VS)["spec"]["http"][1]["route"]
    assert task["before"] == {"candidate": 100} and task["after"] == {"stable": 100, "candidate": 0}
    # A subset added back goes to the port its host is already sent to (a Service with several ports needs it).
    assert route[1] == {"destination": {"host": VS, "subset": "stable", "port": {"number": 9080}}, "weight": 100}


@pytest.mark.parametrize("destinations,extra,param,fragment", [
    (weights(100, 10), {}, "destinations", "add up to 110"),
    ([{"subset": "stable", "weight": 150}, {"subset": "candidate", "weight": -50}], {}, "destinations[0].weight",
     "from 0 to 100"),
    ([{"subset": "stable", "weight": 50}, {"subset": "stable", "weight": 50}], {}, "destinations[1]", "same destination"),
    ([{"subset": "stable", "weight": 90}, {"subset": "nightly", "weight": 10}], {}, "destinations",
     "subset 'nightly' of reviews"),
    (weights(90, 10), {"route": "nope"}, "route", "no HTTP route named 'nope'"),
    # A typo in a host would send that share of production traffic to a Service that does not exist.
    ([{"host": "reviews", "weight": 90}, {"host": "reveiws", "weight": 10}], {}, "destinations",
     "destinations[1].host 'reveiws'"),
    ([{"host": "reviews", "weight": 90}, {"host": "api.payments.example.com", "weight": 10}], {}, "destinations",
     "no ServiceEntry for this host"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(mesh_app, audit, destinations, extra, param, fragment):
    ns = mesh_app
    before = get_raw(ns, "virtualservice", VS)
    mark = audit.mark()
    task = play([split_task(ns, destinations, **extra)])[0]
    assert task.get("failed") is True
    assert task["param"] == param
    assert task["msg"].startswith(param + ":") and fragment in task["msg"], task["msg"]
    assert module_requests(audit, mark, ns, writes=True) == []
    assert get_raw(ns, "virtualservice", VS) == before


def test_missing_virtual_service(namespace, audit):
    mark = audit.mark()
    task = play([split_task(namespace, weights(90, 10))])[0]
    assert task["failed"] and task["msg"] == "name: VirtualService reviews not found in namespace %s" % namespace
    assert audit.writes(mark, namespace=namespace) == []


def test_missing_namespace(cluster, audit):
    mark = audit.mark()
    task = play([split_task("no-such-namespace-4711", weights(90, 10))])[0]
    assert task["failed"] and task["msg"] == "namespace no-such-namespace-4711 does not exist"
    assert audit.writes(mark, namespace="no-such-namespace-4711") == []


def test_no_destination_rule_for_the_host(namespace, audit):
    # The Service exists (a missing host is reported as such, before its subsets).
    apply_yaml(namespace, app_objects(namespace)[:1] + [rich_virtual_service(namespace)])
    mark = audit.mark()
    task = play([split_task(namespace, weights(90, 10))])[0]
    assert task["failed"] and "no DestinationRule for this host" in task["msg"]
    assert audit.writes(mark, namespace=namespace) == []
    # The check can be turned off.
    task = play([split_task(namespace, weights(90, 10), validate_subsets=False)])[0]
    assert task["changed"] and not task.get("failed")


def test_api_version_can_be_forced(mesh_app):
    task = play([split_task(mesh_app, weights(85, 15), api_version="networking.istio.io/v1beta1")])[0]
    assert task["changed"] and task["api_version"] == "networking.istio.io/v1beta1"
    task = play([split_task(mesh_app, weights(85, 15), api_version="v2")])[0]
    assert task["failed"] and "api_version" in task["msg"]


# ---------------------------------------------------------------- concurrent writers
# These drive the module's code in this process, so a second writer can act exactly between the
# module's read and its write; the API server, its 409 Conflict and the objects are real.

def _api(cluster):
    from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import IstioApi
    from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_client import client_from_params
    return IstioApi(client_from_params({"kubeconfig": cluster["kubeconfig"]}))


class Interleaved(object):
    """An IstioApi whose next `times` patches are each preceded by another writer's edit."""

    def __init__(self, api, edit, times=1):
        self._api = api
        self._edit = edit
        self.times = times
        self.patches = 0

    def __getattr__(self, name):
        return getattr(self._api, name)

    def json_patch(self, *args, **kwargs):
        self.patches += 1
        if self.patches <= self.times:
            self._edit(self.patches)
        return self._api.json_patch(*args, **kwargs)


def test_concurrent_writer_keeps_its_change(cluster, mesh_app, audit):
    from ansible_collections.rollouts.istio.plugins.module_utils._flows.set_split import set_split
    ns = mesh_app

    def other_writer(_n):
        # Someone retunes the testers route and annotates the object meanwhile.
        kubectl("-n", ns, "patch", "virtualservice.networking.istio.io", VS, "--type=json", "-p", json.dumps([
            {"op": "replace", "path": "/spec/http/0/timeout", "value": "3s"},
            {"op": "add", "path": "/metadata/annotations/edited-by", "value": "other-writer"},
        ]))

    api = Interleaved(_api(cluster), other_writer)
    mark = audit.mark()
    result, tracker = set_split(api, ns, VS, weights(75, 25), route="primary")
    assert tracker.changed
    assert result["changed"] and result["attempts"] == 2
    after = get_raw(ns, "virtualservice", VS)
    assert after["spec"]["http"][0]["timeout"] == "3s"
    assert after["metadata"]["annotations"]["edited-by"] == "other-writer"
    assert [d["weight"] for d in after["spec"]["http"][1]["route"]] == [75, 25]
    codes = [e.code for e in audit.events(mark, namespace=ns, resource="virtualservices", verb="patch")
             if e.user != "system:apiserver"]
    assert 409 in codes  # our first write was refused, not merged over the other writer


def test_concurrent_reorder_never_lands_on_another_route(cluster, mesh_app):
    from ansible_collections.rollouts.istio.plugins.module_utils._flows.set_split import set_split
    ns = mesh_app

    def swap_routes(_n):
        vs = get_raw(ns, "virtualservice", VS)
        vs["spec"]["http"].reverse()
        kubectl("-n", ns, "replace", "-f", "-", input=json.dumps(vs))

    result = set_split(Interleaved(_api(cluster), swap_routes), ns, VS, weights(60, 40), route="primary")[0]
    assert result["attempts"] == 2 and result["route_index"] == 0
    after = get_raw(ns, "virtualservice", VS)
    assert after["spec"]["http"][0]["name"] == "primary"
    assert [d["weight"] for d in after["spec"]["http"][0]["route"]] == [60, 40]
    assert after["spec"]["http"][1]["name"] == "testers" and "weight" not in after["spec"]["http"][1]["route"][0]


def test_conflict_retries_are_bounded(cluster, mesh_app):
    from ansible_collections.rollouts.istio.plugins.module_utils._edges.istio_api import IstioError
    from ansible_collections.rollouts.istio.plugins.module_utils._flows.set_split import set_split
    ns = mesh_app

    def always(n):
        kubectl("-n", ns, "annotate", "--overwrite", "virtualservice.networking.istio.io", VS, "round=%d" % n)

    api = Interleaved(_api(cluster), always, times=100)
    with pytest.raises(IstioError) as err:
        set_split(api, ns, VS, weights(60, 40), max_retries=2)
    assert "conflict retries exhausted" in err.value.msg and "after 3 attempts" in err.value.msg
    assert api.patches == 3
    assert [d["weight"] for d in get_raw(ns, "virtualservice", VS)["spec"]["http"][1]["route"]] == [100, 0]


def emergency_rollback(ns):
    """An operator's manual rollback of the primary route, between the module's read and its write."""
    def edit(_n):
        kubectl("-n", ns, "patch", "virtualservice.networking.istio.io", VS, "--type=json", "-p", json.dumps([
            {"op": "replace", "path": "/spec/http/1/route/0/weight", "value": 100},
            {"op": "replace", "path": "/spec/http/1/route/1/weight", "value": 0},
        ]))
    return edit


def test_concurrent_change_of_the_same_weights_is_not_overwritten(cluster, mesh_app, audit):
    from ansible_collections.rollouts.istio.plugins.module_utils._flows.set_split import (
        ConcurrentWeightChange,
        set_split,
    )
    ns = mesh_app
    assert play([split_task(ns, weights(50, 50), route="primary")])[0]["changed"]

    api = Interleaved(_api(cluster), emergency_rollback(ns))
    mark = audit.mark()
    with pytest.raises(ConcurrentWeightChange) as err:
        set_split(api, ns, VS, weights(25, 75), route="primary")
    assert "read first: candidate=50, stable=50; now: candidate=0, stable=100" in str(err.value)
    assert err.value.result_fields() == {"weights_read_first": {"stable": 50, "candidate": 50},
                                         "weights_now": {"stable": 100, "candidate": 0}}
    assert primary_weights(ns) == [100, 0]  # the rollback stands
    codes = [e.code for e in audit.events(mark, namespace=ns, resource="virtualservices", verb="patch")
             if e.user != "system:apiserver"]
    assert codes == [200, 409]  # the rollback, then our one refused attempt: no second write


def test_concurrent_change_of_the_same_weights_is_replaced_when_told(cluster, mesh_app):
    from ansible_collections.rollouts.istio.plugins.module_utils._flows.set_split import set_split
    ns = mesh_app
    assert play([split_task(ns, weights(50, 50), route="primary")])[0]["changed"]

    result, _tracker = set_split(Interleaved(_api(cluster), emergency_rollback(ns)), ns, VS, weights(25, 75),
                                 route="primary", on_concurrent_weight_change="override")
    assert result["attempts"] == 2 and result["before"] == {"stable": 100, "candidate": 0}
    assert primary_weights(ns) == [25, 75]


def test_the_module_fails_on_a_concurrent_weight_change_option_value(mesh_app):
    task = play([split_task(mesh_app, weights(90, 10), on_concurrent_weight_change="merge")])[0]
    assert task["failed"] and "on_concurrent_weight_change" in task["msg"]


def test_a_service_entry_host_may_be_split_to(mesh_app, audit):
    ns = mesh_app
    apply_yaml(ns, [{"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
                     "metadata": {"name": "payments", "namespace": ns},
                     "spec": {"hosts": ["*.payments.example.com"], "location": "MESH_EXTERNAL", "resolution": "DNS",
                              "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}]}}])
    mark = audit.mark()
    task = play([split_task(ns, [{"host": "reviews", "weight": 90}, {"host": "api.payments.example.com", "weight": 10}],
                            route="primary")])[0]
    assert task["changed"] and not task.get("failed"), task
    assert task["after"] == {"%s.%s.svc.cluster.local" % (VS, ns): 90, "api.payments.example.com": 10}
    reads = [(e.verb, e.resource) for e in module_requests(audit, mark, ns) if not e.is_write]
    assert ("get", "services") in reads and ("list", "serviceentries") in reads


def test_destination_rules_follow_istios_lookup_order_and_export_to(namespace, second_namespace, audit):
    """The host's rule is in another namespace, or in the mesh root; exportTo decides whether it counts."""
    ns, root = namespace, second_namespace
    vs = rich_virtual_service(ns)
    apply_yaml(ns, app_objects(ns)[:1] + [vs])
    rule = destination_rule(root)
    rule["spec"]["host"] = "%s.%s.svc.cluster.local" % (VS, ns)
    rule["spec"]["exportTo"] = ["."]
    apply_yaml(root, [rule])
    # Not exported to the VirtualService's namespace: as if it were not there.
    task = play([split_task(ns, weights(90, 10), root_namespace=root)])[0]
    assert task["failed"] and "no DestinationRule for this host" in task["msg"], task
    rule["spec"]["exportTo"] = [ns]
    apply_yaml(root, [rule])
    # Without the root namespace option it is not looked for there.
    task = play([split_task(ns, weights(90, 10))])[0]
    assert task["failed"] and "no DestinationRule for this host" in task["msg"], task
    mark = audit.mark()
    task = play([split_task(ns, weights(90, 10), root_namespace=root)])[0]
    assert task["changed"] and not task.get("failed"), task
    assert [e.namespace for e in audit.events(mark, resource="destinationrules")
            if e.namespace in (ns, root)] == [ns, root]


@pytest.mark.parametrize("module,args,param", [
    ("traffic_split", {"name": "", "namespace": "{ns}", "destinations": weights(90, 10)}, "name"),
    ("traffic_split", {"name": "Reviews", "namespace": "{ns}", "destinations": weights(90, 10)}, "name"),
    ("traffic_split", {"name": "reviews", "namespace": "Shop", "destinations": weights(90, 10)}, "namespace"),
    ("traffic_split", {"name": "reviews", "namespace": "{ns}", "destinations": weights(90, 10),
                       "max_conflict_retries": -1}, "max_conflict_retries"),
    ("virtual_service_info", {"name": "", "namespace": "{ns}"}, "name"),
    ("virtual_service_info", {"name": "Reviews", "namespace": "{ns}"}, "name"),
    ("gateway", {"name": "Shop", "namespace": "{ns}", "state": "absent"}, "name"),
    ("destination_rule", {"name": "reviews", "namespace": "{ns}.x", "state": "absent"}, "namespace"),
    ("virtual_service", {"name": "", "namespace": "{ns}", "state": "absent"}, "name"),
])
def test_names_are_checked_before_any_request(mesh_app, audit, module, args, param):
    ns = mesh_app
    args = dict((k, v.format(ns=ns) if isinstance(v, str) else v) for k, v in args.items())
    mark = audit.mark()
    task = play([{"name": "bad", "rollouts.istio." + module: args}])[0]
    assert task["failed"] and task["param"] == param and task["msg"].startswith(param + ": "), task
    assert "upper-case" in task["msg"] or "give the" in task["msg"] or "not a valid" in task["msg"] \
        or "at least 0" in task["msg"]
    assert module_requests(audit, mark, ns) == []


# The action plugin runs the module's code in the controller's worker when the task runs there; async
# (like become or a delegation to another host) runs the module as a module. Both give the same result.
SAME_KEYS = ("changed", "before", "after", "route", "route_index", "attempts", "api_version", "failed", "msg", "param")


def _same_keys(task):
    return dict((k, task.get(k)) for k in SAME_KEYS)


def test_the_module_as_a_module_gives_the_action_plugins_result(mesh_app):
    ns = mesh_app
    as_module = dict(split_task(ns, weights(70, 30), route="primary"), **{"async": 60, "poll": 1})
    here = split_task(ns, weights(60, 40), route="primary")
    module_result, plugin_result = play([as_module])[0], play([here])[0]
    assert "ansible_job_id" in module_result and "ansible_job_id" not in plugin_result
    assert module_result["changed"] and plugin_result["changed"] and not plugin_result.get("failed")
    assert module_result["after"] == {"stable": 70, "candidate": 30} and plugin_result["before"] == module_result["after"]
    assert (module_result["invocation"]["module_args"]["destinations"]
            == [dict(d, host=None) for d in weights(70, 30)])
    assert (plugin_result["invocation"]["module_args"]["destinations"]
            == [dict(d, host=None) for d in weights(60, 40)])
    for task in (split_task(ns, weights(60, 40), route="primary"), split_task(ns, weights(50, 60)),
                 split_task(ns, weights(50, 50), route="nope"),
                 split_task(ns, [{"subset": "stable", "weight": 50}, {"subset": "canary", "weight": 50}])):
        module_result = play([dict(task, **{"async": 60, "poll": 1})])[0]
        plugin_result = play([task])[0]
        assert _same_keys(module_result) == _same_keys(plugin_result)
    assert primary_weights(ns) == [60, 40]


def _more_virtual_services(ns, count):
    names = ["reviews-%d" % i for i in range(count)]
    objs = []
    for name in names:
        # Another VirtualService of the same host (its Service and DestinationRule are mesh_app's).
        obj = rich_virtual_service(ns, name=name)
        for route in obj["spec"]["http"]:
            for dest in route["route"]:
                dest["destination"]["host"] = VS
        objs.append(obj)
    apply_yaml(ns, objs)
    return names


def _batch_task(ns, names, stables, **extra):
    args = {"namespace": ns, "virtual_services": [
        {"name": n, "route": "primary", "destinations": weights(s, 100 - s)} for n, s in zip(names, stables)]}
    args.update(extra)
    return {"name": "split many", "rollouts.istio.traffic_split": args}


def test_virtual_services_shifts_each_reading_the_destination_rules_once(mesh_app, audit):
    ns = mesh_app
    names = _more_virtual_services(ns, 3)
    mark = audit.mark()
    task = play([_batch_task(ns, names, [90, 80, 70])], diff=True)[0]
    events = module_requests(audit, mark, ns)  # before this test's own reads
    assert not task.get("failed"), task
    assert task["changed"] is True
    assert [(r["name"], r["after"]) for r in task["results"]] == [
        (n, {"stable": s, "candidate": 100 - s}) for n, s in zip(names, (90, 80, 70))]
    assert [d["weight"] for n in names for d in get_raw(ns, "virtualservice", n)["spec"]["http"][1]["route"]] == [
        90, 10, 80, 20, 70, 30]
    assert len(task["diff"]) == 3
    assert sorted((e.verb, e.resource) for e in events) == sorted(
        [("get", "virtualservices")] * 3 + [("get", "services"), ("list", "destinationrules")]
        + [("patch", "virtualservices")] * 3)
    # The same again: reads only.
    mark = audit.mark()
    again = play([_batch_task(ns, names, [90, 80, 70])])[0]
    assert again["changed"] is False and not again.get("failed")
    assert module_requests(audit, mark, ns, writes=True) == []


def test_virtual_services_with_one_bad_item_writes_nothing_and_names_it(mesh_app, audit):
    ns = mesh_app
    names = _more_virtual_services(ns, 3)
    before = [get_raw(ns, "virtualservice", n) for n in names]
    task = _batch_task(ns, names, [90, 80, 70])
    task["rollouts.istio.traffic_split"]["virtual_services"][2]["destinations"][1]["subset"] = "canary"
    mark = audit.mark()
    result = play([task])[0]
    assert result["failed"] and result["changed"] is False
    assert result["msg"].startswith("virtual_services[2].destinations: ") and "'canary'" in result["msg"]
    assert module_requests(audit, mark, ns, writes=True) == []
    assert [get_raw(ns, "virtualservice", n) for n in names] == before
    task = _batch_task(ns, names, [90, 80, 70])
    task["rollouts.istio.traffic_split"]["virtual_services"][1]["destinations"][0]["weight"] = 50
    result = play([task])[0]
    assert result["failed"] and result["msg"].startswith("virtual_services[1].destinations")
    assert module_requests(audit, mark, ns, writes=True) == []


def test_virtual_services_in_check_mode_dry_run_each(mesh_app, audit):
    ns = mesh_app
    names = _more_virtual_services(ns, 2)
    mark = audit.mark()
    task = play([_batch_task(ns, names, [50, 40])], check=True)[0]
    assert task["changed"] is True and not task.get("failed")
    assert module_requests(audit, mark, ns, writes=True) == []
    dry = [e for e in module_requests(audit, mark, ns) if e.is_write]
    assert len(dry) == 2 and all(e.dry_run for e in dry)
