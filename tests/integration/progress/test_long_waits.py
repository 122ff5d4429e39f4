"""The roles' long waits print while they wait, and say why when they fail.

Each test runs the role's own tasks, read from the role's task file, through ansible-playbook with
the default callback, and reads what a person reads. The load wait and the istioctl install run
against stand-ins (a shell command, a fake istioctl) and need nothing of the test bed
(test_deployment_wait.py waits for Deployments on the cluster under test).
"""

import os
import stat
import subprocess
import sys

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def role_tasks(path, *names):
    """The tasks of a role's task file with these names, as written there."""
    with open(os.path.join(REPO, path)) as fh:
        tasks = yaml.safe_load(fh)
    found = [t for t in tasks if t.get("name") in names]
    assert [t["name"] for t in found] == list(names), "not in %s: %s" % (path, names)
    return found


def run(tmp_path, tasks, check=False, play_vars=None, env=None, module_defaults=None):
    play = {"hosts": "localhost", "connection": "local", "gather_facts": False, "vars": play_vars or {},
            "tasks": tasks}
    if module_defaults:
        play["module_defaults"] = module_defaults
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    run_env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                   ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_RETRY_FILES_ENABLED="false")
    run_env.update(env or {})
    cmd = ["ansible-playbook", "-i", "localhost,", str(path)] + (["--check"] if check else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env, cwd=str(tmp_path), check=False,
                          timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


# ---------------------------------------------------------------- shift_traffic: the load of a step

LOAD_WAIT = ("Wait for the load of the step to end", "Say why the load of the step failed")


def load_play(command, seconds):
    start = {"name": "Start the load of the step", "ansible.builtin.command": {"argv": ["/bin/sh", "-c", command]},
             "async": 120, "poll": 0, "register": "_shift_traffic_load_job", "changed_when": False}
    return [start] + role_tasks("roles/shift_traffic/tasks/step.yml", *LOAD_WAIT), {
        "_shift_traffic_at": "step 1 (10 %)", "_shift_traffic_load_seconds": seconds}


def test_the_load_wait_prints_while_it_waits_and_ends_when_the_load_does(tmp_path):
    tasks, play_vars = load_play("sleep 3", 3)
    rc, out = run(tmp_path, tasks, play_vars=play_vars)
    assert rc == 0, out
    assert "FAILED - RETRYING: [localhost]: Wait for the load of the step to end (" in out
    assert "Say why the load of the step failed" in out.split("skipping: [localhost]")[0]


def test_a_failed_load_says_why(tmp_path):
    tasks, play_vars = load_play("sleep 2; echo 'hey: no such host   gateway.invalid' >&2; exit 3", 2)
    rc, out = run(tmp_path, tasks, play_vars=play_vars)
    assert rc != 0
    assert '"msg": "step 1 (10 %): the load failed (rc 3): hey: no such host gateway.invalid"' in out


def test_a_load_that_does_not_end_says_so(tmp_path):
    # -57 s of load leaves the wait 3 retries, 1 s apart: the path of a load that outlives its wait.
    tasks, play_vars = load_play("sleep 20", -57)
    rc, out = run(tmp_path, tasks, play_vars=play_vars)
    assert rc != 0
    assert out.count("FAILED - RETRYING: [localhost]: Wait for the load of the step to end") == 3
    assert "step 1 (10 %): the load did not end within 3 s (it was to run -57 s); its job " in out
    assert "may still be running" in out


# ---------------------------------------------------------------- install_istio: istioctl install

FAKE_ISTIOCTL = """#!/bin/sh
# istioctl's install as seen from outside: silent for a while, then a verdict.
sleep "${FAKE_ISTIOCTL_SECONDS:-7}"
if [ -n "$FAKE_ISTIOCTL_FAIL" ]; then echo "Error: failed to install manifests: $FAKE_ISTIOCTL_FAIL" >&2; exit 1; fi
echo "Installation complete"
"""


@pytest.fixture
def istioctl(tmp_path):
    path = tmp_path / "istioctl"
    path.write_text(FAKE_ISTIOCTL)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def install_play(istioctl, action="install"):
    tasks = role_tasks("roles/install_istio/tasks/install.yml", "Run istioctl")
    return tasks, {"_install_istio_plan": {"action": action, "argv": [istioctl, "install", "--set", "profile=demo", "-y"]},
                   "install_istio_wait_timeout": 30}


def test_istioctl_install_is_polled_and_each_poll_printed(tmp_path, istioctl):
    tasks, play_vars = install_play(istioctl)
    rc, out = run(tmp_path, tasks, play_vars=play_vars)
    assert rc == 0, out
    assert "ASYNC POLL on localhost: jid=" in out and "finished=" in out
    assert "ASYNC OK on localhost" in out
    assert "changed: [localhost]" in out.split("TASK [Install Istio with istioctl]")[1]


def test_istioctl_failing_is_said_with_its_error(tmp_path, istioctl):
    tasks, play_vars = install_play(istioctl)
    rc, out = run(tmp_path, tasks, play_vars=play_vars, env={"FAKE_ISTIOCTL_FAIL": "no CRDs", "FAKE_ISTIOCTL_SECONDS": "1"})
    assert rc != 0
    assert "install --set profile=demo -y` failed (rc 1): Error: failed to install manifests: no CRDs" in out, out


def test_istioctl_is_not_run_in_check_mode_nor_when_there_is_nothing_to_do(tmp_path, istioctl):
    marker = tmp_path / "ran"
    with open(istioctl, "a") as fh:
        fh.write("touch %s\n" % marker)
    tasks, play_vars = install_play(istioctl)
    rc, out = run(tmp_path, tasks, check=True, play_vars=play_vars, env={"FAKE_ISTIOCTL_SECONDS": "0"})
    assert rc == 0, out
    assert "ASYNC POLL" not in out and "changed=0" in out
    tasks, play_vars = install_play(istioctl, action="none")
    rc, out = run(tmp_path, tasks, play_vars=play_vars, env={"FAKE_ISTIOCTL_SECONDS": "0"})
    assert rc == 0 and "changed=0" in out, out
    assert not marker.exists()
