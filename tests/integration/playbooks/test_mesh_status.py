"""playbooks/mesh_status.yml: the gate passes on a ready mesh and names what is missing otherwise."""

import json
import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def run_playbook(*extra):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(["ansible-playbook", "-i", os.path.join(REPO, "inventories", "local"),
                           os.path.join(REPO, "playbooks", "mesh_status.yml")] + list(extra),
                          capture_output=True, text=True, env=env, cwd=REPO, check=False)
    return proc, json.loads(proc.stdout[proc.stdout.index("{"):])


def test_ready_mesh_passes_the_gate(cluster):
    proc, data = run_playbook()
    assert proc.returncode == 0, proc.stdout[-3000:]
    stats = data["stats"]["localhost"]
    assert stats["failures"] == 0 and stats["changed"] == 0
    shown = data["plays"][0]["tasks"][-1]["hosts"]["localhost"]["msg"]
    assert shown["istiod"] >= 1 and shown["istio-ingressgateway"] >= 1


def test_a_missing_deployment_fails_the_gate_by_name(cluster):
    proc, data = run_playbook("-e", json.dumps({"mesh_status_deployments": ["istiod", "no-such-gateway"]}))
    assert proc.returncode != 0
    gate = [t for t in data["plays"][0]["tasks"] if t["task"]["name"].startswith("Gate")][0]
    results = gate["hosts"]["localhost"]["results"]
    assert [r["item"] for r in results if r.get("failed")] == ["no-such-gateway"]
    assert "no-such-gateway in istio-system is not Available (available replicas: no such Deployment)" in \
        [r for r in results if r.get("failed")][0]["msg"]
