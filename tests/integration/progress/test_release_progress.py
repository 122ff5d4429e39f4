"""A canary through playbooks/canary.yml, read as a person reads it: the default callback's output shows
every check of every gate with its values, and the role's module_defaults reach prometheus_check
(the url and credentials come only from them). On the test bed, with the mesh simulator standing in
for Envoy."""

from support.release import run_playbook, read_record


def test_a_canary_shows_each_check_of_each_step_while_it_runs(release):
    plan = release.vars(steps=[10, 50])
    result = run_playbook("canary.yml", plan, env={"ANSIBLE_STDOUT_CALLBACK": "default"})
    out = result.stdout
    assert result.rc == 0, out[-5000:] + result.stderr[-2000:]
    assert read_record(release.namespace)["phase"] == "Succeeded"
    lines = [line for line in out.splitlines() if line.startswith("prometheus_check: ")]
    # One opening line per gate, then each check: request-success-rate and request-duration with values.
    opening = [line for line in lines if line.startswith("prometheus_check: analysis")]
    checks = [line for line in lines if line.startswith("prometheus_check: check ")]
    assert len(opening) == 2, lines
    assert len(checks) >= 4, lines
    for line in checks:
        assert "request-success-rate = " in line and "(min 99)" in line, line
        assert "request-duration = " in line and "(max 500)" in line, line
    assert checks[-1].endswith("=> analysis pass"), checks
    # The lines come inside the gate's task, before its result.
    gate = out.split("TASK [rollouts.istio.shift_traffic : Check the candidate's metrics]")
    assert len(gate) == 3
    for part in gate[1:]:
        before_result = part.split("ok: [localhost]")[0]
        assert "prometheus_check: check 1 of " in before_result
