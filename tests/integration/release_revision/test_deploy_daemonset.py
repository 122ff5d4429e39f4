"""deploy_versions with DaemonSet versions, against the test bed (kwok schedules a pod per node)."""

import pytest

from support.ansible_run import run_play
from support.roles import PLAY_ENV, changed_tasks, failure

IMAGE = "ghcr.io/stefanprodan/podinfo:6.7.1"


def play(cluster, namespace, stable=None, candidate=None):
    v = {"deploy_versions_kubeconfig": cluster["kubeconfig"], "deploy_versions_app": "podinfo",
         "deploy_versions_namespace": namespace,
         "deploy_versions_stable": stable or {"version": "v1", "image": IMAGE, "kind": "DaemonSet"},
         "deploy_versions_candidate": candidate or {"version": "v2", "image": IMAGE, "kind": "DaemonSet"},
         "deploy_versions_wait_timeout": 60}
    return run_play([], roles=[{"role": "rollouts.istio.deploy_versions", "vars": v}], env=PLAY_ENV)


def test_daemonset_versions_deploy_and_a_rerun_changes_nothing(cluster, k8s, namespace):
    first = play(cluster, namespace)
    assert first.rc == 0, failure(first)
    daemonsets = k8s.resources.get(api_version="apps/v1", kind="DaemonSet")
    for version in ("v1", "v2"):
        ds = daemonsets.get(name="podinfo-" + version, namespace=namespace).to_dict()
        assert ds["spec"]["selector"]["matchLabels"] == {"app": "podinfo", "version": version}
        assert "replicas" not in ds["spec"]
    deployments = k8s.resources.get(api_version="apps/v1", kind="Deployment").get(namespace=namespace).items
    assert deployments == []
    second = play(cluster, namespace)
    assert second.rc == 0 and changed_tasks(second) == [], failure(second)


def test_replicas_on_a_daemonset_is_refused_naming_the_variable(cluster, namespace):
    result = play(cluster, namespace, candidate={"version": "v2", "image": IMAGE, "kind": "DaemonSet", "replicas": 2})
    assert result.rc != 0
    assert "deploy_versions_candidate.replicas: a DaemonSet runs one pod per node" in failure(result)


pytestmark = pytest.mark.testbed
