"""bench/traffic_probe/run.py --smoke: the benchmark runs end to end on the test bed, in seconds.

No timing is asserted (the numbers are the bench's to report, not a test's to judge): only that
both clients and the module run reached the tutorial and counted what it answered.
"""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bench_smoke_run(cluster, tmp_path):
    report_file = str(tmp_path / "report.json")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "bench", "traffic_probe", "run.py"), "--smoke",
                           "--output", report_file], capture_output=True, text=True, check=False,
                          env=dict(os.environ, KUBECONFIG=cluster["kubeconfig"]))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(report_file) as fh:
        report = json.load(fh)
    assert report["server"].startswith("mesh simulator") and report["host"] == "app.example.com"
    (row,) = report["results"]
    assert (row["requests"], row["concurrency"], row["rounds"]) == (20, 1, 1)
    assert row["hey_errors"] == 0 and row["probe_errors"] == 0
    assert set(row["probe_split_last_round"]) <= {"v1", "v2"}
    assert sum(row["probe_split_last_round"].values()) == pytest.approx(100)
    assert report["module_run"]["requests"] == 20 and "error" not in report["module_run"]
    assert "throughput ratio probe/hey: " in proc.stdout
