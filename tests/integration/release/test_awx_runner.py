"""The AWX job templates of docs/awx/, run by ansible-runner, the engine AWX runs every job with.

No AWX can run on these machines; what a job template does to a playbook can: ansible-runner starts
ansible-playbook in a pseudo-terminal no one types into, with the survey's answers as extra vars,
the Kubernetes credential as K8S_AUTH_* (a ServiceAccount's token, no kubeconfig anywhere) and
JOB_ID set. The mesh simulator stands in for Envoy on the test bed (docs/mesh-simulator.md).
"""

import json
import os
import re
import sys

import ansible_runner
import pytest
import yaml

from support.release import REPO, api_key_env, read_record

SURVEYS = os.path.join(REPO, "docs", "awx", "surveys")
INVENTORY = os.path.join(REPO, "inventories", "local", "hosts.yml")


def survey(name):
    with open(os.path.join(SURVEYS, name + ".json")) as fh:
        return json.load(fh)


def answers(name, **given):
    """The survey's extra vars as AWX sends them: each question's default unless answered, typed as
    the question says (a multiple choice of "true"/"false" is a string, as AWX sends it)."""
    values = {}
    for question in survey(name)["spec"]:
        value = given.pop(question["variable"], question.get("default"))
        if question["type"] == "integer" and value is not None:
            value = int(value)
        values[question["variable"]] = value
    assert not given, "not questions of the %s survey: %s" % (name, sorted(given))
    return values


def template_vars(release):
    """What the job template itself passes (its extra_vars): the bed's Prometheus and ingress, and the
    test's short intervals and windows; everything the survey does not ask for."""
    plan = release.vars()
    for asked in ("release_app", "release_namespace", "release_stable", "release_candidate",
                  "shift_traffic_interval", "shift_traffic_iterations"):
        plan.pop(asked, None)
    plan["release_kubeconfig"] = ""  # AWX has none: the credential's K8S_AUTH_* say where and who
    return plan


class Job(object):
    """One job: ansible-runner's run of a playbook, its status, rc, events and output."""

    def __init__(self, runner):
        self.runner = runner
        self.status, self.rc = runner.status, runner.rc
        with open(runner.stdout.name) as fh:
            self.stdout = fh.read()
        self.events = list(runner.events)

    def failures(self):
        return [e["event_data"].get("res", {}).get("msg", "") for e in self.events
                if e.get("event") == "runner_on_failed" and not e["event_data"].get("ignore_errors")]

    def summary(self):
        return "status=%s rc=%s\n%s" % (self.status, self.rc, self.stdout[-4000:])


def run_job(tmp_path, name, playbook, extravars, credential_env):
    """Run one job as AWX would: its own private data dir, the survey and template vars, the credential."""
    data = tmp_path / name
    data.mkdir()
    envvars = dict(credential_env, JOB_ID="4242", ANSIBLE_FORCE_COLOR="0",
                   PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    runner = ansible_runner.run(private_data_dir=str(data), project_dir=REPO, playbook=os.path.join(REPO, playbook),
                                inventory=INVENTORY, extravars=extravars, envvars=envvars, quiet=True, timeout=300)
    return Job(runner)


@pytest.fixture
def credential(release, tmp_path):
    env, _token, _user = api_key_env(release.cluster, release.namespace, tmp_path)
    return env


def test_every_survey_asks_only_for_variables_the_playbooks_read():
    with open(os.path.join(REPO, "playbooks", "vars", "release.yml")) as fh:
        release_vars_text = fh.read()
    with open(os.path.join(REPO, "roles", "shift_traffic", "meta", "argument_specs.yml")) as fh:
        shift_options = yaml.safe_load(fh)["argument_specs"]["main"]["options"]
    playbooks = {}
    for name in os.listdir(os.path.join(REPO, "playbooks")):
        if name.endswith(".yml"):
            with open(os.path.join(REPO, "playbooks", name)) as fh:
                playbooks[name] = fh.read()
    for name in sorted(os.listdir(SURVEYS)):
        spec = survey(name[:-len(".json")])
        assert spec["name"] and spec["spec"], name
        for question in spec["spec"]:
            variable = question["variable"]
            assert question["type"] in ("text", "integer", "multiplechoice"), (name, question)
            if variable.startswith("shift_traffic_"):
                assert variable in shift_options, "%s: %s is not a shift_traffic variable" % (name, variable)
                if question["type"] == "multiplechoice":
                    choices = set(question["choices"].split("\n"))
                    assert choices <= set(shift_options[variable]["choices"]), (name, variable, choices)
            else:
                read = re.search(r"\b%s\b" % variable, release_vars_text + "".join(playbooks.values()))
                assert read, "%s: no playbook reads %s" % (name, variable)


def test_the_canary_job_template_promotes_with_the_credential_and_no_terminal(release, tmp_path, credential):
    extravars = dict(template_vars(release), **answers("canary", release_namespace=release.namespace,
                                                       shift_traffic_interval="2s", shift_traffic_iterations=2,
                                                       shift_traffic_approval="none"))
    job = run_job(tmp_path, "canary", "playbooks/canary.yml", extravars, credential)
    assert job.status == "successful" and job.rc == 0, job.summary()
    record = read_record(release.namespace)
    assert record["phase"] == "Succeeded", record
    # The record names the AWX job that ran it.
    assert record["run"].startswith("awx-job-4242/"), record["run"]
    # runner's own event stream saw the release's tasks, as AWX's job output shows them.
    ok = [e["event_data"] for e in job.events if e.get("event") == "runner_on_ok"]
    assert any(e.get("task") == "Set the weights of the step" for e in ok), job.summary()
    # istioctl analyze gated every step with the credential (istioctl reads only a kubeconfig: the role
    # made one from K8S_AUTH_*), and that file, which holds the token, is gone.
    analyzed = [e for e in ok if e.get("task") == "Run istioctl analyze on the namespaces of the rollout"]
    assert analyzed and all(r["rc"] == 0 for e in analyzed for r in e["res"]["results"]), job.summary()
    made = [e["res"]["path"] for e in ok if e.get("task") == "Make the file of istioctl's kubeconfig"]
    assert made and not any(os.path.exists(path) for path in made), made


def test_the_approval_workflow_waits_then_the_promote_job_template_promotes(release, tmp_path, credential):
    extravars = dict(template_vars(release), shift_traffic_approval_mode="split",
                     **answers("canary", release_namespace=release.namespace, shift_traffic_interval="2s",
                               shift_traffic_iterations=2))
    assert extravars["shift_traffic_approval"] == "before_promotion"  # the survey's default
    first = run_job(tmp_path, "canary", "playbooks/canary.yml", extravars, credential)
    assert first.status == "successful", first.summary()
    assert read_record(release.namespace)["phase"] == "WaitingApproval"

    # The workflow's approval node was approved; its answers reach the next node too.
    second = run_job(tmp_path, "promote", "playbooks/promote.yml", extravars, credential)
    assert second.status == "successful", second.summary()
    record = read_record(release.namespace)
    assert record["phase"] == "Succeeded" and record["stable"] == "v2", record


def test_a_pause_approval_is_refused_under_runner_before_anything_is_written(release, tmp_path, credential):
    # runner gives the run a pseudo-terminal: a pause there would wait for ever. It must be refused.
    before = read_record(release.namespace)
    extravars = dict(template_vars(release), shift_traffic_approval_mode="pause",
                     **answers("canary", release_namespace=release.namespace))
    job = run_job(tmp_path, "canary-pause", "playbooks/canary.yml", extravars, credential)
    assert job.status == "failed", job.summary()
    assert any("shift_traffic_approval_mode" in m and "split" in m for m in job.failures()), job.failures()
    assert read_record(release.namespace) == before


pytestmark = pytest.mark.testbed
