"""plugin_utils/in_worker.py: what the action plugins share to run a module's code in the worker."""

from ansible_collections.rollouts.istio.plugins.plugin_utils.in_worker import environment


def test_the_task_environment_is_set_while_it_runs_and_restored():
    environ = {"KEEP": "1", "PROMETHEUS_URL": "http://before"}
    with environment({"PROMETHEUS_URL": "http://during", "NEW": 2}, environ) as env:
        assert env["PROMETHEUS_URL"] == "http://during" and env["NEW"] == "2"
    assert environ == {"KEEP": "1", "PROMETHEUS_URL": "http://before"}
