"""The modules through ansible-playbook when Prometheus fails: every failure is a clear error and the
gate fails closed. Invalid PromQL goes to the real Prometheus of the cluster under test; what a real
Prometheus will not do on demand (answer garbage, answer slowly, check a token) a local fake does."""

import json
import socket

import pytest

from support.prometheus_gate import builtin_gate, module_run, run_module
from support.fake_prometheus import OK, FakePrometheus, api

TOKEN = "s3cret-t0ken-never-shown"


@pytest.fixture
def fake():
    servers = []

    def start(*script):
        server = FakePrometheus(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_fails_closed(res, message):
    """The task failed, the verdict is fail, and the message and the error record say why."""
    assert res["failed"] is True
    assert res["verdict"] == "fail"
    assert message in res["msg"] and message in res["error"]
    assert res["checks"][-1]["verdict"] == "error"
    assert res["changed"] is False


def test_unreachable():
    url = "http://127.0.0.1:%d" % _free_port()
    res = run_module("prometheus_check", builtin_gate(url, "shop", retries=1))
    assert_fails_closed(res, "Prometheus at %s is unreachable: " % url)
    assert res["msg"].endswith("(2 attempts)")
    assert res["iterations_run"] == 0


def test_unreachable_with_fail_task_off_reports_instead():
    url = "http://127.0.0.1:%d" % _free_port()
    res = run_module("prometheus_check", builtin_gate(url, "shop", retries=0, fail_task=False))
    assert not res.get("failed")
    assert res["verdict"] == "fail" and "is unreachable" in res["error"]
    assert res["reason"].startswith("analysis stopped after 0 of 1 checks: request-success-rate: Prometheus at ")


def test_slow(fake):
    prom = fake(api(OK, delay=3))
    res = run_module("prometheus_check", builtin_gate(prom.url, "shop", timeout=0.5, retries=1))
    assert_fails_closed(res, "Prometheus at %s did not answer within 0.5s (timeout) (2 attempts)" % prom.url)


def test_garbage(fake):
    prom = fake((200, "text/html", b"<html><body><h1>It works!</h1></body></html>", 0))
    res = run_module("prometheus_check", builtin_gate(prom.url, "shop"))
    assert_fails_closed(res, "Prometheus at %s answered with something that is not its JSON API (HTTP 200, "
                             "Content-Type text/html): <html><body><h1>It works!</h1></body></html>" % prom.url)
    assert len(prom.requests) == 1  # not retried: it will not become Prometheus


def test_5xx_then_ok_passes(fake):
    prom = fake(api({"status": "error", "errorType": "unavailable", "error": "loading"}, status=503), api(OK))
    res = run_module("prometheus_check", builtin_gate(prom.url, "shop", metrics=[
        {"name": "request-success-rate", "min": 99}]))
    assert not res.get("failed"), res.get("msg")
    assert res["verdict"] == "pass" and res["checks"][0]["value"] == 99.5
    assert len(prom.requests) == 2 and res["queries"] == 1


def _token_check(request):
    if request["headers"].get("Authorization") != "Bearer " + TOKEN:
        return (401, "text/plain", b"Unauthorized", 0)
    return api(OK)


def test_wrong_token(fake):
    prom = fake(_token_check)
    run = module_run("prometheus_check", builtin_gate(prom.url, "shop", token="not-" + TOKEN))
    res = run[0]
    assert_fails_closed(res, "Prometheus at %s refused the request (HTTP 401): wrong credentials (sent: a bearer "
                             "token); check token, username and password" % prom.url)
    assert len(prom.requests) == 1  # not retried: the same token will be refused again
    assert TOKEN not in json.dumps(run.raw)


def test_right_token_is_sent_and_never_shown(fake):
    prom = fake(_token_check)
    run = module_run("prometheus_check", builtin_gate(prom.url, "shop", token=TOKEN))
    assert run[0]["verdict"] == "pass", run[0].get("msg")
    run_q = module_run("prometheus_query", {"url": prom.url, "query": "up", "token": TOKEN})
    assert run_q[0]["value"] == 99.5
    for output in (run.raw, run_q.raw):
        assert TOKEN not in json.dumps(output)


def test_invalid_promql_names_prometheus_own_message(prometheus_url):
    res = run_module("prometheus_check", builtin_gate(prometheus_url, "shop", metrics=[
        {"name": "broken", "query": 'sum(rate(istio_requests_total{namespace="${namespace}"[1m]))', "max": 1}]))
    assert_fails_closed(res, "broken: invalid PromQL: ")
    assert "parse error" in res["msg"]


def test_invalid_promql_in_prometheus_query(prometheus_url):
    res = run_module("prometheus_query", {"url": prometheus_url, "query": "sum(up"})
    assert res["failed"] is True and res["msg"].startswith("invalid PromQL: ") and "parse error" in res["msg"]


def test_a_query_with_many_series_fails_closed(prometheus_url):
    # Prometheus scrapes itself, so `up` has at least one series; label_replace makes sure of two.
    query = 'label_replace(vector(1), "a", "1", "", "") or label_replace(vector(2), "a", "2", "", "")'
    res = run_module("prometheus_check", builtin_gate(prometheus_url, "shop", metrics=[
        {"name": "two", "query": query, "max": 5}]))
    # The error names the metric and the parameter the query came from (docs/bad-input.md).
    assert_fails_closed(res, "two: metrics[0].query: query returned 2 series")


def test_options_that_cannot_be_judged_fail_before_any_query(fake):
    prom = fake(api(OK))
    res = run_module("prometheus_check", builtin_gate(prom.url, "shop", iterations=3, failed_checks_limit=5))
    assert res["failed"] is True and res["param"] == "failed_checks_limit"
    assert res["msg"] == ("failed_checks_limit: must be between 1 and iterations (3), got 5: a limit the checks "
                          "could never reach would let every analysis pass")
    res = run_module("prometheus_check", builtin_gate(prom.url, None))
    assert res["msg"] == ("metrics[0].query: the query of metric 'request-success-rate' uses ${namespace}, which is "
                          "not set: set the namespace option")
    res = run_module("prometheus_check", builtin_gate(prom.url, "shop", metrics=[{"name": "request-duration"}]))
    assert res["msg"] == "metrics[0]: metric 'request-duration' has neither min nor max, so no value could fail it"
    assert prom.requests == []


@pytest.mark.parametrize("options,param,message", [
    ({"metrics": [{"name": "request-success-rate", "min": 99}, {"name": "request-duration", "max": "nan"}]},
     "metrics[1].max", "must be a finite number, got nan"),
    ({"metrics": [{"name": "request-success-rate", "min": "inf"}]}, "metrics[0].min", "must be a finite number"),
    ({"iterations": 0}, "iterations", "must be at least 1, got 0"),
    ({"failed_checks_so_far": -1}, "failed_checks_so_far", "must be at least 0, got -1"),
    ({"min_requests": -1}, "min_requests", "must be at least 0, got -1"),
    ({"timeout": "nan"}, "timeout", "must be a finite number, got nan"),
    ({"timeout": 0}, "timeout", "must be more than 0"),
    ({"retries": -1}, "retries", "must be at least 0, got -1"),
    ({"interval": "0s"}, "interval", "must be longer than 0s"),
    ({"no_data_timeout": "5 min"}, "no_data_timeout", "'5 min' is not a duration"),
])
def test_numbers_that_cannot_work_are_refused_naming_the_option(fake, options, param, message):
    prom = fake(api(OK))
    res = run_module("prometheus_check", builtin_gate(prom.url, "shop", **options))
    assert res["failed"] is True and res["param"] == param and res["changed"] is False
    assert res["msg"].startswith("%s: %s" % (param, message)), res["msg"]
    assert prom.requests == []


def test_prometheus_query_refuses_a_step_that_is_nan(fake):
    prom = fake(api(OK))
    res = run_module("prometheus_query", {"url": prom.url, "query": "up", "start": "10m", "step": "nan"})
    assert res["failed"] is True and res["param"] == "step" and prom.requests == []


# ---------------------------------------------------------------- prometheus_query against the real one

def test_instant_and_range_queries(prometheus_url):
    res = run_module("prometheus_query", {"url": prometheus_url, "query": "vector(42)"})
    assert not res.get("failed"), res.get("msg")
    assert res["result_type"] == "vector" and res["value"] == 42.0 and res["changed"] is False
    res = run_module("prometheus_query", {"url": prometheus_url, "query": "vector(1) / 0 - vector(1) / 0"})
    assert res["value"] is None and res["samples"][0]["raw"] == "NaN"
    res = run_module("prometheus_query", {"url": prometheus_url, "query": "vector(7)", "start": "1m",
                                          "step": "15s"})
    assert res["result_type"] == "matrix" and res["value"] is None
    points = res["samples"][0]["points"]
    assert 4 <= len(points) <= 5 and all(p["value"] == 7.0 for p in points)


def test_check_mode_runs_the_analysis(prometheus_url):
    res = run_module("prometheus_check", builtin_gate(prometheus_url, "shop", metrics=[
        {"name": "answer", "query": "vector(42)", "min": 40, "max": 50}]), check=True)
    assert not res.get("failed") and res["changed"] is False
    assert res["verdict"] == "pass" and res["checks"][0]["value"] == 42.0


# ---------------------------------------------------------------- escaping, warnings, the old option name

def test_a_workload_with_a_quote_stays_a_workload_name(prometheus_url):
    """The workload is put into the query as one string literal (a regex, so its parentheses balance here):
    Prometheus takes it whole as the workload to match, and the gate fails for no data instead of the
    query being rewritten into `... or vector(100)`."""
    evil = '((x"}[1m]))*0+1 or vector(100) #'
    res = run_module("prometheus_check", builtin_gate(prometheus_url, "shop", workload=evil, metrics=[
        {"name": "request-success-rate", "min": 99}], fail_task=False))
    assert not res.get("failed"), res.get("msg")
    check = res["checks"][0]
    assert 'destination_workload=~"((x\\"}[1m]))*0+1 or vector(100) #"' in check["query"]
    assert res["verdict"] == "fail" and check["value"] is None and check["no_data"] == "query returned no series"


def test_prometheus_warnings_reach_the_result_and_the_play(fake):
    warned = dict(OK, warnings=["partial response: store 10.0.0.7 unreachable"])
    prom = fake(api(warned))
    res = run_module("prometheus_check", builtin_gate(prom.url, "shop", metrics=[
        {"name": "request-success-rate", "min": 99}]))
    assert res["verdict"] == "pass", res.get("msg")
    assert res["prometheus_warnings"] == ["partial response: store 10.0.0.7 unreachable"]
    assert res["checks"][0]["prometheus_warnings"] == res["prometheus_warnings"]
    assert "Prometheus: partial response: store 10.0.0.7 unreachable" in res["warnings"]
    res = run_module("prometheus_query", {"url": prom.url, "query": "up"})
    assert res["prometheus_warnings"] == ["partial response: store 10.0.0.7 unreachable"]
    assert "Prometheus: partial response: store 10.0.0.7 unreachable" in res["warnings"]


def test_fail_on_breach_still_works_and_is_deprecated(fake):
    prom = fake(api({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1.0, "50"]}]}}))
    res = run_module("prometheus_check", builtin_gate(prom.url, "shop", fail_on_breach=False, metrics=[
        {"name": "request-success-rate", "min": 99}]))
    assert not res.get("failed") and res["verdict"] == "fail"
    assert any("fail_on_breach" in d["msg"] for d in res.get("deprecations", [])), res.get("deprecations")
    res = run_module("prometheus_check", builtin_gate(prom.url, "shop", metrics=[
        {"name": "request-success-rate", "min": 99}]))
    assert res["failed"] is True and res["msg"] == (
        "analysis failed: request-success-rate = 50 < min 99 in 1 of 1 checks (failed_checks_limit 1 reached)")
    assert res["reasons"] == ["request-success-rate = 50 < min 99 in 1 of 1 checks"]
