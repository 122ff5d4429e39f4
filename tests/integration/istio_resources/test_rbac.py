"""Every module works under a namespaced ServiceAccount bound to the shipped Roles, and no more."""

import base64
import os

import pytest
import yaml

from support.istio_objects import REPO, app_objects, apply_yaml, destination_rule, get_raw, module_requests, play
from support.kube import kubectl, wait_for

ROLES = os.path.join(REPO, "docs", "rbac")


@pytest.fixture
def connect_as(namespace, kube_connection, tmp_path):
    """connect_as(role) -> connection options of a fresh ServiceAccount bound to that shipped Role."""
    kubectl("-n", namespace, "apply", "-f", ROLES)
    conn = {"host": kube_connection["host"]}
    if kube_connection["ca_data"]:
        ca = tmp_path / "ca.crt"
        ca.write_bytes(base64.b64decode(kube_connection["ca_data"]))
        conn["ca_cert"] = str(ca)
    elif kube_connection["ca_file"]:
        conn["ca_cert"] = kube_connection["ca_file"]
    else:
        conn["validate_certs"] = not kube_connection["insecure"]

    def make(role):
        sa = "sa-" + role.replace("rollouts-istio-", "")
        kubectl("-n", namespace, "create", "serviceaccount", sa)
        kubectl("-n", namespace, "create", "rolebinding", sa, "--role", role,
                "--serviceaccount", "%s:%s" % (namespace, sa))
        token = kubectl("-n", namespace, "create", "token", sa).stdout.strip()
        # The authorizer learns of a new RoleBinding through a watch: wait until it has.
        user = "system:serviceaccount:%s:%s" % (namespace, sa)
        assert wait_for(lambda: kubectl("auth", "can-i", "--as", user, "-n", namespace, "list",
                                        "virtualservices.networking.istio.io", check=False).stdout.strip() == "yes",
                        timeout=30, step=0.2)
        return dict(conn, api_key=token)
    return make


def with_conn(conn, tasks):
    """Tasks with the connection options set on each (and no kubeconfig to fall back on)."""
    out = []
    for t in tasks:
        t = dict(t)
        module = next(k for k in t if k.startswith("rollouts.istio."))
        t[module] = dict(t[module], **conn)
        out.append(t)
    return out


NO_KUBECONFIG = {"KUBECONFIG": "/nonexistent", "K8S_AUTH_KUBECONFIG": ""}


def test_shipped_roles_parse_and_are_namespaced():
    docs = []
    for name in sorted(os.listdir(ROLES)):
        if name.endswith(".yaml"):
            with open(os.path.join(ROLES, name)) as fh:
                docs.append(yaml.safe_load(fh))
    assert {d["metadata"]["name"] for d in docs} == {"rollouts-istio-manage", "rollouts-istio-traffic",
                                                     "rollouts-istio-read"}
    assert all(d["kind"] == "Role" for d in docs)


def test_manage_role_runs_every_module(namespace, connect_as):
    conn = connect_as("rollouts-istio-manage")
    apply_yaml(namespace, app_objects(namespace))
    ns = namespace
    tasks = [
        {"name": "gw", "rollouts.istio.gateway": {"name": "shop", "namespace": ns, "servers": [
            {"hosts": ["shop.example.com"], "port": {"number": 80}}]}},
        {"name": "dr", "rollouts.istio.destination_rule": {"name": "reviews", "namespace": ns, "service": "reviews",
                                                           "subsets": [{"name": "stable", "version": "v1"},
                                                                       {"name": "candidate", "version": "v2"}]}},
        {"name": "vs", "rollouts.istio.virtual_service": {"name": "reviews", "namespace": ns, "hosts": ["reviews"],
                                                          "http": [{"name": "primary", "destinations": [
                                                              {"host": "reviews", "subset": "stable", "weight": 100},
                                                              {"host": "reviews", "subset": "candidate", "weight": 0}]}]}},
        {"name": "split", "rollouts.istio.traffic_split": {"name": "reviews", "namespace": ns, "destinations": [
            {"subset": "stable", "weight": 80}, {"subset": "candidate", "weight": 20}]}},
        {"name": "info", "rollouts.istio.virtual_service_info": {"namespace": ns}},
        {"name": "gw gone", "rollouts.istio.gateway": {"name": "shop", "namespace": ns, "state": "absent"}},
    ]
    res = play(with_conn(conn, tasks), env=NO_KUBECONFIG)
    for t in res.tasks:
        assert not t.get("failed"), t
        assert t["changed"] is (t["_task"] != "info")
    assert res.by_name("info")["virtual_services"][0]["routes"][0]["weights"] == {"stable": 80, "candidate": 20}
    # Check mode runs under the same Role (dry runs need the same verbs).
    res = play(with_conn(conn, tasks[:3]), env=NO_KUBECONFIG, check=True)
    assert all(not t.get("failed") for t in res.tasks), res


def test_traffic_role_shifts_traffic_but_cannot_create(mesh_app, connect_as):
    ns = mesh_app
    conn = connect_as("rollouts-istio-traffic")
    res = play(with_conn(conn, [
        {"name": "split", "rollouts.istio.traffic_split": {"name": "reviews", "namespace": ns, "destinations": [
            {"subset": "stable", "weight": 90}, {"subset": "candidate", "weight": 10}]}},
        {"name": "info", "rollouts.istio.virtual_service_info": {"namespace": ns, "name": "reviews"}},
        {"name": "create", "rollouts.istio.destination_rule": {"name": "other", "namespace": ns, "service": "x"}},
    ]), env=NO_KUBECONFIG)
    assert res[0]["changed"] and not res[0].get("failed"), res[0]
    assert res[1]["virtual_services"][0]["routes_by_name"]["primary"]["weights"] == {"stable": 90, "candidate": 10}
    assert res[2]["failed"] and res[2]["status"] == 403
    assert res[2]["msg"].startswith("forbidden:") and "destinationrules.networking.istio.io" in res[2]["msg"]
    assert "'get'" in res[2]["msg"]


def test_read_only_identity_gets_a_clear_forbidden(mesh_app, connect_as, audit):
    ns = mesh_app
    conn = connect_as("rollouts-istio-read")
    before = get_raw(ns, "virtualservice", "reviews")
    mark = audit.mark()
    res = play(with_conn(conn, [
        {"name": "info", "rollouts.istio.virtual_service_info": {"namespace": ns}},
        # Without the destination check (which the read Role may not do either, see below) the write is refused.
        {"name": "split", "rollouts.istio.traffic_split": {"name": "reviews", "namespace": ns, "destinations": [
            {"subset": "stable", "weight": 90}, {"subset": "candidate", "weight": 10}], "validate_destinations": False}},
    ]), env=NO_KUBECONFIG)
    assert not res[0].get("failed") and len(res[0]["virtual_services"]) == 1
    checked = play(with_conn(conn, [
        {"name": "checked split", "rollouts.istio.traffic_split": {"name": "reviews", "namespace": ns, "destinations": [
            {"subset": "stable", "weight": 90}, {"subset": "candidate", "weight": 10}]}}]), env=NO_KUBECONFIG)[0]
    assert checked["failed"] and checked["status"] == 403
    assert checked["msg"].startswith("forbidden: the API server does not allow get on services in namespace " + ns)
    split = res[1]
    assert split["failed"] and split["status"] == 403
    assert split["msg"].startswith("forbidden:")
    assert "patch" in split["msg"] and "virtualservices.networking.istio.io" in split["msg"] and ns in split["msg"]
    refused = module_requests(audit, mark, ns, writes=True)
    assert [(e.verb, e.resource, e.code) for e in refused] == [("patch", "virtualservices", 403)]
    assert get_raw(ns, "virtualservice", "reviews") == before


def test_missing_virtual_service_is_clear_without_namespace_read_rights(namespace, connect_as):
    apply_yaml(namespace, [destination_rule(namespace)])
    conn = connect_as("rollouts-istio-traffic")
    res = play(with_conn(conn, [{"name": "split", "rollouts.istio.traffic_split": {
        "name": "reviews", "namespace": namespace,
        "destinations": [{"host": "reviews", "subset": "stable", "weight": 100}]}}]), env=NO_KUBECONFIG)
    assert res[0]["failed"] and res[0]["msg"] == "name: VirtualService reviews not found in namespace %s" % namespace


def test_awx_kubernetes_credential_environment(mesh_app, connect_as):
    """AWX's Kubernetes credential only sets K8S_AUTH_* variables; the modules need nothing else."""
    conn = connect_as("rollouts-istio-traffic")
    env = dict(NO_KUBECONFIG, K8S_AUTH_HOST=conn["host"], K8S_AUTH_API_KEY=conn["api_key"])
    if "ca_cert" in conn:
        env["K8S_AUTH_SSL_CA_CERT"] = conn["ca_cert"]
    else:
        env["K8S_AUTH_VERIFY_SSL"] = "yes" if conn["validate_certs"] else "no"
    res = play([{"name": "split", "rollouts.istio.traffic_split": {
        "name": "reviews", "namespace": mesh_app,
        "destinations": [{"subset": "stable", "weight": 50}, {"subset": "candidate", "weight": 50}]}}], env=env)
    assert res[0]["changed"] and not res[0].get("failed"), res[0]
    assert res[0]["after"] == {"stable": 50, "candidate": 50}
