"""Every playbook parses with each inventory and is lint-clean; the playbook variables map onto the roles'.

These need no cluster: `ansible-playbook --syntax-check` loads each playbook (the roles it
imports, its vars files, the inventory's group_vars) as a run would, and ansible-lint checks the
playbooks, inventories and the collection's molecule scenario under the production profile.
"""

import glob
import json
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)
PLAYBOOKS = sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "playbooks", "*.yml")))
INVENTORIES = sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "inventories", "*"))
                     if os.path.isdir(p))
RELEASE_PLAYBOOKS = ["site", "canary", "blue_green", "ab_test", "promote", "rollback", "abort", "retry",
                     "status", "cleanup"]


def _env():
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false")
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".venv", "collections"))
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    return env


def _tool(name):
    path = os.path.join(BIN, name)
    return path if os.path.exists(path) else name


def test_every_release_playbook_is_there():
    assert set(RELEASE_PLAYBOOKS) <= {os.path.basename(p)[:-4] for p in PLAYBOOKS}
    assert {"inventories/minikube", "inventories/testbed"} <= set(INVENTORIES)


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_syntax_check(inventory):
    # One run for all of them (the error names the file), for each inventory and its group_vars.
    proc = subprocess.run([_tool("ansible-playbook"), "--syntax-check", "-i", inventory] + PLAYBOOKS,
                          cwd=REPO, env=_env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_molecule_scenario_syntax_check():
    scenario = [os.path.join("molecule", "default", name + ".yml") for name in ("converge", "verify", "cleanup")]
    proc = subprocess.run([_tool("ansible-playbook"), "--syntax-check", "-i", "localhost,"] + scenario,
                          cwd=REPO, env=_env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_ansible_lint_production_profile():
    paths = ["playbooks", "inventories/minikube", "inventories/testbed", "molecule/default"]
    proc = subprocess.run([_tool("ansible-lint"), "--offline", "--profile", "production", "--format", "pep8"]
                          + paths, cwd=REPO, env=_env(), capture_output=True, text=True, check=False)
    # Findings in the roles the playbooks use are the roles' own tests' business; here only ours count.
    ours = [line for line in proc.stdout.splitlines()
            if line.split(":", 1)[0].startswith(tuple(p + "/" for p in paths))]
    assert not ours, "\n".join(ours)
    # It ran to the end (a crash would list nothing at all).
    assert "files processed" in proc.stdout + proc.stderr, proc.stdout[-3000:] + proc.stderr[-3000:]


def _variables(tmp_path, inventory=None, extra=None):
    """The role variables the playbooks' vars file makes of the playbook variables."""
    names = ["deploy_versions_app", "deploy_versions_namespace", "deploy_versions_stable", "deploy_versions_candidate",
             "deploy_versions_hosts", "deploy_versions_gateway", "deploy_versions_kubeconfig",
             "shift_traffic_name", "shift_traffic_app", "shift_traffic_namespace", "shift_traffic_stable",
             "shift_traffic_candidate", "shift_traffic_prometheus_url", "shift_traffic_load",
             "shift_traffic_take_over", "shift_traffic_context", "_release_ab_match"]
    play = [{"hosts": "localhost", "gather_facts": False,
             "vars_files": [os.path.join(REPO, "playbooks", "vars", "release.yml")],
             "tasks": [{"name": "Show", "ansible.builtin.debug": {"msg": {n: "{{ %s }}" % n for n in names}}}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    inv = tmp_path / "inventory"
    (inv / "group_vars").mkdir(parents=True, exist_ok=True)
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}))
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(inventory or {}))
    env = dict(_env(), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", PROMETHEUS_URL="http://prometheus.invalid:9090")
    cmd = [_tool("ansible-playbook"), "-i", str(inv), str(path)]
    if extra:
        cmd += ["-e", json.dumps(extra)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    return data["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]


def test_playbook_variables_default_to_the_tutorial(tmp_path):
    v = _variables(tmp_path)
    assert v["deploy_versions_app"] == v["shift_traffic_app"] == v["shift_traffic_name"] == "podinfo"
    assert v["deploy_versions_namespace"] == v["shift_traffic_namespace"] == "demo"
    assert v["deploy_versions_stable"] == {"version": "v1", "image": "ghcr.io/stefanprodan/podinfo:6.7.0"}
    assert v["deploy_versions_candidate"] == {"version": "v2", "image": "ghcr.io/stefanprodan/podinfo:6.7.1"}
    assert v["deploy_versions_hosts"] == ["app.example.com", "podinfo"]
    assert v["deploy_versions_gateway"] == {"name": "public-gateway", "hosts": ["app.example.com"]}
    assert (v["shift_traffic_stable"], v["shift_traffic_candidate"]) == ("v1", "v2")
    # PROMETHEUS_URL is the default, as the prometheus modules have it; no ingress URL means no load.
    assert v["shift_traffic_prometheus_url"] == "http://prometheus.invalid:9090"
    assert v["shift_traffic_load"] == {}
    assert v["shift_traffic_take_over"] is False
    assert v["_release_ab_match"] == [{"headers": {"x-canary": {"exact": "insider"}}}]


def test_inventory_and_extra_vars_win_over_the_defaults(tmp_path):
    v = _variables(tmp_path,
                   inventory={"release_app": "shop", "release_namespace": "prod", "release_context": "minikube",
                              "release_prometheus_url": "http://127.0.0.1:9090"},
                   extra={"release_candidate": "v3", "release_images": {"v3": "example.invalid/shop:3"},
                          "release_ingress_url": "http://127.0.0.1:31380", "release_gateway": False,
                          "release_ab_header": {"name": "x-group", "value": "beta"}})
    assert v["shift_traffic_app"] == v["deploy_versions_app"] == "shop"
    assert v["shift_traffic_namespace"] == "prod"
    assert v["shift_traffic_context"] == "minikube"
    assert v["shift_traffic_prometheus_url"] == "http://127.0.0.1:9090"
    assert v["deploy_versions_candidate"] == {"version": "v3", "image": "example.invalid/shop:3"}
    assert v["deploy_versions_hosts"] == ["app.example.com", "shop"]
    assert v["deploy_versions_gateway"] == {}
    # Without a domain name among the hosts, the Gateway serves every host.
    short = _variables(tmp_path, extra={"release_hosts": ["shop"], "release_configs": {"v2": {"app.yaml": "a: 1\n"}}})
    assert short["deploy_versions_gateway"] == {"name": "public-gateway", "hosts": ["*"]}
    # release_configs gives a version its own ConfigMap's files; one it does not name has none.
    assert short["deploy_versions_candidate"] == {"version": "v2", "image": "ghcr.io/stefanprodan/podinfo:6.7.1",
                                                  "config": {"app.yaml": "a: 1\n"}}
    assert "config" not in short["deploy_versions_stable"]
    # The load goes through the ingress gateway with the VirtualService's first host.
    assert v["shift_traffic_load"] == {"url": "http://127.0.0.1:31380", "host": "app.example.com", "qps": 10,
                                       "concurrency": 2, "headers": {}}
    assert v["_release_ab_match"] == [{"headers": {"x-group": {"exact": "beta"}}}]
