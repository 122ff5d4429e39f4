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


def test_unreachable_with_fail_on_breach_off_reports_instead():
    url = "http://127.0.0.1:%d" % _free_port()
    res = run_module("prometheus_check", builtin_gate(url, "shop", retries=0, fail_on_breach=False))
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
    assert_fails_closed(res, "two: query returned 2 series")


def test_options_that_cannot_be_judged_fail_before_any_query(fake):
    prom = fake(api(OK))
    res = run_module("prometheus_check", builtin_gate(prom.url, "shop", iterations=3, failed_checks_limit=5))
    assert res["failed"] is True
    assert res["msg"] == "failed_checks_limit must be between 1 and iterations (3), got 5"
    res = run_module("prometheus_check", builtin_gate(prom.url, None))
    assert res["msg"] == ("query of metric 'request-success-rate' uses ${namespace}, which is not set: "
                          "set the namespace option")
    res = run_module("prometheus_check", builtin_gate(prom.url, "shop", metrics=[{"name": "request-duration"}]))
    assert res["msg"] == "metric 'request-duration' has neither min nor max, so no value could fail it"
    assert prom.requests == []


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
