"""gateway, destination_rule and virtual_service: create, same again, check mode, diff, update, delete."""

import shutil
import subprocess

import pytest

from support.istio_objects import apply_yaml, get_raw, play

CASES = {
    "gateway": {
        "kind": "gateway",
        "create": {"servers": [{"hosts": ["shop.example.com"], "port": {"number": 80}}]},
        "update": {"servers": [{"hosts": ["shop.example.com"], "port": {"number": 80}},
                               {"hosts": ["shop.example.com"], "port": {"number": 443, "protocol": "HTTPS"},
                                "tls": {"mode": "SIMPLE", "credentialName": "shop-cert"}}]},
        "check": lambda obj: obj["spec"]["selector"] == {"istio": "ingressgateway"}
        and obj["spec"]["servers"][0]["port"] == {"number": 80, "name": "http-80", "protocol": "HTTP"},
        "changed_path": "spec.servers",
    },
    "destination_rule": {
        "kind": "destinationrule",
        "create": {"service": "reviews", "subsets": [{"name": "stable", "version": "v1"},
                                                     {"name": "candidate", "version": "v2"}]},
        "update": {"service": "reviews", "subsets": [{"name": "stable", "version": "v1"},
                                                     {"name": "candidate", "version": "v2"}],
                   "traffic_policy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}},
        "check": lambda obj: obj["spec"]["subsets"][1] == {"name": "candidate", "labels": {"version": "v2"}},
        "changed_path": "spec.trafficPolicy",
    },
    "virtual_service": {
        "kind": "virtualservice",
        "create": {"hosts": ["reviews"], "http": [{
            "name": "primary",
            "destinations": [{"host": "reviews", "subset": "stable", "weight": 100},
                             {"host": "reviews", "subset": "candidate", "weight": 0}],
            "retries": {"attempts": 3, "perTryTimeout": "2s"}, "timeout": "10s"}]},
        "update": {"hosts": ["reviews"], "http": [{
            "name": "primary",
            "destinations": [{"host": "reviews", "subset": "stable", "weight": 100},
                             {"host": "reviews", "subset": "candidate", "weight": 0}],
            "retries": {"attempts": 3, "perTryTimeout": "2s"}, "timeout": "20s"}]},
        "check": lambda obj: obj["spec"]["http"][0]["route"][0] == {
            "destination": {"host": "reviews", "subset": "stable"}, "weight": 100},
        "changed_path": "spec.http[0].timeout",
    },
}


def task(module, namespace, args=None, state=None, name="shop"):
    params = {"name": name, "namespace": namespace}
    params.update(args or {})
    if state:
        params["state"] = state
    return {"name": module, "rollouts.istio.%s" % module: params}


@pytest.mark.parametrize("module", sorted(CASES))
def test_lifecycle(module, namespace, audit):
    case = CASES[module]
    kind = case["kind"]

    # Check mode on nothing: a change is predicted, nothing is written.
    mark = audit.mark()
    res = play([task(module, namespace, case["create"])], check=True, diff=True)[0]
    assert res["changed"] is True and not res.get("failed"), res
    assert res["diff"]["before"] == {} and res["diff"]["after"]["spec"]
    assert audit.writes(mark, namespace=namespace) == []
    assert get_raw(namespace, kind, "shop") is None

    # Create, then the same again.
    res = play([task(module, namespace, case["create"])] * 2, diff=True)
    first, second = res[0], res[1]
    assert first["changed"] is True and not first.get("failed"), first
    assert case["check"](first["result"])
    assert first["api_version"] == "networking.istio.io/v1"
    assert second["changed"] is False and second["changes"] == []
    live = get_raw(namespace, kind, "shop")
    assert case["check"](live)

    mark = audit.mark()
    again = play([task(module, namespace, case["create"])])[0]
    assert again["changed"] is False
    assert audit.writes(mark, namespace=namespace) == []

    # Check mode of an update: predicted, with a diff, nothing written.
    mark = audit.mark()
    res = play([task(module, namespace, case["update"])], check=True, diff=True)[0]
    assert res["changed"] is True
    assert any(c["path"].startswith(case["changed_path"]) for c in res["changes"]), res["changes"]
    assert res["diff"]["before"] != res["diff"]["after"]
    assert audit.writes(mark, namespace=namespace) == []
    assert get_raw(namespace, kind, "shop") == live

    # Update, then the same again.
    res = play([task(module, namespace, case["update"])] * 2, diff=True)
    assert res[0]["changed"] is True and res[1]["changed"] is False
    assert res[0]["diff"]["before"] != res[0]["diff"]["after"] and res[1]["diff"]["before"] == res[1]["diff"]["after"]
    updated = get_raw(namespace, kind, "shop")
    assert updated["metadata"]["resourceVersion"] != live["metadata"]["resourceVersion"]

    # Delete: check mode first, then for real, then absent twice.
    mark = audit.mark()
    res = play([task(module, namespace, state="absent")], check=True, diff=True)[0]
    assert res["changed"] is True and res["diff"]["after"] == {}
    assert audit.writes(mark, namespace=namespace) == []
    assert get_raw(namespace, kind, "shop") is not None
    res = play([task(module, namespace, state="absent")] * 2)
    assert res[0]["changed"] is True and res[1]["changed"] is False
    assert get_raw(namespace, kind, "shop") is None
    mark = audit.mark()
    assert play([task(module, namespace, state="absent")])[0]["changed"] is False
    assert audit.writes(mark, namespace=namespace) == []


def test_whole_spec_and_labels(namespace):
    spec = {"hosts": ["reviews"], "http": [{"name": "primary", "route": [{"destination": {"host": "reviews"}}]}]}
    args = {"spec": spec, "labels": {"app": "shop"}, "annotations": {"owner": "team-a"}}
    res = play([task("virtual_service", namespace, args)] * 2)
    assert res[0]["changed"] and not res[1]["changed"]
    live = get_raw(namespace, "virtualservice", "shop")
    assert live["spec"] == spec
    assert live["metadata"]["labels"] == {"app": "shop"} and live["metadata"]["annotations"]["owner"] == "team-a"


def test_object_made_elsewhere_with_more_fields_is_not_changed(namespace, audit):
    """Fields the task does not mention (set by kubectl, or defaulted by the server) are not a change."""
    apply_yaml(namespace, [{
        "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
        "metadata": {"name": "shop", "namespace": namespace, "labels": {"made-by": "kubectl"}},
        "spec": {"host": "reviews", "subsets": [{"name": "stable", "labels": {"version": "v1"}}],
                 "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 10}}}},
    }])
    mark = audit.mark()
    res = play([task("destination_rule", namespace, {"spec": {"host": "reviews", "subsets": [
        {"name": "stable", "labels": {"version": "v1"}}]}})])[0]
    assert res["changed"] is False, res.get("changes")
    assert audit.writes(mark, namespace=namespace) == []


def test_virtual_service_weights_must_add_up_to_100(namespace, audit):
    mark = audit.mark()
    bad = {"hosts": ["reviews"], "http": [{"name": "primary", "destinations": [
        {"host": "reviews", "subset": "stable", "weight": 100},
        {"host": "reviews", "subset": "candidate", "weight": 10}]}]}
    res = play([task("virtual_service", namespace, bad)])[0]
    assert res["failed"] and res["param"] == "http[0]" and "add up to 110" in res["msg"]
    res = play([task("virtual_service", namespace, {"spec": {"hosts": ["r"], "http": [{"route": [
        {"destination": {"host": "r", "subset": "a"}, "weight": 60},
        {"destination": {"host": "r", "subset": "b"}}]}]}})])[0]
    assert res["failed"] and res["param"] == "spec.http[0].route[1].weight"
    assert audit.writes(mark, namespace=namespace) == []
    assert get_raw(namespace, "virtualservice", "shop") is None


@pytest.mark.parametrize("module", sorted(CASES))
def test_missing_namespace_is_named(module, cluster):
    res = play([task(module, "no-such-namespace-4712", CASES[module]["create"])])[0]
    assert res["failed"] and res["msg"] == "namespace no-such-namespace-4712 does not exist"


def test_module_defaults_group_sets_the_connection_once(cluster, namespace):
    res = play([task("destination_rule", namespace, CASES["destination_rule"]["create"]),
                {"name": "info", "rollouts.istio.virtual_service_info": {"namespace": namespace}}],
               module_defaults={"group/rollouts.istio.istio": {"kubeconfig": cluster["kubeconfig"]}},
               env={"KUBECONFIG": "/nonexistent", "K8S_AUTH_KUBECONFIG": "/nonexistent"})
    assert res[0]["changed"] and not res[0].get("failed"), res[0]
    assert res[1]["virtual_services"] == []


def test_k8s_auth_environment_variables(cluster, namespace):
    res = play([task("destination_rule", namespace, CASES["destination_rule"]["create"])],
               env={"KUBECONFIG": "/nonexistent", "K8S_AUTH_KUBECONFIG": cluster["kubeconfig"]})
    assert res[0]["changed"] and not res[0].get("failed"), res[0]


def test_written_objects_pass_istioctl_analyze(namespace):
    from support.istio_objects import app_objects
    if not shutil.which("istioctl"):
        pytest.skip("istioctl is not on PATH")
    apply_yaml(namespace, app_objects(namespace))
    res = play([
        task("gateway", namespace, CASES["gateway"]["create"], name="shop-gateway"),
        task("destination_rule", namespace, CASES["destination_rule"]["update"], name="reviews"),
        task("virtual_service", namespace, {"hosts": ["shop.example.com"], "gateways": ["shop-gateway"], "http": [{
            "name": "primary",
            "destinations": [{"host": "reviews", "subset": "stable", "port": 9080, "weight": 90},
                             {"host": "reviews", "subset": "candidate", "port": 9080, "weight": 10}],
            "retries": {"attempts": 3, "perTryTimeout": "2s"}, "timeout": "10s"}]}, name="reviews"),
        {"name": "split", "rollouts.istio.traffic_split": {
            "name": "reviews", "namespace": namespace,
            "destinations": [{"subset": "stable", "weight": 50}, {"subset": "candidate", "weight": 50}]}},
    ])
    assert all(t["changed"] and not t.get("failed") for t in res.tasks), res
    proc = subprocess.run(["istioctl", "analyze", "-n", namespace, "--failure-threshold", "Error"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Error [" not in proc.stdout + proc.stderr
