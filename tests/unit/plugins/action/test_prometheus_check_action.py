"""rollouts.istio.prometheus_check's action plugin: where it runs the analysis, what it shows, what it returns.

The analysis itself runs against a fake Prometheus on 127.0.0.1 (tests/support/fake_prometheus.py).
That its result equals the module's, run as a module, is shown through ansible-playbook in
tests/integration/progress.
"""

import json
from unittest import mock

import pytest
from ansible.playbook.task import Task

from support.fake_prometheus import FakePrometheus, api

from ansible_collections.rollouts.istio.plugins.action import prometheus_check as PC

SECRET = "t0ken-9b1e"


def vector(value):
    return api({"status": "success", "data": {"resultType": "vector",
                                              "result": [{"metric": {}, "value": [1.0, str(value)]}]}})


def action(transport="local", become=False, async_val=0, no_log=False):
    task = Task()
    task.args = {}
    task.async_val = async_val
    task.no_log = no_log
    connection = mock.MagicMock()
    connection.transport = transport
    play_context = mock.MagicMock()
    play_context.become = become
    plugin = PC.ActionModule(task, connection=connection, play_context=play_context, loader=None, templar=None,
                             shared_loader_obj=None)
    plugin._load_name = "rollouts.istio.prometheus_check"
    return plugin


@pytest.fixture
def prometheus():
    fake = FakePrometheus([vector(100), vector(100), vector(40)])
    yield fake
    fake.stop()


def args(url, **more):
    out = dict(url=url, token=SECRET, retries=0, interval="1s", iterations=3, failed_checks_limit=1,
               metrics=[dict(name="ok", query="ok_metric", min=99)])
    out.update(more)
    return out


def no_sleep(seconds):
    del seconds


@pytest.mark.parametrize("transport,become,async_val,here", [
    ("local", False, 0, True),
    ("ssh", False, 0, False),
    ("elsewhere", False, 0, False),
    ("local", True, 0, False),   # become: the module would run as another user
    ("local", False, 30, False),  # async: the module runs in the background, as asked
])
def test_the_analysis_runs_here_only_on_the_controller_as_its_user(transport, become, async_val, here):
    assert action(transport, become, async_val)._runs_on_controller() is here


def test_elsewhere_the_module_runs_as_a_module():
    plugin = action("ssh")
    plugin._task.args = {"metrics": [{"name": "ok", "query": "q", "min": 1}]}
    with mock.patch.object(PC.ActionBase, "run", return_value={}), \
            mock.patch.object(plugin, "_execute_module", return_value={"verdict": "pass"}) as execute:
        assert plugin.run(task_vars={}) == {"verdict": "pass"}
    assert execute.call_args.kwargs["module_name"] == "rollouts.istio.prometheus_check"
    assert execute.call_args.kwargs["module_args"] == plugin._task.args


def test_each_check_is_shown_with_its_values_and_the_result_is_the_analysis(prometheus):
    lines = []
    result = action().analyse(args(prometheus.url), label="step 1 (10 %)", show=lines.append, sleep=no_sleep)
    assert lines == [
        "prometheus_check: analysis (step 1 (10 %)): 3 checks, one every 1s, failed_checks_limit 1: ok",
        "prometheus_check: check 1 of 3 (step 1 (10 %)): ok = 100 (min 99) pass; next check in 1s",
        "prometheus_check: check 2 of 3 (step 1 (10 %)): ok = 100 (min 99) pass; next check in 1s",
        "prometheus_check: check 3 of 3 (step 1 (10 %)): ok = 40 (min 99) fail => analysis fail",
    ]
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("analysis failed: ok = 40 < min 99 in 1 of 3 checks")
    assert result["verdict"] == "fail" and result["iterations_run"] == 3 and result["queries"] == 3
    assert result["invocation"]["module_args"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert SECRET not in json.dumps(result)


def test_a_task_with_no_log_shows_verdicts_only(prometheus):
    lines = []
    action(no_log=True).analyse(args(prometheus.url, iterations=1), show=lines.append, sleep=no_sleep)
    assert lines[-1] == "prometheus_check: check 1 of 1: ok pass => analysis pass"


def test_a_secret_in_an_answer_is_masked_in_lines_and_result():
    fake = FakePrometheus([api({"status": "error", "errorType": "bad_data", "error": "no such token " + SECRET},
                               status=400)])
    try:
        lines = []
        result = action().analyse(args(fake.url), show=lines.append, sleep=no_sleep)
    finally:
        fake.stop()
    assert lines[-1] == "prometheus_check: check 1 of 3: ok: invalid PromQL: no such token ******** error => analysis fail"
    assert SECRET not in json.dumps(result) + "".join(lines)
    assert result["error"] == "ok: invalid PromQL: no such token ********"


def test_the_token_from_the_environment_is_masked_too(monkeypatch):
    monkeypatch.setenv("PROMETHEUS_TOKEN", "env-" + SECRET)

    def echo(request):
        return api({"status": "error", "errorType": "bad_data", "error": request["headers"]["Authorization"]},
                   status=400)

    fake = FakePrometheus([echo])
    try:
        lines = []
        given = args(fake.url)
        del given["token"]
        result = action().analyse(given, show=lines.append, sleep=no_sleep)
    finally:
        fake.stop()
    assert "Bearer ********" in result["error"]
    assert SECRET not in json.dumps(result) + "".join(lines)


@pytest.mark.parametrize("given,message", [
    (dict(bogus=1), "Unsupported parameters for (rollouts.istio.prometheus_check) module: bogus."),
    (dict(username="gate", password="pw"), "parameters are mutually exclusive: token|username"),
    (dict(iterations="many"), "argument 'iterations' is of type "),  # the rest differs from core to core
    (dict(no_data="sometimes"), "value of no_data must be one of: fail, skip, wait, got: sometimes"),
])
def test_bad_input_fails_as_the_module_does_before_any_query(given, message):
    fake = FakePrometheus([vector(100)])
    try:
        lines = []
        result = action().analyse(args(fake.url, **given), show=lines.append, sleep=no_sleep)
        assert fake.requests == []
    finally:
        fake.stop()
    assert result["failed"] is True and result["msg"].startswith(message), result["msg"]
    assert lines == []
    assert "changed" not in result  # as AnsibleModule's fail_json on bad input


def test_a_bad_analysis_option_names_it():
    result = action().analyse(args("http://127.0.0.1:9", iterations=0), show=lambda line: None)
    assert result["failed"] and result["param"] == "iterations" and result["msg"].startswith("iterations:")


def test_the_deprecated_alias_is_reported_as_the_module_reports_it(prometheus):
    result = action().analyse(args(prometheus.url, iterations=1, fail_on_breach=False), show=lambda line: None,
                              sleep=no_sleep)
    assert result["deprecations"] == [{"msg": "Alias 'fail_on_breach' is deprecated. See the module docs for more "
                                              "information", "version": "2.0.0", "collection_name": "rollouts.istio"}]
    assert "warnings" not in result
