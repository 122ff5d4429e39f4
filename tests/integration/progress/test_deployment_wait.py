"""deploy_versions' wait for Deployments prints while it waits, and names the workload that is not Available.

The role's own wait.yml runs through ansible-playbook (default callback) against the cluster under
test, in a namespace of its own: one Deployment that kwok makes Available, one that can never be
scheduled.
"""

import os
import subprocess
import sys

import yaml

from support.kube import kubectl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def run(tmp_path, tasks, play_vars, module_defaults):
    play = {"hosts": "localhost", "connection": "local", "gather_facts": False, "vars": play_vars,
            "module_defaults": module_defaults, "tasks": tasks}
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", str(path)], capture_output=True, text=True,
                          env=env, cwd=str(tmp_path), check=False, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def deployment(name, available):
    spec = {"containers": [{"name": "app", "image": "example.invalid/podinfo:pinned"}]}
    if not available:
        spec["nodeSelector"] = {"rollouts.istio/no-such-node": "true"}  # never scheduled: never Available
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def test_the_deployment_wait_prints_each_slice_and_names_the_workload_not_available(tmp_path, cluster, k8s, namespace):
    manifest = tmp_path / "deployments.yml"
    manifest.write_text(yaml.safe_dump_all([deployment("podinfo-v1", True), deployment("podinfo-v2", False)]))
    kubectl("apply", "-n", namespace, "-f", str(manifest))
    tasks = [{"name": "Wait for the workloads", "ansible.builtin.include_tasks": os.path.join(
        REPO, "roles", "deploy_versions", "tasks", "wait.yml")}]
    play_vars = {"deploy_versions_namespace": namespace, "deploy_versions_wait_timeout": 25,
                 "_deploy_versions_versions": [{"name": "podinfo-v1"}, {"name": "podinfo-v2"}]}
    defaults = {"group/kubernetes.core.k8s": {"kubeconfig": cluster["kubeconfig"]}}
    rc, out = run(tmp_path, tasks, play_vars=play_vars, module_defaults=defaults)
    assert rc != 0
    # 25 s in 3 slices of at most 10 s: two retries printed for the one that never comes up, while it waits.
    assert out.count("FAILED - RETRYING: [localhost]: Wait until each workload is Available (") == 2, out
    assert "ok: [localhost] => (item=podinfo-v1)" in out
    failure = out.split("TASK [Fail naming each workload that is not Available and its conditions]")[1]
    assert ("Deployment %s/podinfo-v2 not Available after 25 s: " % namespace) in failure
    assert "podinfo-v1" not in failure
