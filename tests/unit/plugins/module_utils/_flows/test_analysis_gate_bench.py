"""The analysis gate's bench (bench/prometheus_check/run.py) still runs the flow end to end."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))))


def test_the_bench_smoke_run_measures_every_case():
    env = dict(os.environ)
    env.pop("PROMETHEUS_URL", None)
    env.pop("ROLLOUTS_TESTBED_PROMETHEUS_URL", None)
    proc = subprocess.run([sys.executable, os.path.join(REPO, "bench", "prometheus_check", "run.py"), "--smoke"],
                          capture_output=True, text=True, env=env, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "(local fake)" in lines[0]
    rows = dict((line[:52].strip(), line[52:].split()) for line in lines[2:])
    # Queries per iteration are exact: one per metric, one request count per window with min_requests.
    assert rows["baseline: 2 built-in metrics, 1 workload"][2] == "2"
    assert rows["+ min_requests (request count, one per window)"][2] == "3"
    assert rows["2 metrics, 2 workloads, one gate each"][2] == "4"
    assert rows["2 metrics, 2 workloads, one gate, workload=~regex"][2] == "2"
