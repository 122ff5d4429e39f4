"""prometheus_check against the test bed's real Prometheus, scraping the mesh simulator's Istio metrics.

The tutorial's podinfo-v1 (stable) / podinfo-v2 (candidate) behind a weighted VirtualService, `hey` loading the ingress
during the analysis as the tutorial does, faults injected into v2 by annotation. Checks run every
2 s (Prometheus scrapes every 2 s) over a 20 s window.
"""

import re
import time

import pytest

from support.mesh import create_tutorial, set_faults
from support.prometheus_gate import builtin_gate, load, run_module

WINDOW = "20s"
# hey's load in these tests: 100 requests a second in all, so a 10 % candidate gets ~200 requests a window.
QPS, CONCURRENCY = 25, 4


@pytest.fixture
def tutorial(k8s, namespace, mesh_simulator, prometheus_url):
    """The tutorial in the test's namespace, seen by the simulator and scraped by Prometheus; returns a
    function to set the weights."""
    def start(v1, v2, **faults):
        create_tutorial(k8s, namespace, weights={"v1": v1, "v2": v2})
        if faults:
            set_faults(k8s, namespace, "podinfo-v2", **faults)
        mesh_simulator.wait_synced(k8s, namespace)
        mesh_simulator.wait_scraped(prometheus_url)
        return mesh_simulator
    return start


def gate(prometheus_url, namespace, **options):
    # initial_delay: the window holds the load of the test only once it has run for a window's length.
    options.setdefault("interval", "2s")
    options.setdefault("initial_delay", WINDOW)
    options.setdefault("iterations", 3)
    options.setdefault("failed_checks_limit", 2)
    options.setdefault("metrics", [{"name": "request-success-rate", "min": 99, "interval": WINDOW},
                                   {"name": "request-duration", "max": 500, "interval": WINDOW}])
    return builtin_gate(prometheus_url, namespace, **options)


def success_rate(prometheus_url, selector):
    """The success rate of the destination workloads matching `selector`, over the window, via prometheus_query."""
    query = ('100 * sum(rate(istio_requests_total{reporter="destination",%s,response_code!~"5.*"}[%s])) '
             '/ sum(rate(istio_requests_total{reporter="destination",%s}[%s]))' % (selector, WINDOW, selector, WINDOW))
    res = run_module("prometheus_query", {"url": prometheus_url, "query": query})
    assert not res.get("failed"), res
    return res["value"]


def test_a_healthy_candidate_passes(prometheus_url, namespace, tutorial):
    sim = tutorial(50, 50)
    with load(sim, 60, QPS, CONCURRENCY):
        res = run_module("prometheus_check", gate(prometheus_url, namespace))
    assert not res.get("failed"), res.get("msg")
    assert res["verdict"] == "pass" and res["changed"] is False
    # Every one of the 3 iterations runs: they are the observation time asked for.
    assert res["iterations_run"] == 3 and res["stopped_early"] is False
    assert res["reasons"] == [] and res["failed_checks_total"] == 0
    values = dict((c["metric"], c["value"]) for c in res["checks"])
    assert values["request-success-rate"] == pytest.approx(100)
    assert 0 < values["request-duration"] <= 500
    assert all(c["verdict"] == "pass" for c in res["checks"])
    assert 'destination_workload=~"podinfo-v2"' in res["checks"][0]["query"]


def test_five_percent_errors_on_the_candidate_fail_though_the_stable_traffic_is_healthy(
        prometheus_url, namespace, tutorial):
    # 90/10: all traffic together still succeeds ~99.5 % of the time, enough for a gate that looked at it.
    sim = tutorial(90, 10, error_rate=0.05)
    with load(sim, 60, QPS, CONCURRENCY):
        res = run_module("prometheus_check", gate(prometheus_url, namespace, fail_task=False))
        whole = success_rate(prometheus_url, 'destination_workload_namespace="%s"' % namespace)
        stable = success_rate(prometheus_url, 'destination_workload_namespace="%s",destination_workload="podinfo-v1"'
                              % namespace)
    assert res["verdict"] == "fail", res["reason"]
    failing = [c for c in res["checks"] if c["verdict"] == "fail"]
    assert failing and all(c["metric"] == "request-success-rate" for c in failing)
    assert all(c["value"] < 99 for c in failing)
    assert res["reason"].startswith("request-success-rate = ")
    assert re.search(r"< min 99 in 2 of [23] checks \(failed_checks_limit 2 reached\)$", res["reason"])
    # What the gate did not look at: the stable version is healthy, and so is the whole.
    assert stable == pytest.approx(100)
    assert whole >= 99, "the whole traffic's success rate %s would have passed an unscoped gate" % whole


def test_the_gate_fails_the_task_with_the_reason(prometheus_url, namespace, tutorial):
    sim = tutorial(50, 50, error_rate=0.05)
    with load(sim, 60, QPS, CONCURRENCY):
        res = run_module("prometheus_check", gate(prometheus_url, namespace, iterations=1, failed_checks_limit=1))
    assert res["failed"] is True
    assert res["msg"].startswith("analysis failed: request-success-rate = ")
    assert res["msg"].endswith("< min 99 in 1 of 1 checks (failed_checks_limit 1 reached)")


def test_one_second_of_latency_on_the_candidate_fails_the_duration_gate(prometheus_url, namespace, tutorial):
    sim = tutorial(50, 50, latency_ms=1000)
    with load(sim, 60, QPS, CONCURRENCY):
        res = run_module("prometheus_check", gate(prometheus_url, namespace, fail_task=False))
    assert res["verdict"] == "fail", res["reason"]
    by_metric = {}
    for c in res["checks"]:
        by_metric.setdefault(c["metric"], []).append(c)
    assert all(c["verdict"] == "pass" and c["value"] == pytest.approx(100) for c in by_metric["request-success-rate"])
    assert all(c["verdict"] == "fail" and c["value"] >= 1000 for c in by_metric["request-duration"])
    assert re.match(r"request-duration = [\d.]+ > max 500 in 2 of 2 checks \(failed_checks_limit 2 reached\)$",
                    res["reason"])


# ---------------------------------------------------------------- no traffic

def test_no_traffic_fails_by_default(prometheus_url, namespace, tutorial):
    tutorial(50, 50)
    res = run_module("prometheus_check", gate(prometheus_url, namespace, initial_delay="0s", iterations=1,
                                              failed_checks_limit=1))
    assert res["failed"] is True and res["verdict"] == "fail"
    assert [c["verdict"] for c in res["checks"]] == ["fail", "fail"]
    assert all(c["value"] is None and c["no_data"] in ("query returned no series", "query returned NaN")
               for c in res["checks"])
    assert res["reason"].startswith("request-success-rate: no data (")


def test_no_traffic_skipped_when_asked_still_fails_naming_each_metric(prometheus_url, namespace, tutorial):
    # Was a pass ("0 of 3 checks passed, 3 skipped"): a gate that saw no traffic has no evidence.
    tutorial(50, 50)
    res = run_module("prometheus_check", gate(prometheus_url, namespace, initial_delay="0s", no_data="skip",
                                              failed_checks_limit=1))
    assert res["failed"] is True and res["verdict"] == "fail"
    assert res["skipped_checks"] == 3 and res["iterations_run"] == 3 and res["failed_checks"] == 0
    assert res["reason"].startswith("no check passed, so nothing shows the candidate healthy: request-success-rate: ")
    assert [r.split(":")[0] for r in res["reasons"]] == ["request-success-rate", "request-duration"]
    assert all(r.endswith("skipped (no_data=skip) in 3 of 3 checks") for r in res["reasons"])


def test_no_traffic_is_waited_for_until_the_deadline(prometheus_url, namespace, tutorial):
    tutorial(50, 50)
    res = run_module("prometheus_check", gate(prometheus_url, namespace, initial_delay="0s", no_data="wait",
                                              no_data_timeout="5s", iterations=1, failed_checks_limit=1))
    assert res["failed"] is True
    verdicts = [c["verdict"] for c in res["checks"]]
    assert verdicts[:2] == ["wait", "wait"] and verdicts[-2:] == ["fail", "fail"]
    assert res["iterations_run"] == 1
    assert max(c["attempt"] for c in res["checks"]) >= 3  # 0 s, 2 s, 4 s wait; 6 s fails


def test_traffic_that_comes_while_waiting_is_judged(prometheus_url, namespace, tutorial):
    sim = tutorial(50, 50)
    with load(sim, 60, QPS, CONCURRENCY, delay=6):
        res = run_module("prometheus_check", gate(prometheus_url, namespace, initial_delay="0s", no_data="wait",
                                                  no_data_timeout="1m", iterations=1, failed_checks_limit=1))
    assert not res.get("failed"), res.get("msg")
    assert res["verdict"] == "pass" and res["iterations_run"] == 1
    verdicts = [c["verdict"] for c in res["checks"]]
    assert verdicts[0] == "wait" and verdicts[-2:] == ["pass", "pass"] and "fail" not in verdicts
    assert all(c["iteration"] == 1 for c in res["checks"])


def test_too_few_requests_are_no_data(prometheus_url, namespace, tutorial):
    sim = tutorial(50, 50)
    with load(sim, 60, qps=1, concurrency=1):
        res = run_module("prometheus_check", gate(prometheus_url, namespace, iterations=1, failed_checks_limit=1,
                                                  min_requests=1000, fail_task=False))
    assert res["verdict"] == "fail"
    for check in res["checks"]:
        assert 0 < check["requests"] < 1000
        assert check["no_data"].endswith("requests < min_requests 1000")
        assert check["requests_query"].startswith("sum((increase(istio_requests_total{")


# ---------------------------------------------------------------- a candidate that fails every request

def test_a_candidate_answering_only_5xx_has_a_success_rate_of_0(prometheus_url, namespace, tutorial):
    """The built-in query on the real Prometheus: no non-5xx series at all is 0 %, not "no data"."""
    sim = tutorial(50, 50, error_rate=1.0)
    with load(sim, 60, QPS, CONCURRENCY):
        res = run_module("prometheus_check", gate(prometheus_url, namespace, iterations=1, failed_checks_limit=1))
    assert res["failed"] is True and res["verdict"] == "fail"
    success = [c for c in res["checks"] if c["metric"] == "request-success-rate"]
    assert [c["value"] for c in success] == [0.0] and "no_data" not in success[0]
    assert res["msg"] == ("analysis failed: request-success-rate = 0 < min 99 in 1 of 1 checks "
                          "(failed_checks_limit 1 reached)")


def test_a_candidate_answering_only_5xx_fails_with_no_data_skip(prometheus_url, namespace, tutorial):
    """The fail-open case of the issue: no_data: skip and a duration that passes used to pass the gate."""
    sim = tutorial(50, 50, error_rate=1.0)
    with load(sim, 60, QPS, CONCURRENCY):
        res = run_module("prometheus_check", gate(prometheus_url, namespace, no_data="skip", iterations=2,
                                                  failed_checks_limit=2, fail_task=False))
    assert res["verdict"] == "fail" and res["skipped_checks"] == 0
    assert all(c["verdict"] == "fail" and c["value"] == 0.0 for c in res["checks"]
               if c["metric"] == "request-success-rate")
    assert res["reasons"][0] == "request-success-rate = 0 < min 99 in 2 of 2 checks"


# ---------------------------------------------------------------- failed checks over a whole canary

def test_failed_checks_carried_in_from_earlier_steps_count_against_the_limit(prometheus_url, namespace, tutorial):
    """An earlier step failed one check (below the limit 2); this step's first failed check reaches the limit."""
    sim = tutorial(50, 50, error_rate=0.05)
    with load(sim, 60, QPS, CONCURRENCY):
        res = run_module("prometheus_check", gate(prometheus_url, namespace, iterations=3, failed_checks_limit=2,
                                                  failed_checks_so_far=1, fail_task=False))
    assert res["verdict"] == "fail" and res["failed_checks"] == 1 and res["iterations_run"] == 1
    assert res["failed_checks_so_far"] == 1 and res["failed_checks_total"] == 2 and res["stopped_early"] is True
    assert res["reason"].endswith("(failed_checks_limit 2 reached with 1 failed in earlier steps)")


# ---------------------------------------------------------------- errors that begin inside the window

def _first_sample(prometheus_url, selector):
    """(time, value) of the first sample Prometheus holds of the one series `selector` matches, or None."""
    res = run_module("prometheus_query", {"url": prometheus_url, "query": "istio_requests_total{%s}[1m]" % selector})
    assert not res.get("failed"), res
    points = [s["points"] for s in res["samples"] if s.get("points")]
    return (points[0][0]["time"], points[0][0]["value"]) if points else None


def _value_at(prometheus_url, query, at):
    res = run_module("prometheus_query", {"url": prometheus_url, "query": query, "time": "%.3f" % at})
    assert not res.get("failed"), res
    return res["value"]


def test_errors_whose_series_began_at_the_last_scrape_count(prometheus_url, k8s, namespace, tutorial):
    """A candidate's first 5xx makes a new series, and rate() or increase() of a series needs two of its
    samples in the window: until the second scrape, a ratio of rates (Flagger's query) leaves the errors
    out and reads 100 %. That is how the kill campaign saw a candidate answering 30 % errors pass its first
    gate. The built-in queries count a series born inside the window with all it counted. The queries are
    the ones prometheus_check sent, evaluated at a moment just after the 500 series' first scrape (the
    `time` of prometheus_query), so that moment is not left to chance."""
    sim = tutorial(0, 100)
    # A window shorter than the time the load runs before the fault: the 200 series is older than it.
    window = "6s"
    sel = 'reporter="destination",destination_workload_namespace="%s",destination_workload="podinfo-v2"' % namespace
    with load(sim, 60, QPS, CONCURRENCY):
        res = run_module("prometheus_check", gate(
            prometheus_url, namespace, initial_delay="10s", iterations=1, min_requests=1, failed_checks_limit=1,
            fail_task=False, metrics=[{"name": "request-success-rate", "min": 99, "interval": window}]))
        assert res["verdict"] == "pass", res.get("reasons")
        set_faults(k8s, namespace, "podinfo-v2", error_rate=1.0)
        sim.wait_synced(k8s, namespace)
        first_error = None
        deadline = time.time() + 30
        while first_error is None and time.time() < deadline:
            first_error = _first_sample(prometheus_url, sel + ',response_code="500"')
            time.sleep(0.5)
    assert first_error, "Prometheus never saw the candidate's 500s"
    at, errors = first_error[0] + 0.5, first_error[1]
    success_query = [c["query"] for c in res["checks"] if c["metric"] == "request-success-rate"][0]
    flagger = ('100 * sum(rate(istio_requests_total{%s,response_code!~"5.*"}[%s]))'
               ' / sum(rate(istio_requests_total{%s}[%s]))' % (sel, window, sel, window))
    # The moment is the one that fooled the ratio of rates: the 500s are not in it at all.
    assert _value_at(prometheus_url, flagger, at) == pytest.approx(100)
    ok = _value_at(prometheus_url, 'sum(increase(istio_requests_total{%s,response_code="200"}[%s]))'
                   % (sel, window), at)
    assert ok > 0 and errors >= 1
    assert _value_at(prometheus_url, success_query, at) == pytest.approx(100 * ok / (ok + errors))
    assert _value_at(prometheus_url, success_query, at) < 100
    requests_query = res["checks"][0]["requests_query"]
    assert _value_at(prometheus_url, requests_query, at) == pytest.approx(ok + errors)
