"""The rollout's record and report from a real release that fails and rolls back (issue 12, the record part).

A canary of podinfo v2 with errors injected (the mesh simulator stands in for Envoy: it answers for
the candidate with 5xx at the rate set on its Deployment, and Prometheus scrapes its istio_* series)
runs through playbooks/canary.yml on the test bed, fails its gate and rolls back. Then:

- the files the role wrote: the JSON is valid against docs/schemas/rollout-report.schema.json and
  holds every check of the failed gate with the query as sent; the JUnit XML has a failure for it;
- rollouts.istio.rollout_report run again over the same record changes nothing (check mode and
  for real), and bad input names the option and writes nothing;
- the HTML report is opened in Debian's chromium, headless, without network: its DOM has the failure
  reason, the steps, a plotted series per metric and the weights; a screenshot is taken
  (tests/output/report/) and is not blank.
"""

import json
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser

import pytest

from support.ansible_run import run_play
from support.mesh import set_faults
from support.release import primary_weights, read_record, release_vars, run_playbook

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCHEMA = os.path.join(REPO, "docs", "schemas", "rollout-report.schema.json")
OUTPUT = os.path.join(REPO, "tests", "output", "report")
CHROMIUM = "/usr/bin/chromium"
METRICS = ("request-success-rate", "request-duration")


def chromium():
    """Debian's chromium, installed by the project's own step (tools/testbed/testbed deps) when missing."""
    if not os.path.exists(CHROMIUM):
        done = subprocess.run([os.path.join(REPO, "tools", "testbed", "testbed"), "deps"], capture_output=True,
                              text=True, check=False, timeout=900)
        if not os.path.exists(CHROMIUM):
            pytest.skip("chromium is not installed and `tools/testbed/testbed deps` could not install it (rc %s): %s"
                        % (done.returncode, (done.stderr or done.stdout)[-500:]))
    return CHROMIUM


def browse(page, profile, *args):
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=" + profile] + list(args) + ["file://" + page]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Dom(HTMLParser):
    """The elements of the page chromium rendered, with their attributes and text."""

    def __init__(self, text):
        HTMLParser.__init__(self)
        self.elements, self._open = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in ("circle", "line", "path", "polyline", "rect", "br", "meta", "input"):
            self._open.append(element)

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i]["tag"] == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data

    def find(self, tag=None, **attrs):
        """Elements of ``tag`` with these attributes (``class_`` is one of its classes, ``data_x`` is data-x)."""
        out = []
        for element in self.elements:
            if tag and element["tag"] != tag:
                continue
            if all(self._has(element, key, want) for key, want in attrs.items()):
                out.append(element)
        return out

    @staticmethod
    def _has(element, key, want):
        name = "class" if key == "class_" else key.replace("_", "-")
        have = element["attrs"].get(name)
        if have is None:
            return False
        return want in have.split() if name == "class" else have == want


def png_colours(path):
    """The distinct colours of an 8-bit RGB(A) PNG (chromium's screenshots), decoded with the standard library."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour_type = header[:4]
    assert depth == 8 and colour_type in (2, 6), header
    bpp = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    previous, colours, i = bytearray(stride), set(), 0
    for _row in range(height):
        kind, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = previous[x]
            c = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, bpp * 4):  # every 4th pixel is plenty to count colours
            colours.add(bytes(line[x:x + 3]))
        previous = line
    return width, height, colours


@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft202012Validator(json.load(open(SCHEMA)))


def test_a_rolled_back_release_leaves_a_record_and_a_report_a_browser_shows(release_ns, prometheus_url,
                                                                            mesh_simulator, k8s, tmp_path, validator):
    namespace = release_ns
    set_faults(k8s, namespace, "podinfo-v2", error_rate=0.5)
    mesh_simulator.wait_synced(k8s, namespace)
    reports = str(tmp_path / "reports")
    plan = dict(release_vars(namespace, prometheus_url, mesh_simulator, steps=[20, 50], qps=20),
                release_report_dir=reports)
    result = run_playbook("canary.yml", plan)

    # The release failed and rolled back, and says why in one line: the rollout's reason, not the report's.
    assert result.rc != 0, result.summary()
    record = read_record(namespace)
    assert record["phase"] == "Failed", record
    assert primary_weights(namespace) in ({"v1": 100}, {"v1": 100, "v2": 0})
    message = result.failure()
    assert "rolled back at step 1 (20 %)" in message and "request-success-rate" in message, message
    said = [t for t in result.tasks if t["_task"].endswith("Say where the rollout's record and report are")]
    assert said and said[-1]["msg"] == "The rollout's record: %s/podinfo-rollout.json and report: %s/podinfo-rollout.html" % (
        reports, reports), said
    os.makedirs(OUTPUT, exist_ok=True)
    with open(os.path.join(OUTPUT, "record-rolled-back.json"), "w") as fh:
        json.dump(dict((k, v) for k, v in record.items() if not k.startswith("_")), fh, indent=1, sort_keys=True)

    # The record keeps every check of the failed gate, each metric's query once.
    failed = [d for d in record["decisions"] if d.get("verdict") == "fail"]
    assert failed and failed[-1]["analysis"]["checks"], failed
    analysis = failed[-1]["analysis"]
    assert sorted(m["name"] for m in analysis["metrics"]) == sorted(METRICS)
    assert all("istio_requests_total" in m["query"] or "istio_request_duration" in m["query"]
               for m in analysis["metrics"]), analysis["metrics"]

    # The JSON: valid, the whole story, the failed gate with its checks.
    report = json.load(open(os.path.join(reports, "podinfo-rollout.json")))
    errors = ["%s: %s" % (list(e.path), e.message) for e in validator.iter_errors(report)]
    assert not errors, errors
    assert report["outcome"] == {"phase": "Failed", "result": "rolled back", "reason": record["message"]}
    assert [w["candidate"] for w in report["weights"]] == [0, 20, 0], report["weights"]
    gate = [g for g in report["gates"] if g["verdict"] == "fail"][-1]
    failing = [c for c in gate["checks"] if c["metric"] == "request-success-rate" and c["verdict"] == "fail"]
    assert failing and all(c["value"] < 99 and c["min"] == 99 for c in failing), gate["checks"]
    assert len(gate["checks"]) == len(analysis["checks"])
    assert [r["run"] for r in report["runs"]] == [record["run"]]

    # The JUnit XML: one testcase per decision, a failure for the failed one.
    suite = ET.parse(os.path.join(reports, "podinfo-gates.junit.xml")).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(record["decisions"]) and suite.get("failures") == str(len(failed))
    assert cases[-1].find("failure").get("message") == failed[-1]["reason"]

    # status.yml: a line a decision (the failed gate's with its reason and how many checks it made),
    # not the checks themselves.
    status = run_playbook("status.yml", plan)
    assert status.rc == 0, status.summary()
    shown = [t for t in status.tasks if t["_task"].endswith("Show the rollout")][-1]["msg"]
    assert shown["phase"] == "Failed" and "\"fields\"" not in json.dumps(shown), shown
    lines = shown["decisions"]
    assert len(lines) == min(10, len(record["decisions"])) and all(isinstance(line, str) for line in lines), lines
    prefix, suffix = "step %s %s: fail, " % (failed[-1]["step"], failed[-1]["gate"]), " (%d checks)" % len(analysis["checks"])
    ours = [line for line in lines if prefix in line and line.endswith(suffix)]
    assert ours and failed[-1]["reason"][:200] in ours[-1], (prefix, suffix, lines)

    # The module again over the same record: nothing to change, in check mode or for real.
    task = {"rollouts.istio.rollout_report": {"name": "podinfo", "namespace": namespace, "dest": reports,
                                              "kubeconfig": plan["release_kubeconfig"]}}
    stamps = dict((n, os.stat(os.path.join(reports, n)).st_mtime_ns) for n in os.listdir(reports))
    for check in (True, False):
        again = run_play([dict(task, register="r")], check=check, diff=True)
        assert again.rc == 0 and again[0]["changed"] is False and again[0]["written"] == [], again
    assert stamps == dict((n, os.stat(os.path.join(reports, n)).st_mtime_ns) for n in os.listdir(reports))
    # Bad input names the option and writes nothing.
    a_file = tmp_path / "not-a-directory"
    a_file.write_text("x")
    bad = run_play([{"rollouts.istio.rollout_report": dict(task["rollouts.istio.rollout_report"],
                                                           dest=str(a_file))}])
    assert bad.rc != 0 and bad[0]["msg"].startswith("dest: ") and bad[0]["param"] == "dest", bad
    assert a_file.read_text() == "x"

    # The HTML in a real browser, without network.
    page = os.path.join(reports, "podinfo-rollout.html")
    dom = Dom(browse(page, str(tmp_path / "profile"), "--dump-dom"))
    outcome = dom.find("p", id="outcome")
    assert outcome and outcome[0]["attrs"]["data-result"] == "rolled back"
    assert " ".join(record["message"].split()) in " ".join(outcome[0]["text"].split()), outcome[0]["text"]
    steps = dom.find("li", class_="step")
    assert [(s["attrs"]["data-step"], s["attrs"]["data-weight"]) for s in steps] == [("1", "20"), ("2", "50")]
    assert "status-failed" in steps[0]["attrs"]["class"] and "status-not-reached" in steps[1]["attrs"]["class"]
    assert [e["attrs"]["data-action"] for e in dom.find("li", class_="event")] == ["start", "step", "rollback"]
    assert dom.find("path", class_="series", data_series="candidate-weight")
    assert len(dom.find("circle", class_="point", data_series="candidate-weight")) == 3
    for metric in METRICS:
        series = dom.find("polyline", class_="series", data_metric=metric)
        assert series, "no plotted series for %s" % metric
        points = dom.find("circle", class_="point", data_metric=metric)
        assert len(points) == len([c for g in report["gates"] for c in g["checks"] if c["metric"] == metric])
        assert dom.find("line", class_="threshold", data_metric=metric)
    assert [r["attrs"]["data-verdict"] for r in dom.find("tr", class_="gate")] == [
        d["verdict"] for d in record["decisions"]]

    shot = os.path.join(OUTPUT, "rolled-back.png")
    if os.path.exists(shot):
        os.remove(shot)
    browse(page, str(tmp_path / "profile"), "--screenshot=" + shot, "--window-size=1280,2000", "--hide-scrollbars")
    width, height, colours = png_colours(shot)
    assert (width, height) == (1280, 2000)
    # A blank page is one colour; the report has text, the outcome's red box, green and red points, blue lines.
    assert len(colours) > 50, len(colours)
    shutil.copy(page, os.path.join(OUTPUT, "rolled-back.html"))


def test_a_promoted_release_says_so_in_its_report(release_ns, prometheus_url, mesh_simulator, tmp_path, validator):
    reports = str(tmp_path / "reports")
    plan = dict(release_vars(release_ns, prometheus_url, mesh_simulator, steps=[50]), release_report_dir=reports)
    result = run_playbook("canary.yml", plan)
    assert result.rc == 0, result.summary()
    record = read_record(release_ns)
    assert record["phase"] == "Succeeded", record
    # The playbook's last task prints the paths.
    assert result.tasks[-1]["_task"] == "Say where the rollout's record and report are", result.summary()
    assert result.tasks[-1]["msg"] == "The rollout's record: %s/podinfo-rollout.json and report: %s/podinfo-rollout.html" % (
        reports, reports)
    report = json.load(open(os.path.join(reports, "podinfo-rollout.json")))
    assert not list(validator.iter_errors(report))
    assert report["outcome"]["result"] == "promoted" and report["versions"] == {
        "stable": "v2", "candidate": "v2", "previous": "v1"}
    assert [w["candidate"] for w in report["weights"]] == [0, 50, 100]
    passed = [g for g in report["gates"] if g["verdict"] == "pass"]
    assert passed and all(c["verdict"] == "pass" for c in passed[-1]["checks"]) and passed[-1]["checks"]
    suite = ET.parse(os.path.join(reports, "podinfo-gates.junit.xml")).getroot().find("testsuite")
    assert suite.get("failures") == "0" and suite.get("tests") == str(len(record["decisions"]))
    page = open(os.path.join(reports, "podinfo-rollout.html")).read()
    assert 'id="outcome" class="outcome promoted"' in page
