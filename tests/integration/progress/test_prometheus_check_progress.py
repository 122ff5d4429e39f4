"""prometheus_check shows each check while it runs, and answers as its module does.

Run as a user runs it: ansible-playbook with the default callback, against a fake Prometheus in
this process (tests/support/fake_prometheus.py), so nothing of the shared test bed is used. On
the controller (connection local) the action plugin runs the analysis in its worker and prints one
line per check; on a host reached over another connection (the test connection `elsewhere`, in
connection_plugins/, which runs things locally under another name) the module runs as a module.
"""

import json
import os
import queue
import subprocess
import sys
import threading

import pytest
import yaml

from support.fake_prometheus import FakePrometheus, api

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
SECRET = "s3cr3t-token-7f9d"
ENV_SECRET = "env-s3cr3t-55aa"
PASSWORD = "pa55-w0rd-e1c2"
CORES = {
    "this venv": (os.path.dirname(sys.executable), os.environ.get("ROLLOUTS_COLLECTIONS",
                                                                  os.path.join(REPO, ".venv", "collections"))),
    "ansible-core 2.16": (os.path.join(REPO, ".venv-core216", "bin"), os.path.join(REPO, ".venv-core216", "collections")),
}


def vector(value, warnings=None):
    doc = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.0, str(value)]}]}}
    if warnings:
        doc["warnings"] = warnings
    return api(doc)


def answer_by_query(request):
    """The same answer for the same query, whichever run asks: values, a warning, an echoed credential."""
    promql = request["form"].get("query", [""])[0]
    if "echo_credentials" in promql:
        # An error that repeats what it was sent: the credential must be masked wherever it shows.
        return api({"status": "error", "errorType": "bad_data",
                    "error": "rejected %s" % request["headers"].get("Authorization")}, status=400)
    if "bad_metric" in promql:
        return vector(50)
    if "warn_metric" in promql:
        return vector(100, warnings=["partial answer: one store unreachable"])
    return vector(100)


@pytest.fixture
def prometheus():
    fake = FakePrometheus([answer_by_query])
    yield fake
    fake.stop()


def metric(name, query, **bounds):
    return dict(dict(name=name, query=query), **bounds)


def cases(url):
    """(name, task) pairs: a pass, failures, bad input, a warning, a deprecated alias, secrets, check mode."""
    base = dict(url=url, token=SECRET, retries=0, interval="1s", iterations=2)
    ok = [metric("ok", "ok_metric", min=99)]
    return [
        ("pass", dict(base, metrics=ok)),
        ("fail", dict(base, metrics=[metric("bad", "bad_metric", min=99)])),
        ("report_only_alias", dict(base, metrics=[metric("bad", "bad_metric", min=99)], fail_on_breach=False)),
        ("warning", dict(base, metrics=[metric("warn", "warn_metric", min=99)], iterations=1)),
        ("token_echoed", dict(base, metrics=[metric("echo", "echo_credentials", min=1)])),
        ("password_echoed", dict(base, token=None, username="gate", password=PASSWORD,
                                 metrics=[metric("echo", "echo_credentials", min=1)])),
        ("unknown_option", dict(base, metrics=ok, bogus=1)),
        ("token_and_username", dict(base, metrics=ok, username="gate", password=PASSWORD)),
        ("username_alone", dict(base, token=None, metrics=ok, username="gate")),
        ("bad_type", dict(base, metrics=ok, iterations="many")),
        ("bad_value", dict(base, metrics=ok, iterations=0)),
        ("no_metric_name", dict(base, metrics=[{"query": "ok_metric", "min": 1}])),
    ]


def playbook(path, hosts, url, out):
    tasks = []
    names = []
    for name, args in cases(url):
        args = dict((k, v) for k, v in args.items() if v is not None)
        tasks.append({"name": "case " + name, "rollouts.istio.prometheus_check": args,
                      "register": "r_" + name, "ignore_errors": True})
        names.append(name)
    tasks.append({"name": "case check_mode", "rollouts.istio.prometheus_check": dict(
        url=url, token=SECRET, retries=0, interval="1s", metrics=[metric("ok", "ok_metric", min=99)]),
        "check_mode": True, "register": "r_check_mode"})
    names.append("check_mode")
    tasks.append({"name": "case env_token", "rollouts.istio.prometheus_check": dict(
        url=url, retries=0, interval="1s", metrics=[metric("echo", "echo_credentials", min=1)]),
        "environment": {"PROMETHEUS_TOKEN": ENV_SECRET}, "register": "r_env_token", "ignore_errors": True})
    names.append("env_token")
    tasks.append({"name": "keep the results", "ansible.builtin.copy": {
        "content": "{{ {%s} | to_json }}" % ", ".join("'%s': r_%s" % (n, n) for n in names),
        "dest": os.path.join(out, "{{ inventory_hostname }}.json"), "mode": "0600"}})
    with open(path, "w") as fh:
        yaml.safe_dump([{"hosts": hosts, "gather_facts": False, "tasks": tasks}], fh, sort_keys=False)


def run(tmp_path, core, hosts, url):
    bindir, collections = CORES[core]
    if not os.path.exists(os.path.join(bindir, "ansible-playbook")):
        pytest.skip("no %s here (%s)" % (core, bindir))
    inventory = tmp_path / "inventory.ini"
    python = os.path.join(bindir, "python")
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n"
                         "elsewhere ansible_connection=elsewhere ansible_python_interpreter=%s\n" % (python, python))
    out = tmp_path / ("out-" + hosts)
    out.mkdir()
    path = tmp_path / ("play-%s.yml" % hosts)
    playbook(str(path), hosts, url, str(out))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_CONNECTION_PLUGINS=os.path.join(
        HERE, "connection_plugins"), ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_DEPRECATION_WARNINGS="true",
        PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    env.pop("PROMETHEUS_TOKEN", None)
    env.pop("PROMETHEUS_URL", None)
    proc = subprocess.run([os.path.join(bindir, "ansible-playbook"), "-i", str(inventory), str(path)],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    with open(str(out / ("%s.json" % hosts))) as fh:
        return json.load(fh), proc.stdout + proc.stderr


TIMING = ("elapsed", "decided_at")


def comparable(result):
    """A registered result without what differs from one run to the next: the times."""
    result = json.loads(json.dumps(result))
    for key in TIMING:
        result.pop(key, None)
    for check in result.get("checks", []):
        check.pop("time", None)
    # How a core hands a module's warnings and deprecations on differs from how it hands on an
    # action's (2.19 reshapes a module's); the texts are compared, not the shapes.
    result["warnings"] = sorted(w if isinstance(w, str) else w.get("msg", w.get("detail", {}).get("msg"))
                                for w in result.get("warnings", []))
    result["deprecations"] = sorted(d.get("msg") for d in result.get("deprecations", []))
    return result


@pytest.mark.parametrize("core", sorted(CORES))
def test_the_action_answers_as_the_module_does(tmp_path, prometheus, core):
    here, here_output = run(tmp_path, core, "localhost", prometheus.url)
    there, there_output = run(tmp_path, core, "elsewhere", prometheus.url)
    # On the controller the checks are shown; elsewhere the module ran as a module, silent.
    assert "prometheus_check: check 1 of 2: ok = 100 (min 99) pass; next check in 1s" in here_output
    assert "prometheus_check: check 2 of 2: ok = 100 (min 99) pass => analysis pass" in here_output
    assert "prometheus_check: check 1 of 2: bad = 50 (min 99) fail => analysis fail" in here_output
    assert "prometheus_check:" not in there_output
    assert sorted(here) == sorted(there)
    for name in sorted(here):
        assert comparable(here[name]) == comparable(there[name]), name
    # What the cases are about, so that equal results cannot be equally wrong.
    assert here["pass"]["verdict"] == "pass" and not here["pass"].get("failed") and here["pass"]["changed"] is False
    assert here["fail"]["failed"] and here["fail"]["msg"].startswith("analysis failed: bad = 50 < min 99")
    assert here["report_only_alias"]["verdict"] == "fail" and not here["report_only_alias"].get("failed")
    assert comparable(here["report_only_alias"])["deprecations"] == [
        "Alias 'fail_on_breach' is deprecated. See the module docs for more information"]
    assert comparable(here["warning"])["warnings"] == ["Prometheus: partial answer: one store unreachable"]
    assert here["unknown_option"]["msg"].startswith(
        "Unsupported parameters for (rollouts.istio.prometheus_check) module: bogus.")
    assert here["token_and_username"]["msg"] == "parameters are mutually exclusive: token|username"
    assert here["username_alone"]["msg"] == "parameters are required together: username, password"
    assert "iterations" in here["bad_type"]["msg"] and here["bad_type"]["failed"]
    assert here["bad_value"]["msg"].startswith("iterations:") and here["bad_value"]["param"] == "iterations"
    assert here["no_metric_name"]["msg"] == "missing required arguments: name found in metrics"
    assert here["check_mode"]["verdict"] == "pass"
    for name in ("token_echoed", "password_echoed", "env_token"):
        assert here[name]["failed"] and "invalid PromQL: rejected" in here[name]["msg"], name
    # Secrets: masked in every result and in every line printed, on both paths.
    for text in (json.dumps(here), json.dumps(there), here_output, there_output):
        for secret in (SECRET, ENV_SECRET, PASSWORD):
            assert secret not in text
    assert "rejected Bearer ********" in here["token_echoed"]["msg"]
    assert "invalid PromQL: rejected Bearer ********" in here_output


def test_a_check_is_shown_before_the_task_ends(tmp_path):
    """The line of check 2 reaches ansible-playbook's output while check 3's query is held: in real time."""
    seen_check_2 = threading.Event()
    held = threading.Event()
    gave_up = threading.Event()

    calls = []

    def answer(request):
        calls.append(request)
        if len(calls) == 3:  # one query per check: this is check 3's
            held.set()
            # Released by the test once it has read check 2's line (or after a minute, to fail, not hang).
            if not seen_check_2.wait(60):
                gave_up.set()
        return vector(100)

    fake = FakePrometheus([answer])
    try:
        path = tmp_path / "play.yml"
        task = {"name": "Check the candidate's metrics", "rollouts.istio.prometheus_check": {
            "url": fake.url, "retries": 0, "interval": "1s", "iterations": 3, "timeout": 120,
            "metrics": [metric("ok", "ok_metric", min=99)]}}
        path.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                         "tasks": [task]}]))
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
        proc = subprocess.Popen(["ansible-playbook", "-i", "localhost,", str(path)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env, cwd=str(tmp_path))
        lines = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout] + [lines.put(None)],
                                  daemon=True)
        reader.start()
        output = []
        while True:
            line = lines.get(timeout=120)
            if line is None:
                break
            output.append(line)
            if "prometheus_check: check 2 of 3" in line:
                # Read while the third check's query is still unanswered: the task has not ended.
                assert not seen_check_2.is_set()
                assert held.wait(60), "the third check never came"
                # Check 3's query is still held: the line came while the task was running.
                assert not gave_up.is_set(), "check 2's line came only after the task could go on"
                assert proc.poll() is None
                assert not any(o.startswith("ok: [localhost]") for o in output)
                seen_check_2.set()
        assert proc.wait(timeout=60) == 0, "".join(output)
        assert seen_check_2.is_set(), "check 2's line never came before the end:\n" + "".join(output)
        text = "".join(output)
        assert text.index("prometheus_check: check 3 of 3") > text.index("prometheus_check: check 2 of 3")
        assert "ok: [localhost]" in text.split("prometheus_check: check 3 of 3", 1)[1]
    finally:
        seen_check_2.set()
        fake.stop()


def test_module_defaults_reach_the_action(tmp_path, prometheus):
    """The url and token come from module_defaults, by the module's name and by its group, as roles set them."""
    play = []
    for defaults in ({"rollouts.istio.prometheus_check": {"url": prometheus.url, "token": SECRET}},
                     {"group/rollouts.istio.prometheus": {"url": prometheus.url, "token": SECRET}}):
        play.append({"hosts": "localhost", "connection": "local", "gather_facts": False, "module_defaults": defaults,
                     "tasks": [{"name": "gate", "rollouts.istio.prometheus_check": {
                         "retries": 0, "interval": "1s", "metrics": [metric("echo", "echo_credentials", min=1)]},
                         "register": "gate", "ignore_errors": True},
                         {"name": "show", "ansible.builtin.debug": {"msg": "MSG={{ gate.msg }}"}}]})
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    env.pop("PROMETHEUS_URL", None)
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", str(path)], capture_output=True, text=True,
                          env=env, cwd=str(tmp_path), check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Both plays reached the fake with the defaulted url and sent the defaulted token (masked when echoed).
    assert proc.stdout.count(
        "MSG=analysis failed: analysis stopped after 0 of 1 checks: echo: invalid PromQL: rejected Bearer ********") == 2
    sent = [r["headers"].get("Authorization") for r in prometheus.requests]
    assert sent == ["Bearer " + SECRET] * 2
    assert SECRET not in proc.stdout + proc.stderr


def test_awx_job_output_holds_each_check_inside_its_task(tmp_path, prometheus):
    """ansible-runner, the engine AWX runs every job with: each progress line is an event of the job's
    output, after the task's start and before its result, as AWX's job output shows it."""
    ansible_runner = pytest.importorskip("ansible_runner")
    project = tmp_path / "project"
    project.mkdir()
    (project / "gate.yml").write_text(yaml.safe_dump([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [{"name": "Check the candidate's metrics", "rollouts.istio.prometheus_check": {
            "url": prometheus.url, "token": SECRET, "retries": 0, "interval": "1s", "iterations": 2,
            "metrics": [metric("ok", "ok_metric", min=99)]}}]}]))
    env = {"ANSIBLE_COLLECTIONS_PATH": CORES["this venv"][1], "ANSIBLE_LOCALHOST_WARNING": "false",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false", "ANSIBLE_PYTHON_INTERPRETER": sys.executable}
    (tmp_path / "hosts.ini").write_text("localhost ansible_connection=local\n")
    run_ = ansible_runner.run(private_data_dir=str(tmp_path), project_dir=str(project), playbook="gate.yml",
                              inventory=str(tmp_path / "hosts.ini"), envvars=env, quiet=True, timeout=300)
    assert run_.rc == 0, run_.stdout.read()[-4000:]
    events = [(e.get("event"), e.get("stdout", "")) for e in run_.events]
    kinds = [kind for kind, _text in events]
    start = kinds.index("playbook_on_task_start")
    ok = kinds.index("runner_on_ok")
    shown = [text for kind, text in events[start:ok] if "prometheus_check: check" in text]
    assert shown == ["prometheus_check: check 1 of 2: ok = 100 (min 99) pass; next check in 1s",
                     "prometheus_check: check 2 of 2: ok = 100 (min 99) pass => analysis pass"], events
    assert SECRET not in json.dumps(events)
