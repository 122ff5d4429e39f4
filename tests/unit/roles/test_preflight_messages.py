"""The roles' preflight names the variable at fault, before the cluster is asked anything.

One local ansible-playbook run (nothing else running: the cases fail before any request, or on a
kubeconfig that cannot be read), each case a block around include_role whose rescue keeps the failure.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.environ.get("ROLLOUTS_COLLECTIONS", os.path.join(REPO, ".venv", "collections"))

SHIFT = {"shift_traffic_app": "podinfo", "shift_traffic_namespace": "demo", "shift_traffic_stable": "v1",
         "shift_traffic_candidate": "v2", "shift_traffic_prometheus_url": "http://127.0.0.1:9",
         "shift_traffic_analyze": False}
UNREACHABLE_CLUSTER = {
    "apiVersion": "v1", "kind": "Config", "current-context": "only",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
    "users": [{"name": "u", "user": {"token": "t"}}],
    "contexts": [{"name": "only", "context": {"cluster": "c", "user": "u"}}],
}

# (case, role, variables, what the message starts with)
CASES = [
    ("minikube version", "install_minikube", {"install_minikube_version": "1.37"}, "install_minikube_version: "),
    ("minikube profile", "install_minikube", {"install_minikube_profile": "my profile"}, "install_minikube_profile: "),
    ("minikube checksum", "install_minikube", {"install_minikube_checksum": "md5:abc"}, "install_minikube_checksum: "),
    ("istio namespace", "install_istio", {"install_istio_version": "1.24.2", "install_istio_namespace": "Istio"},
     "install_istio_namespace: "),
    ("istio external Prometheus without URL", "install_istio",
     {"install_istio_version": "1.24.2", "install_istio_prometheus": "external", "install_istio_prometheus_url": ""},
     "install_istio_prometheus_url: "),
    ("istio checksum", "install_istio", {"install_istio_version": "1.24.2", "install_istio_checksum": "md5:abc"},
     "install_istio_checksum: "),
    ("step_weight beside steps", "shift_traffic",
     dict(SHIFT, shift_traffic_step_weight=10, shift_traffic_steps=[20, 40]),
     "shift_traffic_step_weight: give either shift_traffic_steps or shift_traffic_step_weight"),
    # step_weight beside the default steps is a plan: the run goes on to the cluster, here a kubeconfig
    # that does not exist, which the preflight names.
    ("step_weight with the default steps, then a missing kubeconfig", "shift_traffic",
     dict(SHIFT, shift_traffic_step_weight=10, shift_traffic_kubeconfig="{tmp}/no-such-kubeconfig"),
     "shift_traffic_kubeconfig: cannot read VirtualService podinfo with kubeconfig {tmp}/no-such-kubeconfig"),
    ("an unknown context", "shift_traffic",
     dict(SHIFT, shift_traffic_kubeconfig="{tmp}/kubeconfig", shift_traffic_context="nosuch"),
     "shift_traffic_context: cannot read VirtualService podinfo"),
]


def _fill(value, tmp):
    if isinstance(value, str):
        return value.replace("{tmp}", str(tmp))
    if isinstance(value, dict):
        return dict((k, _fill(v, tmp)) for k, v in value.items())
    return value


@pytest.fixture(scope="module")
def failures(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("preflight")
    with open(os.path.join(str(tmp), "kubeconfig"), "w") as fh:
        yaml.safe_dump(UNREACHABLE_CLUSTER, fh)
    results = os.path.join(str(tmp), "results.json")
    tasks = [{"name": "start", "ansible.builtin.set_fact": {"_out": {}}}]
    for index, (case, role, variables, dummy) in enumerate(CASES):
        variables = dict(_fill(variables, tmp), install_minikube_bin_dir=str(tmp), install_istio_install_dir=str(tmp))
        tasks.append({"name": case, "block": [
            {"name": "run", "ansible.builtin.include_role": {"name": "rollouts.istio." + role}, "vars": variables},
            {"name": "passed", "ansible.builtin.set_fact": {"_out": "{{ _out | combine({'%d': 'passed'}) }}" % index}},
        ], "rescue": [
            {"name": "failed", "ansible.builtin.set_fact": {"_out": "{{ _out | combine({'%d': (ansible_failed_result"
                                                                    ".results | default([]) | selectattr('failed',"
                                                                    " 'defined') | selectattr('failed') | map("
                                                                    "attribute='msg') | list | last | default("
                                                                    "ansible_failed_result.msg))}) }}" % index}},
        ]})
    tasks.append({"name": "write", "ansible.builtin.copy": {"content": "{{ _out | to_json }}", "dest": results}})
    play = os.path.join(str(tmp), "play.yml")
    with open(play, "w") as fh:
        yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}], fh)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           play], capture_output=True, text=True, env=env, cwd=str(tmp), check=False)
    assert os.path.exists(results), proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(results) as fh:
        out = json.load(fh)
    return dict((int(k), v) for k, v in out.items()), str(tmp)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_the_preflight_names_the_variable(failures, index):
    out, tmp = failures
    case, dummy, dummy, starts = CASES[index]
    message = " ".join(str(out.get(index)).split())
    assert message.startswith(_fill(starts, tmp)), "%s: %s" % (case, message)
