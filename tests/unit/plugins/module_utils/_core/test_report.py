"""The rollout's report (pure): the decision record's checks, the JSON and its schema, the HTML, the JUnit XML.

Records come from two places: a record saved from a real release on the test bed that failed and
rolled back (fixtures/record-rolled-back.json: tests/integration/report saves the record of its run
in tests/output/report/, copied here once), and records built here through rollout_record.next_record,
as the rollout module builds them.
"""

import json
import os
import re
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import report as REPORT
from ansible_collections.rollouts.istio.plugins.module_utils._core import rollout_record as REC

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", "..", ".."))
SCHEMA = os.path.join(REPO, "docs", "schemas", "rollout-report.schema.json")
FIXTURES = os.path.join(HERE, "fixtures")
QUERY = ('100 * (sum(rate(istio_requests_total{reporter="source",destination_workload="podinfo-v2",'
         'response_code!~"5.*"}[1m])) or vector(0)) / sum(rate(istio_requests_total{reporter="source",'
         'destination_workload="podinfo-v2"}[1m]))')


def next_record(record, request, now_iso, now_epoch):
    """The record after ``request``, as the rollout module writes it."""
    return REC.next_record(record, request, now_iso, now_epoch)[0]


def req(action, **kw):
    base = dict(name="podinfo", action=action, stable="v1", candidate="v2", run_id="ci@runner:41:1700000000",
                service="podinfo", strategy="canary", steps=[10, 50, 100])
    base.update(kw)
    return REC.Request(**base)


def check(metric, iteration, value, verdict, minimum=None, maximum=None, second=0, **extra):
    out = {"iteration": iteration, "attempt": iteration, "metric": metric, "query": QUERY if metric == "success"
           else "histogram_quantile(0.99, sum(rate(d[1m])) by (le))", "value": value, "min": minimum, "max": maximum,
           "verdict": verdict, "reason": "%s = %s" % (metric, value), "time": "2026-12-06T22:00:%02d.000000Z" % second}
    out.update(extra)
    return out


def rolled_back_record():
    """start, step 1 passed (two checks per metric), step 2 failed its metrics, rolled back."""
    rec = next_record(None, req("start"), "2026-12-06T21:59:50.000000Z", 1)
    rec = next_record(rec, req("step", step=1, weight=10), "2026-12-06T21:59:55.000000Z", 2)
    checks = [check("success", 1, 100.0, "pass", minimum=99, second=0),
              check("latency", 1, 120.5, "pass", maximum=500, second=0),
              check("success", 2, 99.5, "pass", minimum=99, second=10),
              check("latency", 2, 130.0, "pass", maximum=500, second=10)]
    rec = next_record(rec, req("record", decision={
        "step": 1, "weight": 10, "gate": "prometheus", "verdict": "pass", "reason": "passed",
        "verdict_time": "2026-12-06T22:00:10.500000Z", "checks": checks,
        "values": {"failed_checks": 0, "metrics": {"success": 99.5, "latency": 130.0}, "split": {}}}),
        "2026-12-06T22:00:11.000000Z", 3)
    rec = next_record(rec, req("step", step=2, weight=50), "2026-12-06T22:00:12.000000Z", 4)
    failing = [check("success", 1, 50.0, "fail", minimum=99, second=22),
               check("latency", 1, None, "fail", maximum=500, second=22, no_data="3 requests < min_requests 20",
                     requests_query="sum(increase(r[1m]))", min_requests=20)]
    reason = "step 2 (50 %): success = 50 < min 99 in 1 of 1 checks (failed_checks_limit 1 reached)"
    rec = next_record(rec, req("rollback", message=reason, failed_checks=1, decision={
        "step": 2, "weight": 50, "gate": "Gate on the candidate's metrics", "verdict": "fail", "reason": reason,
        "verdict_time": "2026-12-06T22:00:22.500000Z", "checks": failing}), "2026-12-06T22:00:23.000000Z", 5)
    return rec


def fixture_records():
    out = {}
    for name in sorted(os.listdir(FIXTURES)) if os.path.isdir(FIXTURES) else []:
        if name.startswith("record-") and name.endswith(".json"):
            with open(os.path.join(FIXTURES, name)) as fh:
                out[name] = json.load(fh)
    return out


def all_records():
    records = {"built-rolled-back": rolled_back_record()}
    records.update(fixture_records())
    return records


@pytest.fixture(scope="module")
def validator():
    # tools/testbed/requirements-dev.txt pins it in every venv of the tests.
    jsonschema = pytest.importorskip("jsonschema")
    with open(SCHEMA) as fh:
        schema = json.load(fh)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# ---------------------------------------------------------------- the record keeps every check

def test_a_decision_keeps_every_check_with_each_query_once():
    rec = rolled_back_record()
    passed = rec["decisions"][0]["analysis"]
    assert [m["name"] for m in passed["metrics"]] == ["success", "latency"]
    assert passed["metrics"][0]["query"] == QUERY and passed["metrics"][0]["min"] == 99
    assert passed["fields"] == list(REC.CHECK_FIELDS)
    assert passed["checks"] == [[0, 1, 1, "2026-12-06T22:00:00.000000Z", 100.0, "pass", None],
                                [1, 1, 1, "2026-12-06T22:00:00.000000Z", 120.5, "pass", None],
                                [0, 2, 2, "2026-12-06T22:00:10.000000Z", 99.5, "pass", None],
                                [1, 2, 2, "2026-12-06T22:00:10.000000Z", 130.0, "pass", None]]
    assert "checks" not in rec["decisions"][0]
    failed = rec["decisions"][1]
    assert failed["verdict"] == "fail" and failed["analysis"]["checks"][1][4:] == [
        None, "fail", "3 requests < min_requests 20"]
    assert failed["analysis"]["metrics"][1]["requests_query"] == "sum(increase(r[1m]))"


def test_a_decision_without_checks_is_kept_as_given():
    assert REC.compact_decision({"gate": "probe", "verdict": "pass", "reason": "ok"}) == {
        "gate": "probe", "verdict": "pass", "reason": "ok"}
    assert REC.compact_decision({"gate": "x", "checks": []}) == {"gate": "x"}


def test_a_decision_keeps_its_last_checks_and_counts_the_others():
    many = [check("success", i, 99.9, "pass", minimum=99) for i in range(1, REC.KEEP_CHECKS + 11)]
    kept = REC.compact_decision({"checks": many})["analysis"]
    assert len(kept["checks"]) == REC.KEEP_CHECKS and kept["checks_left_out"] == 10
    assert kept["checks"][0][1] == 11 and kept["checks"][-1][1] == REC.KEEP_CHECKS + 10


def test_a_long_query_is_cut_and_its_length_kept():
    long_query = "sum(" + "x" * (REC.QUERY_CHARS * 2) + ")"
    metric = REC.compact_decision({"checks": [dict(check("success", 1, 1.0, "pass"), query=long_query)]})[
        "analysis"]["metrics"][0]
    assert len(metric["query"]) == REC.QUERY_CHARS and metric["query"].endswith("...")
    assert metric["query_chars"] == len(long_query)


def test_the_record_stays_within_its_bytes_oldest_checks_going_first():
    rec = next_record(None, req("start"), "T0", 1)
    rec = next_record(rec, req("step", step=1, weight=10), "T1", 2)
    big = [dict(check("success", i, 99.9, "pass", minimum=99), query="q" * REC.QUERY_CHARS)
           for i in range(1, REC.KEEP_CHECKS + 1)]
    for n in range(REC.KEEP_DECISIONS + 10):
        decision = {"gate": "prometheus", "verdict": "pass", "reason": "passed %d" % n, "checks": big}
        rec = next_record(rec, req("record", decision=decision), "T%d" % (n + 2), n + 3)
    text = json.dumps(rec, sort_keys=True, separators=(",", ":"))
    assert len(text) <= REC.RECORD_BYTES
    assert len(rec["decisions"]) == REC.KEEP_DECISIONS
    newest, oldest = rec["decisions"][-1]["analysis"], rec["decisions"][0]["analysis"]
    assert len(newest["checks"]) == REC.KEEP_CHECKS
    assert oldest["checks"] == [] and oldest["checks_left_out"] == REC.KEEP_CHECKS
    assert rec["decisions"][0]["reason"] == "passed 10"
    # As an annotation of the VirtualService, with the short ones: far below 256 KiB.
    ops = REC.record_ops({"metadata": {"annotations": {}, "labels": {}}}, rec)
    assert sum(len(o["path"]) + len(str(o["value"])) for o in ops) < 256 * 1024 // 2


def test_history_entries_carry_the_weight():
    rec = rolled_back_record()
    assert [(h["action"], h["weight"]) for h in rec["history"]] == [
        ("start", 0), ("step", 10), ("step", 50), ("rollback", 0)]


# ---------------------------------------------------------------- JSON

@pytest.mark.parametrize("name", sorted(all_records()))
def test_every_report_is_valid_against_the_schema(name, validator):
    report = json.loads(REPORT.render_json(REPORT.build(all_records()[name], "demo", "podinfo")))
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.path))
    assert not errors, ["%s: %s" % (list(e.path), e.message) for e in errors]


def test_the_schema_refuses_a_report_without_its_version(validator):
    report = json.loads(REPORT.render_json(REPORT.build(rolled_back_record())))
    del report["version"]
    assert not validator.is_valid(report)
    report = json.loads(REPORT.render_json(REPORT.build(rolled_back_record())))
    report["gates"][0]["checks"][0]["verdict"] = "maybe"
    assert not validator.is_valid(report)


def test_the_json_tells_the_whole_rollout():
    report = REPORT.build(rolled_back_record(), "demo", "podinfo")
    assert report["version"] == REPORT.REPORT_VERSION
    assert report["versions"] == {"stable": "v1", "candidate": "v2", "previous": None}
    assert report["strategy"] == "canary"
    assert report["steps"] == [{"step": 1, "weight": 10}, {"step": 2, "weight": 50}, {"step": 3, "weight": 100}]
    assert [r["run"] for r in report["runs"]] == ["ci@runner:41:1700000000"]
    assert [(w["action"], w["candidate"], w["stable"], w["time"]) for w in report["weights"]] == [
        ("start", 0, 100, "2026-12-06T21:59:50.000000Z"), ("step", 10, 90, "2026-12-06T21:59:55.000000Z"),
        ("step", 50, 50, "2026-12-06T22:00:12.000000Z"), ("rollback", 0, 100, "2026-12-06T22:00:23.000000Z")]
    passed, failed = report["gates"]
    assert (passed["step"], passed["verdict"], len(passed["checks"])) == (1, "pass", 4)
    assert passed["checks"][0] == {"metric": "success", "iteration": 1, "attempt": 1,
                                   "time": "2026-12-06T22:00:00.000000Z", "value": 100.0, "min": 99, "max": None,
                                   "verdict": "pass", "note": None}
    assert passed["metrics"][0]["query"] == QUERY
    assert failed["verdict"] == "fail" and failed["checks"][1]["note"] == "3 requests < min_requests 20"
    assert report["outcome"] == {"phase": "Failed", "result": "rolled back", "reason": failed["reason"]}


def test_a_rollout_waiting_for_approval_says_where_traffic_is():
    rec = rolled_back_record()
    rec.update(phase="WaitingApproval", step=2, weight=50, message="")
    outcome = REPORT.build(rec)["outcome"]
    assert outcome == {"phase": "WaitingApproval", "result": "waiting for approval",
                       "reason": "waiting for approval at step 2 (50 % on candidate v2): the gates so far passed"}


def test_a_promoted_rollout_says_so():
    rec = rolled_back_record()
    rec.update(phase="Succeeded", stable="v2", previous_stable="v1", promoted="2026-12-06T23:00:00Z")
    report = REPORT.build(rec)
    assert report["outcome"]["result"] == "promoted" and "2026-12-06T23:00:00Z" in report["outcome"]["reason"]
    assert report["versions"] == {"stable": "v2", "candidate": "v2", "previous": "v1"}


def test_the_report_begins_at_this_rollouts_start():
    earlier = [{"time": "2026-12-05T10:00:00Z", "action": "start", "phase": "Initialized", "step": 0, "weight": 0,
                "run": "old@host:1:1"},
               {"time": "2026-12-05T10:01:00Z", "action": "succeed", "phase": "Succeeded", "step": 1, "weight": 100,
                "run": "old@host:1:1"}]
    rec = rolled_back_record()
    rec["history"] = earlier + rec["history"]
    report = REPORT.build(rec)
    assert [r["run"] for r in report["runs"]] == ["ci@runner:41:1700000000"]
    assert report["timeline"][0]["time"] == "2026-12-06T21:59:50.000000Z" and len(report["timeline"]) == 4


def test_history_without_weights_has_them_from_the_plan():
    rec = rolled_back_record()
    for entry in rec["history"]:
        del entry["weight"]
    assert [w["candidate"] for w in REPORT.build(rec)["weights"]] == [0, 10, 50, 0]


def test_the_same_record_gives_the_same_bytes():
    for fmt in REPORT.FORMATS:
        assert REPORT.render(REPORT.build(rolled_back_record()), fmt) == REPORT.render(
            REPORT.build(rolled_back_record()), fmt)


def test_times_parse_with_and_without_fractions():
    assert REPORT.parse_time("1970-01-01T00:01:00Z") == 60.0
    assert REPORT.parse_time("1970-01-01T00:00:01.250000Z") == 1.25
    assert REPORT.parse_time("not a time") is None and REPORT.parse_time(None) is None


# ---------------------------------------------------------------- HTML

def test_the_html_has_the_outcome_steps_and_a_series_per_metric():
    page = REPORT.render_html(REPORT.build(rolled_back_record(), "demo", "podinfo"))
    assert re.search(r'<p id="outcome" class="outcome rolled-back"[^>]*>.*success = 50 &lt; min 99', page)
    assert page.count('<li class="step ') == 3
    assert 'data-step="2" data-weight="50"' in page and "status-failed" in page
    assert page.count('class="series" data-metric="success"') == 1
    assert page.count('class="series" data-metric="latency"') == 1
    assert page.count('class="threshold" data-metric="success" data-kind="min" data-value="99"') == 1
    assert 'data-series="candidate-weight"' in page
    assert page.count('<tr class="gate verdict-') == 2
    # Self-contained: no script, nothing to fetch.
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "src=" not in page


def test_every_value_from_the_record_is_escaped():
    rec = rolled_back_record()
    evil = '<script>alert("x")</script>&'
    rec["message"] = evil
    rec["history"][0]["run"] = evil
    rec["decisions"][0]["reason"] = evil
    rec["decisions"][0]["gate"] = evil
    rec["decisions"][0]["analysis"]["metrics"][0]["name"] = evil
    rec["decisions"][0]["analysis"]["metrics"][0]["query"] = evil
    page = REPORT.render_html(REPORT.build(rec, evil, evil))
    assert "<script" not in page and 'alert("x")' not in page
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;") >= 6
    # The JUnit XML stays well-formed with it too.
    ET.fromstring(REPORT.render_junit(REPORT.build(rec)))


# ---------------------------------------------------------------- JUnit

def test_junit_has_a_testcase_per_gate_and_a_failure_for_the_failed_one():
    root = ET.fromstring(REPORT.render_junit(REPORT.build(rolled_back_record())))
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = suite.findall("testcase")
    assert [c.find("failure") is not None for c in cases] == [False, True]
    failure = cases[1].find("failure")
    assert failure.get("message").startswith("step 2 (50 %): success = 50 < min 99")
    assert "success #1.1: 50 (min 99, max -) fail" in failure.text
    assert cases[0].get("name") == "01 step 1 (10 %): prometheus"
    assert float(cases[0].get("time")) == 10.5


@pytest.mark.parametrize("name", sorted(fixture_records()))
def test_a_real_record_gives_a_report_of_every_decision(name):
    record = fixture_records()[name]
    report = REPORT.build(record, "demo", "podinfo")
    assert len(report["gates"]) == len(record["decisions"])
    root = ET.fromstring(REPORT.render_junit(report))
    failed = [d for d in record["decisions"] if d.get("verdict") == "fail"]
    assert root.find("testsuite").get("failures") == str(len(failed))
    page = REPORT.render_html(report)
    for metric in set(c["metric"] for g in report["gates"] for c in g["checks"]):
        assert 'class="series" data-metric="%s"' % metric in page


def test_a_metric_never_negative_is_plotted_from_zero_up():
    # Latencies near 0 with a max of 500: the margin below the lowest value must not make a negative axis.
    rec = rolled_back_record()
    for decision in rec["decisions"]:
        analysis = decision.get("analysis") or {}
        latency = [i for i, m in enumerate(analysis.get("metrics") or []) if m["name"] == "latency"]
        for row in analysis.get("checks") or []:
            if row[0] in latency and row[4] is not None:
                row[4] = 2.0
    html = REPORT.render_html(REPORT.build(rec))
    labels = re.findall(r'text-anchor="end" fill="#5d6675">([^<]+)</text>', html)
    assert labels and all(float(label) >= 0 for label in labels), labels
