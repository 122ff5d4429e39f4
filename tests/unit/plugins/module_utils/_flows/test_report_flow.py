"""The report flow: the record read from the VirtualService, the files written only when they change,
nothing written for bad input or in check mode. Against an in-memory API and a real temporary directory."""

import json
import os

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import rollout_record as REC
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._flows.report import write_report
from support.fake_istio import FakeApi


def next_record(record, request, now_iso, now_epoch):
    """The record after ``request``, as the rollout module writes it."""
    return REC.next_record(record, request, now_iso, now_epoch)[0]


def record():
    req = REC.Request(name="reviews", action="start", stable="v1", candidate="v2", run_id="ops@ctl:1:1",
                      service="reviews", strategy="canary", steps=[10, 100])
    rec = next_record(None, req, "2026-12-06T22:00:00.000000Z", 1)
    req.action, req.step, req.weight = "step", 1, 10
    rec = next_record(rec, req, "2026-12-06T22:00:05.000000Z", 2)
    req.action, req.message, req.decision = "rollback", "step 1 (10 %): success = 50 < min 99", {
        "gate": "metrics", "verdict": "fail", "reason": "step 1 (10 %): success = 50 < min 99",
        "checks": [{"iteration": 1, "attempt": 1, "metric": "success", "query": "sum(ok)/sum(all)", "value": 50.0,
                    "min": 99.0, "max": None, "verdict": "fail", "reason": "success = 50 < min 99",
                    "time": "2026-12-06T22:00:10.000000Z"}]}
    rec = next_record(rec, req, "2026-12-06T22:00:11.000000Z", 3)
    return rec


def vs(rec=None):
    annotations = {REC.RECORD_KEY: json.dumps(rec), REC.NAME_KEY: "reviews"} if rec else {}
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews", "namespace": "shop", "annotations": annotations},
            "spec": {"hosts": ["reviews"], "http": []}}


def connect(api):
    calls = []

    def _connect():
        calls.append(1)
        return api
    _connect.calls = calls
    return _connect


def test_the_three_files_are_written_then_left_alone(tmp_path):
    api = FakeApi([vs(record())])
    dest = str(tmp_path / "reports")
    result, diff = write_report(connect(api), "reviews", "shop", "reviews", dest, ["json", "html", "junit"])
    assert result["changed"] and sorted(os.path.basename(p) for p in result["written"]) == [
        "reviews-gates.junit.xml", "reviews-rollout.html", "reviews-rollout.json"]
    assert result["paths"]["json"] == os.path.join(dest, "reviews-rollout.json")
    assert result["outcome"]["result"] == "rolled back" and (result["gates"], result["failed_gates"]) == (1, 1)
    report = json.loads(open(result["paths"]["json"]).read())
    assert report["gates"][0]["checks"][0]["value"] == 50.0 and report["version"] == 1
    assert diff["before"] == "" and diff["after"] == open(result["paths"]["json"]).read()
    stamps = dict((p, os.stat(p).st_mtime_ns) for p in result["paths"].values())
    again, diff = write_report(connect(api), "reviews", "shop", "reviews", dest, ["json", "html", "junit"])
    assert not again["changed"] and again["written"] == []
    assert diff["before"] == diff["after"]
    assert stamps == dict((p, os.stat(p).st_mtime_ns) for p in again["paths"].values())
    assert sorted(os.listdir(dest)) == ["reviews-gates.junit.xml", "reviews-rollout.html", "reviews-rollout.json"]


def test_check_mode_says_what_it_would_write_and_writes_nothing(tmp_path):
    api = FakeApi([vs(record())])
    dest = str(tmp_path / "reports")
    result, _diff = write_report(connect(api), "reviews", "shop", "reviews", dest, ["html"], check_mode=True)
    assert result["changed"] and result["written"] == [os.path.join(dest, "reviews-rollout.html")]
    assert not os.path.exists(dest)


def test_a_new_decision_changes_the_files(tmp_path):
    rec = record()
    api = FakeApi([vs(rec)])
    dest = str(tmp_path)
    write_report(connect(api), "reviews", "shop", "reviews", dest, ["json", "junit"])
    rec["decisions"].append({"gate": "probe", "verdict": "pass", "reason": "ok", "step": 1, "time": "T"})
    api.put(vs(rec))
    result, diff = write_report(connect(api), "reviews", "shop", "reviews", dest, ["json", "junit"])
    assert result["changed"] and len(result["written"]) == 2 and diff["before"] != diff["after"]


@pytest.mark.parametrize("dest, formats, param", [
    ("", ["json"], "dest"),
    (None, ["json"], "dest"),
    ("{file}", ["json"], "dest"),
    ("{dir}", [], "formats"),
    ("{dir}", ["pdf"], "formats"),
])
def test_bad_input_names_the_option_asks_no_server_and_writes_nothing(tmp_path, dest, formats, param):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    dest = dest.format(file=str(a_file), dir=str(tmp_path / "out")) if dest else dest
    api = FakeApi([vs(record())])
    reach = connect(api)
    with pytest.raises(RolloutsError) as err:
        write_report(reach, "reviews", "shop", "reviews", dest, formats)
    assert err.value.param == param and str(err.value).startswith(param + ": ")
    assert reach.calls == [] and sorted(os.listdir(str(tmp_path))) == ["a-file"]


def test_no_record_is_an_error_naming_the_virtual_service(tmp_path):
    api = FakeApi([vs()])
    with pytest.raises(RolloutsError) as err:
        write_report(connect(api), "reviews", "shop", "reviews", str(tmp_path / "out"), ["json"])
    assert err.value.param == "name" and "carries no record of rollout reviews" in str(err.value)
    assert not os.path.exists(str(tmp_path / "out"))
    with pytest.raises(RolloutsError) as err:
        write_report(connect(api), "reviews", "shop", "other", str(tmp_path / "out"), ["json"])
    assert err.value.param == "virtual_service" and "VirtualService other not found" in str(err.value)
