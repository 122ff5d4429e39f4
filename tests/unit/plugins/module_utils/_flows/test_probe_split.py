"""traffic_probe's flow and module shape: the edge passed in gives deterministic samples."""

import ast
import os

import pytest
import yaml

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._core.probe import check_options
from ansible_collections.rollouts.istio.plugins.module_utils._core.split_stats import Sample
from ansible_collections.rollouts.istio.plugins.module_utils._edges.http_probe import ProbeError
from ansible_collections.rollouts.istio.plugins.module_utils._flows.probe_split import probe_split
from ansible_collections.rollouts.istio.plugins.modules import traffic_probe as M


def params(**kw):
    p = dict((name, spec.get("default")) for name, spec in M.MODULE_SPEC.items())
    p.update(url="http://gw.example/", host="app.example.com")
    p.update(kw)
    return p


class Sender(object):
    """Stands in for the HTTP edge: answers the given versions in turn and records what it was asked."""

    def __init__(self, versions):
        self.versions = versions
        self.calls = []

    def __call__(self, target, reader, requests, concurrency):
        self.calls.append((target.address, target.headers.get("Host"), reader.header, requests, concurrency))
        return [Sample(self.versions[i % len(self.versions)], 200, None, 1.0) for i in range(requests)]


def test_flow_passes_a_correct_split_with_enough_requests():
    send = Sender(["v1"] * 19 + ["v2"])
    result = probe_split(check_options(params(requests=200, expected_weights={"v1": 95, "v2": 5})), send)
    assert send.calls == [("gw.example", "app.example.com", "X-Version", 200, 4)]
    assert result["verdict"] == "pass" and result["counts"] == {"v1": 190, "v2": 10} and result["changed"] is False
    assert result["msg"].startswith("split v1 95.0% / v2 5.0% (expected v1 95% / v2 5%) matches: chi-square p=")


def test_flow_fails_the_task_with_the_whole_result_when_inconclusive():
    with pytest.raises(RolloutsError) as err:
        probe_split(check_options(params(requests=100, expected_weights={"v1": 95, "v2": 5})), Sender(["v1"]))
    fields = err.value.result_fields()
    assert fields["verdict"] == "inconclusive" and fields["requests_needed"] == 127 and "msg" not in fields
    assert str(err.value).startswith("split v1 100.0% / v2 0.0% (expected v1 95% / v2 5%) is inconclusive: 100 ")


def test_flow_with_fail_task_false_returns_a_failed_verdict():
    result = probe_split(check_options(params(requests=200, expected_weights={"v1": 95, "v2": 5}, fail_task=False)),
                         Sender(["v1"]))
    assert result["verdict"] == "fail" and result["comparison"]["p_value"] < 0.01


def test_flow_refuses_a_bad_url_before_sending():
    send = Sender(["v1"])
    with pytest.raises(ProbeError) as err:
        probe_split(check_options(params(url="gw.example")), send)
    assert err.value.param == "url" and send.calls == []


# ---------------------------------------------------------------- the module file

def test_module_documentation_and_spec_agree():
    doc = yaml.safe_load(M.DOCUMENTATION)
    spec = M.MODULE_SPEC
    assert set(doc["options"]) == set(spec)
    for name, opt in doc["options"].items():
        assert opt.get("default") == spec[name].get("default"), name
        assert opt["type"] == spec[name]["type"], name
        assert opt.get("aliases", []) == spec[name].get("aliases", []), name
    assert doc["options"]["test"]["choices"] == spec["test"]["choices"]
    assert [a["name"] for a in spec["fail_task"]["deprecated_aliases"]] == ["fail_on_mismatch"]
    returned = yaml.safe_load(M.RETURN)
    assert {"verdict", "reason", "reasons", "requests_needed", "failed_or_unidentified"} <= set(returned)


def test_module_is_docs_spec_and_one_call_through_the_runner():
    source = open(M.__file__).read()
    tree = ast.parse(source)
    functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert functions == ["probe_traffic", "main"] and "fail_json" not in source and "exit_json" not in source
    assert "run(plain_module(MODULE_SPEC, mutually_exclusive=" in source
    assert os.path.basename(M.__file__) == "traffic_probe.py"


def test_docs_say_stable_and_candidate_never_canary_for_the_version():
    text = (M.DOCUMENTATION + M.EXAMPLES + M.RETURN).lower()
    assert "canary" not in text.replace("canary step", "")
    assert "stable" in text and "candidate" in text
    assert "100 requests for a 95/5" not in text
