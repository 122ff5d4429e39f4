"""The deploy_versions role against the cluster under test.

Each test deploys into a namespace of its own (the `namespace` fixture). On the test bed kwok makes
Deployments Available within seconds (their pods do not run) and the mesh simulator answers HTTP
for them, so the smoke check is proved through it.
"""

import copy

import pytest

from support.ansible_run import run_play
from support.kube import kubectl
from support.mesh import ISTIO_API, mesh_simulator  # noqa: F401 pylint: disable=unused-import
from support.roles import PLAY_ENV, changed_tasks, failure, task

ROLE = "rollouts.istio.deploy_versions"
APP = "podinfo"
IMAGE = "ghcr.io/stefanprodan/podinfo:6.7.1"
# What the role writes; other writers in a fresh namespace (the controllers' ServiceAccount and
# ConfigMap) are not the role's.
ROLE_RESOURCES = {"namespaces", "services", "deployments", "destinationrules", "gateways", "virtualservices"}


def play(cluster, namespace, check=False, diff=False, **role_vars):
    v = {"deploy_versions_kubeconfig": cluster["kubeconfig"], "deploy_versions_app": APP,
         "deploy_versions_namespace": namespace,
         "deploy_versions_stable": {"version": "v1", "image": IMAGE, "replicas": 2,
                                    "env": {"PODINFO_UI_MESSAGE": "v1", "PODINFO_PORT": 9898}},
         "deploy_versions_candidate": {"version": "v2", "image": IMAGE, "labels": {"track": "candidate"}},
         "deploy_versions_wait_timeout": 60}
    v.update(role_vars)
    return run_play([], roles=[{"role": ROLE, "vars": v}], check=check, diff=diff, env=PLAY_ENV)


def get(k8s, api_version, kind, namespace, name):
    from kubernetes.dynamic.exceptions import NotFoundError

    try:
        return k8s.resources.get(api_version=api_version, kind=kind).get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def role_writes(audit, mark, namespace):
    return [e for e in audit.writes(mark) if e.resource in ROLE_RESOURCES
            and (e.namespace == namespace or (e.resource == "namespaces" and e.name == namespace))]


def primary(weights, host=APP):
    return {"name": "primary", "route": [{"destination": {"host": host, "subset": s}, "weight": w}
                                         for s, w in weights.items()]}


# ---------------------------------------------------------------- a fresh deploy


def test_fresh_deploy_creates_everything_at_100_stable_and_a_rerun_changes_nothing(cluster, k8s, namespace, audit):
    gateway = {"name": "podinfo-gateway", "hosts": ["app.example.com"]}
    hosts = ["app.example.com", APP]
    first = play(cluster, namespace, deploy_versions_gateway=gateway, deploy_versions_hosts=hosts)
    assert first.rc == 0, failure(first)

    for version, replicas in (("v1", 2), ("v2", 2)):
        d = get(k8s, "apps/v1", "Deployment", namespace, "podinfo-" + version)
        assert d["spec"]["selector"]["matchLabels"] == {"app": APP, "version": version}
        assert d["spec"]["replicas"] == replicas, "the candidate starts at the stable version's size"
        pod = d["spec"]["template"]
        assert pod["metadata"]["labels"]["version"] == version
        container = pod["spec"]["containers"][0]
        assert container["image"] == IMAGE
        assert container["ports"][0]["containerPort"] == 9898
        assert {c["type"]: c["status"] for c in d["status"]["conditions"]}["Available"] == "True"
    stable_env = get(k8s, "apps/v1", "Deployment", namespace, "podinfo-v1")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PODINFO_PORT", "value": "9898"} in stable_env
    assert get(k8s, "apps/v1", "Deployment", namespace, "podinfo-v2")["metadata"]["labels"]["track"] == "candidate"

    svc = get(k8s, "v1", "Service", namespace, APP)
    assert svc["spec"]["selector"] == {"app": APP}
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] == "http"

    dr = get(k8s, ISTIO_API, "DestinationRule", namespace, APP)
    assert dr["spec"]["subsets"] == [{"name": "v1", "labels": {"version": "v1"}},
                                     {"name": "v2", "labels": {"version": "v2"}}]
    gw = get(k8s, ISTIO_API, "Gateway", namespace, "podinfo-gateway")
    assert gw["spec"]["servers"][0]["hosts"] == ["app.example.com"]
    assert gw["spec"]["servers"][0]["port"]["number"] == 80

    vs = get(k8s, ISTIO_API, "VirtualService", namespace, APP)
    assert vs["spec"]["hosts"] == hosts
    assert vs["spec"]["gateways"] == ["podinfo-gateway", "mesh"]
    assert vs["spec"]["http"] == [{"name": "primary",
                                   "route": [{"destination": {"host": APP, "subset": "v1"}, "weight": 100}]}]
    assert "smoke" in task(first, "Say why there is no smoke check")["msg"]

    mark = audit.mark()
    second = play(cluster, namespace, deploy_versions_gateway=gateway, deploy_versions_hosts=hosts)
    assert second.rc == 0, failure(second)
    assert changed_tasks(second) == []
    assert get(k8s, ISTIO_API, "VirtualService", namespace, APP)["metadata"]["resourceVersion"] == \
        vs["metadata"]["resourceVersion"]
    # Server-side applies of objects already as asked are sent (kubernetes.core) but change nothing.
    assert {e.verb for e in role_writes(audit, mark, namespace)} <= {"patch"}


def test_check_mode_writes_nothing_and_diff_shows_what_would_be_created(cluster, k8s, namespace, audit):
    mark = audit.mark()
    # A smoke check that could not answer: check mode must not send it.
    res = play(cluster, namespace, check=True, diff=True, deploy_versions_smoke={"url": "http://127.0.0.1:1"})
    assert res.rc == 0, failure(res)
    assert role_writes(audit, mark, namespace) == []
    assert get(k8s, "apps/v1", "Deployment", namespace, "podinfo-v1") is None
    assert get(k8s, ISTIO_API, "VirtualService", namespace, APP) is None
    created = task(res, "Create one workload per version")
    assert created["changed"] is True
    assert [r["method"] for r in created["results"]] == ["create", "create"]
    vs = task(res, "Create the VirtualService at 100 % stable")
    assert vs["changed"] is True
    assert vs["diff"]["after"]["spec"]["http"] == [
        {"name": "primary", "route": [{"destination": {"host": APP, "subset": "v1"}, "weight": 100}]}]
    assert "check mode" in task(res, "Say why there is no smoke check")["msg"]


def test_check_mode_in_a_namespace_that_does_not_exist_yet(cluster, k8s, namespace, audit):
    missing = namespace + "-new"
    mark = audit.mark()
    try:
        res = play(cluster, missing, check=True)
        assert res.rc == 0, failure(res)
        assert role_writes(audit, mark, missing) == []
        said = task(res, "Say what check mode cannot try in a namespace that does not exist yet")
        assert said["changed"] is True
        assert "podinfo-v1, podinfo-v2" in said["msg"]
        assert get(k8s, "v1", "Namespace", None, missing) is None
    finally:
        kubectl("delete", "namespace", missing, "--ignore-not-found", "--wait=false", check=False)


# ---------------------------------------------------------------- an existing VirtualService


def test_existing_virtual_service_keeps_its_weights_and_foreign_route(cluster, k8s, namespace):
    foreign = {"name": "testers", "match": [{"headers": {"x-tester": {"exact": "yes"}}}],
               "route": [{"destination": {"host": APP, "subset": "v2"}}]}
    http = [foreign, primary({"v1": 70, "v2": 30})]
    vs_api = k8s.resources.get(api_version=ISTIO_API, kind="VirtualService")
    vs_api.create(namespace=namespace, body={"apiVersion": ISTIO_API, "kind": "VirtualService",
                                             "metadata": {"name": APP, "namespace": namespace},
                                             "spec": {"hosts": [APP], "http": copy.deepcopy(http)}})
    before = get(k8s, ISTIO_API, "VirtualService", namespace, APP)

    res = play(cluster, namespace)
    assert res.rc == 0, failure(res)
    after = get(k8s, ISTIO_API, "VirtualService", namespace, APP)
    assert after["spec"] == before["spec"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert "2 HTTP route(s) and their weights are kept" in task(res, "Say that the existing routes were kept")["msg"]

    # New hosts are written; the routes still are not.
    res = play(cluster, namespace, deploy_versions_hosts=[APP, "app.example.com"])
    assert res.rc == 0, failure(res)
    assert task(res, "Bind the existing VirtualService to the hosts and gateway asked for")["changed"] is True
    after = get(k8s, ISTIO_API, "VirtualService", namespace, APP)
    assert after["spec"]["hosts"] == [APP, "app.example.com"]
    assert after["spec"]["http"] == http
    again = play(cluster, namespace, deploy_versions_hosts=[APP, "app.example.com"])
    assert changed_tasks(again) == []


def test_subset_the_routes_still_use_is_kept(cluster, k8s, namespace):
    # After a promotion the route sends everything to v2; a deploy of v3 next to v2 must not remove
    # the subset v1 while a route still points at it.
    k8s.resources.get(api_version=ISTIO_API, kind="VirtualService").create(namespace=namespace, body={
        "apiVersion": ISTIO_API, "kind": "VirtualService", "metadata": {"name": APP, "namespace": namespace},
        "spec": {"hosts": [APP], "http": [primary({"v1": 90, "v2": 10})]}})
    first = play(cluster, namespace)
    assert first.rc == 0, failure(first)
    res = play(cluster, namespace, deploy_versions_stable={"version": "v2", "image": IMAGE},
               deploy_versions_candidate={"version": "v3", "image": IMAGE})
    assert res.rc == 0, failure(res)
    subsets = [s["name"] for s in get(k8s, ISTIO_API, "DestinationRule", namespace, APP)["spec"]["subsets"]]
    assert subsets == ["v2", "v3", "v1"]


# ---------------------------------------------------------------- bad input and failures


@pytest.mark.parametrize("bad, message", [
    ({"deploy_versions_app": ""}, "deploy_versions_app: must be a DNS label"),
    ({"deploy_versions_app": "Pod_Info"}, "deploy_versions_app: must be a DNS label"),
    ({"deploy_versions_stable": {"version": "V1.0", "image": IMAGE}}, "deploy_versions_stable.version: must be a DNS label"),
    ({"deploy_versions_stable": {"version": "v1", "image": IMAGE, "replicas": -1}},
     "deploy_versions_stable.replicas: must be 0 or more, got -1"),
    ({"deploy_versions_candidate": {"version": "v1", "image": IMAGE}},
     "deploy_versions_candidate.version: is the stable version (v1)"),
    ({"deploy_versions_candidate": {"version": "v2", "image": IMAGE, "container_port": 70000}},
     "deploy_versions_candidate.container_port: must be a port from 1 to 65535, got 70000"),
    ({"deploy_versions_service_port": 0}, "deploy_versions_service_port: must be a port from 1 to 65535"),
    ({"deploy_versions_smoke": {"url": "127.0.0.1:8080"}}, "deploy_versions_smoke.url: must be a URL with http://"),
    ({"deploy_versions_candidate": {"version": "v2"}}, "deploy_versions_candidate.image: give the container image"),
    ({"deploy_versions_stable": {"version": "v1", "image": IMAGE, "labels": {"version": "x"}}},
     "deploy_versions_stable.labels: app and version are the role's"),
], ids=["empty-app", "app-not-dns", "version-not-label", "replicas", "same-version", "port", "service-port",
        "url-scheme", "no-image", "selector-label"])
def test_bad_input_fails_naming_the_variable_and_writes_nothing(cluster, namespace, audit, bad, message):
    mark = audit.mark()
    res = play(cluster, namespace, **bad)
    assert res.rc != 0
    assert failure(res).startswith(message), failure(res)
    assert role_writes(audit, mark, namespace) == []


def test_unknown_version_key_is_refused_by_the_argument_spec(cluster, namespace):
    res = play(cluster, namespace, deploy_versions_stable={"version": "v1", "image": IMAGE, "replica": 2})
    assert res.rc != 0
    assert "deploy_versions_stable.replica" in failure(res)


def test_deployment_that_never_becomes_available_is_named_with_its_conditions(cluster, k8s, namespace):
    res = play(cluster, namespace, deploy_versions_wait_timeout=5,
               deploy_versions_candidate={"version": "v2", "image": IMAGE,
                                          "pod_spec": {"nodeSelector": {"rollouts.istio/no-such-node": "true"}}})
    assert res.rc != 0
    msg = failure(res)
    assert msg.startswith("Deployment %s/podinfo-v2 not Available after 5 s: " % namespace), msg
    assert "Available=False (MinimumReplicasUnavailable: " in msg
    assert "0 of 2 replicas available" in msg
    # Nothing was routed: the failure stops the role before the routing.
    assert get(k8s, ISTIO_API, "VirtualService", namespace, APP) is None


# ---------------------------------------------------------------- the smoke check


def test_smoke_check_reaches_each_version_and_names_the_wrong_one(cluster, k8s, namespace, mesh_simulator):
    smoke = {"url": mesh_simulator.ingress_url, "host": APP, "retries": 10, "delay": 1}
    res = play(cluster, namespace, deploy_versions_smoke=smoke)
    assert res.rc == 0, failure(res)
    answers = task(res, "Ask each version through the mesh")["results"]
    assert [(a["item"], a["status"], a["x_version"]) for a in answers] == [("v1", 200, "v1")]

    # A route for the preview header that (wrongly) sends to the stable version.
    vs_api = k8s.resources.get(api_version=ISTIO_API, kind="VirtualService")
    preview = {"name": "preview", "match": [{"headers": {"x-preview": {"exact": "v2"}}}],
               "route": [{"destination": {"host": APP, "subset": "v1"}}]}
    vs = get(k8s, ISTIO_API, "VirtualService", namespace, APP)
    mesh_simulator.wait_seen(vs_api.patch(name=APP, namespace=namespace, content_type="application/merge-patch+json",
                                          body={"spec": {"http": [preview] + vs["spec"]["http"]}}).to_dict())
    wrong = dict(smoke, retries=2, headers_by_version={"v2": {"x-preview": "v2"}})
    res = play(cluster, namespace, deploy_versions_smoke=wrong)
    assert res.rc != 0
    msg = failure(res)
    assert msg.startswith("deploy_versions_smoke: version v2 did not answer through %s/" % mesh_simulator.ingress_url)
    assert "expected status 200 and X-Version: v2, got status 200 and X-Version: v1" in msg

    preview["route"][0]["destination"]["subset"] = "v2"
    vs = get(k8s, ISTIO_API, "VirtualService", namespace, APP)
    mesh_simulator.wait_seen(vs_api.patch(name=APP, namespace=namespace, content_type="application/merge-patch+json",
                                          body={"spec": {"http": [preview] + vs["spec"]["http"][1:]}}).to_dict())
    res = play(cluster, namespace, deploy_versions_smoke=wrong)
    assert res.rc == 0, failure(res)
    answers = task(res, "Ask each version through the mesh")["results"]
    assert sorted((a["item"], a["x_version"]) for a in answers) == [("v1", "v1"), ("v2", "v2")]
