"""Secrets never leak (issue 11): a whole rollout run with -vvv and every kind of secret the release
playbooks take, then everything the run wrote searched for each secret's value.

The run: playbooks/canary.yml with the Kubernetes credential as K8S_AUTH_API_KEY (a ServiceAccount
token, no kubeconfig anywhere), a Prometheus bearer token, an Authorization header on the load and on
URL hooks (pre_rollout, on_rollback, one of them refused), and a candidate answering 50 % errors, so
the gate fails and the rollback and failure path print too. The mesh simulator (tools/mesh_simulator)
stands in for Envoy; the test bed's real Prometheus answers the gates (it ignores the token). A
second, small playbook asks Prometheus with basic auth and a token, failing a check each way, under
the default callback and ansible.posix.json. Recording proxies (conftest.py) prove each secret was sent.
"""

import base64
import json
import os
import subprocess
import time
import uuid

import pytest

from support.mesh import set_faults
from support.release import (REPO, TimedAuditLog, api_key_env, create_release, delete_clusterrolebinding, read_record,
                             release_vars, run_playbook, start_playbook, wait_record)

from recording import Recorders

OUTPUT = os.path.join(REPO, "tests", "output")


def secret(kind):
    return "%s-%s" % (kind, uuid.uuid4().hex)


def leaks(secrets, sources):
    """[(secret's name, where)] for every secret value found in any source text."""
    return [(name, where) for where, text in sorted(sources.items()) for name, value in sorted(secrets.items())
            if value in text]


def files_text(root, since=None):
    """{path: text} of every file under root (written after `since`, when given)."""
    out = {}
    for base, dummy, names in os.walk(root):
        for name in names:
            path = os.path.join(base, name)
            try:
                if since is not None and os.path.getmtime(path) < since:
                    continue
                with open(path, errors="replace") as fh:
                    out[path] = fh.read()
            except OSError:
                continue
    return out


def kubectl_json(*args):
    proc = subprocess.run(["kubectl"] + list(args) + ["-o", "json"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def verbose_env(tmp_path, callback="default"):
    """-vvv under a callback, with a log file and an async directory of the run's own, to search."""
    return {"ANSIBLE_STDOUT_CALLBACK": callback, "ANSIBLE_LOG_PATH": str(tmp_path / "ansible.log"),
            "ANSIBLE_ASYNC_DIR": str(tmp_path / "async"), "ANSIBLE_DISPLAY_ARGS_TO_STDOUT": "false"}


def written_by(result, tmp_path, namespace, started):
    """Everything a run wrote that a person or a log collector can read afterwards."""
    sources = {"stdout": result.stdout, "stderr": result.stderr}
    sources.update(("file " + p, t) for p, t in files_text(str(tmp_path)).items()
                   if not p.endswith("sa-kubeconfig") and not p.endswith("ca.crt"))
    sources.update(("file " + p, t) for p, t in files_text(OUTPUT, since=started).items())
    sources["virtualservices"] = kubectl_json("-n", namespace, "get", "virtualservices.networking.istio.io")
    sources["configmaps and events"] = kubectl_json("-n", namespace, "get", "configmaps,events")
    return sources


class FailedRollout(object):
    """One canary run at -vvv with every secret, failing its gate at step 2 (step 1 passes, so both a
    passed step and the failure path print), and everything it wrote."""

    def __init__(self, cluster, k8s, namespace, simulator, prometheus_url, recorders, tmp_path):
        self.audit = TimedAuditLog(cluster["audit_log"])
        env, k8s_token, self.user = api_key_env(cluster, namespace, tmp_path)
        self.secrets = {"kubernetes token": k8s_token, "prometheus token": secret("prom-token"),
                        "load header": secret("load-auth"), "hook header": secret("hook-auth")}
        self.ingress = recorders.start(simulator.ingress_url)
        self.prometheus = recorders.start(prometheus_url)
        self.hooks = recorders.start(answers={"/hook": 200, "/refused": 401})
        hook_headers = {"Authorization": "Bearer " + self.secrets["hook header"]}
        plan = release_vars(namespace, self.prometheus.url, simulator, qps=20, steps=[20, 50], threshold=1,
                            analyze=False, load_headers={"Authorization": "Bearer " + self.secrets["load header"]},
                            prometheus_token=self.secrets["prometheus token"],
                            hooks={"pre_rollout": [{"name": "announce", "url": self.hooks.url + "/hook",
                                                    "headers": hook_headers}],
                                   "on_rollback": [{"name": "page", "url": self.hooks.url + "/hook",
                                                    "headers": hook_headers},
                                                   {"name": "page-refused", "url": self.hooks.url + "/refused?k=v",
                                                    "headers": hook_headers}]})
        plan["release_ingress_url"] = self.ingress.url + "/"
        plan["release_kubeconfig"] = ""
        started = time.time()
        self.mark = self.audit.mark()
        run = start_playbook("canary.yml", plan, env=dict(env, **verbose_env(tmp_path)), args=["-vvv"], timeout=600)
        try:
            # Step 1 passes on a healthy candidate; from the moment step 2's weights are written it
            # answers half its requests with errors, so step 2's gate fails.
            wait_record(namespace, lambda r: str(r.get("step")) == "2" or r.get("phase") == "Failed", run=run,
                        timeout=300, what="step 2")
            set_faults(k8s, namespace, "podinfo-v2", error_rate=0.5)
        finally:
            self.result = run.result()
        self.record = read_record(namespace)
        self.sources = written_by(self.result, tmp_path, namespace, started)


@pytest.fixture(scope="module")
def failed_rollout(cluster, k8s, module_release, prometheus_url, tmp_path_factory):
    if not cluster["audit_log"] or not os.path.exists(cluster["audit_log"]):
        pytest.skip("no audit log for this cluster: it shows the token was used")
    namespace, simulator = module_release
    recorders = Recorders()
    try:
        yield FailedRollout(cluster, k8s, namespace, simulator, prometheus_url, recorders,
                            tmp_path_factory.mktemp("secrets"))
    finally:
        recorders.close()
        delete_clusterrolebinding(namespace, "holder")


def test_the_failed_rollout_used_every_secret(failed_rollout):
    run = failed_rollout
    # The run took a passed step and the failure path: step 2's gate failed and rolled back.
    assert run.result.rc != 0, run.result.stdout[-3000:]
    assert run.record.get("phase") == "Failed", (run.record.get("phase"), run.result.stdout[-3000:])
    verdicts = [(str(d.get("step")), d.get("verdict")) for d in run.record.get("decisions", []) if d.get("verdict")]
    assert ("1", "pass") in verdicts and ("2", "fail") in verdicts, verdicts
    assert "request-success-rate" in run.result.stdout and "fatal:" in run.result.stdout
    # The API server saw the token's identity, from kubernetes.core and from the collection's modules
    # (no kubeconfig was there to use instead).
    agents = {(e.user_agent or "").split("/")[0] for e in run.audit.events(run.mark, user=run.user)}
    assert {"OpenAPI-Generator", "rollouts.istio"} <= agents, agents
    # The load and the hooks carried their header, the gates' queries the Prometheus token.
    assert "Bearer " + run.secrets["load header"] in run.ingress.headers_seen("authorization")
    assert "Bearer " + run.secrets["prometheus token"] in run.prometheus.headers_seen("authorization",
                                                                                      "/api/v1/query")
    assert run.hooks.headers_seen("authorization", "/hook").count("Bearer " + run.secrets["hook header"]) == 2
    assert run.hooks.headers_seen("authorization", "/refused") == ["Bearer " + run.secrets["hook header"]]
    # The refused on_rollback hook still says what went wrong (without its query, where tokens go).
    assert "on_rollback hook page-refused failed: (POST %s/refused) Status code was 401" % run.hooks.url \
        in run.result.stdout, run.result.stdout[-3000:]
    assert "ansible.log" in " ".join(run.sources) and len(run.result.stdout) > 100000, "not a -vvv run"


def test_no_secret_is_in_anything_the_run_wrote(failed_rollout):
    found = leaks(failed_rollout.secrets, failed_rollout.sources)
    assert found == [], "secrets in what the run wrote: %s" % found


BASIC_AUTH_PLAY = """
- name: Prometheus with basic auth and with a token, a failing check each way
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Ask with basic auth
      rollouts.istio.prometheus_query:
        url: "{{ prom }}"
        username: "{{ prom_user }}"
        password: "{{ prom_password }}"
        query: vector(1)
    - name: Fail a check with basic auth
      rollouts.istio.prometheus_check:
        url: "{{ prom }}"
        username: "{{ prom_user }}"
        password: "{{ prom_password }}"
        metrics: [{name: always-one, query: vector(1), max: 0, interval: 10s}]
        interval: 1s
        iterations: 1
      ignore_errors: true
    - name: Probe with a secret header (the server answers without versions, so the probe fails)
      rollouts.istio.traffic_probe:
        url: "{{ probe_url }}"
        headers: {Authorization: "Bearer {{ probe_token }}"}
        requests: 5
        concurrency: 1
        expected_weights: {v1: 100}
        fail_task: false
    - name: Fail a check with a token
      rollouts.istio.prometheus_check:
        url: "{{ prom }}"
        token: "{{ prom_token }}"
        metrics: [{name: always-one, query: vector(1), max: 0, interval: 10s}]
        interval: 1s
        iterations: 1
"""


def test_prometheus_basic_auth_token_and_probe_header_at_vvv_print_no_secret(prometheus_url, recorder, tmp_path):
    prometheus = recorder(prometheus_url)
    app = recorder(answers={"/": 200})
    user, password, token, probe_token = "rollouts", secret("prom-password"), secret("prom-token"), secret("probe")
    basic = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    secrets = {"prometheus password": password, "basic auth header": basic, "prometheus token": token,
               "probe header": probe_token}
    play = tmp_path / "play" / "basic_auth.yml"
    play.parent.mkdir()
    play.write_text(BASIC_AUTH_PLAY)
    for callback in ("default", "ansible.posix.json"):
        out = tmp_path / callback
        out.mkdir()
        before, before_app = len(prometheus.seen), len(app.seen)
        result = run_playbook(str(play), {"prom": prometheus.url, "prom_user": user, "prom_password": password,
                                          "prom_token": token, "probe_url": app.url + "/",
                                          "probe_token": probe_token},
                              env=verbose_env(out, callback), args=["-vvv"], timeout=300)
        # The last check failed, and said why; Prometheus was asked with each credential.
        assert result.rc == 2, result.stdout[-3000:]
        assert "always-one" in result.stdout and "max 0" in result.stdout, result.stdout[-3000:]
        seen = list(prometheus.headers_seen("authorization")[before:])
        assert "Basic " + basic in seen and "Bearer " + token in seen, seen
        assert app.headers_seen("authorization")[before_app:] == ["Bearer " + probe_token] * 5
        sources = {"stdout": result.stdout, "stderr": result.stderr}
        sources.update(("file " + p, t) for p, t in files_text(str(out)).items())
        if callback == "ansible.posix.json":
            assert json.loads(result.stdout[result.stdout.index("{"):])["stats"]
        found = leaks(secrets, sources)
        assert found == [], "%s: secrets in what the run wrote: %s" % (callback, found)


def test_a_refused_pre_rollout_hook_stops_the_run_saying_why_without_its_header(
        k8s, namespace, prometheus_url, recorder, audit, tmp_path):
    create_release(k8s, namespace)
    hooks = recorder(answers={"/refused": 403})
    token = secret("hook-auth")
    plan = release_vars(namespace, prometheus_url, None, analyze=False,
                        hooks={"pre_rollout": [{"name": "change-ticket", "url": hooks.url + "/refused?ticket=1",
                                                "headers": {"Authorization": "Bearer " + token}}]})
    mark = audit.mark()
    result = run_playbook("canary.yml", plan, env=verbose_env(tmp_path, "ansible.posix.json"), args=["-vvv"])
    assert result.rc != 0, result.summary()
    assert hooks.headers_seen("authorization", "/refused") == ["Bearer " + token]
    # The failure names the hook, where it was sent and the answer, in one line, and nothing was written.
    assert result.failure().startswith("shift_traffic_hooks.pre_rollout: hook change-ticket (POST %s/refused) failed: "
                                       "Status code was 403" % hooks.url), result.failure()
    assert audit.writes(mark, namespace=namespace) == []
    sources = {"stdout": result.stdout, "stderr": result.stderr}
    sources.update(("file " + p, t) for p, t in files_text(str(tmp_path)).items())
    assert leaks({"hook header": token}, sources) == []
