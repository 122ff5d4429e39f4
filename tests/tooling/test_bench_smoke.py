"""Every benchmark runs on a fresh machine: `bench/<name>/run.py --smoke` exits 0 and reports a ratio.

The smoke mode is each benchmark's smallest size (seconds, not minutes); the numbers are not judged,
only that the benchmark ran end to end and reported what it compares. It runs against the cluster
under test with the test bed's exports (audit log, Prometheus), as a developer would run it.
"""

import glob
import math
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHES = sorted(glob.glob(os.path.join(REPO, "bench", "*", "run.py")))
# The benchmarks say "ratio", "x base" (times the baseline) or "share" for what they compare.
RATIO_WORD = re.compile(r"\b(ratios?|x base|share)\b", re.IGNORECASE)
NUMBER = re.compile(r"(?<![\w.])[-+]?(\d+(\.\d+)?|nan|inf(inity)?)(?![\w.])", re.IGNORECASE)
# A hang guard only (the smoke runs take seconds); not a timing assertion.
HANG_GUARD_S = 900
# Flagger is built from its Go module the first time its bench runs (about 5 min on 2 cores), and its
# smoke run takes minutes more: on a machine where it is not built yet (CI's fresh one), make test
# would spend a sixth of CI's time on it, so it runs once the bench has been run by hand.
FLAGGER_BINARY = os.path.join(os.path.expanduser("~"), ".cache", "rollouts-istio-testbed", "bin", "flagger-v1.36.1",
                              "flagger")


def ratio_numbers(output):
    """The numbers of the first line that names a ratio, or of the table row under such a header."""
    lines = [line for line in output.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if not RATIO_WORD.search(line):
            continue
        for candidate in (line, lines[i + 1] if i + 1 < len(lines) else ""):
            found = [float(m.group(1)) for m in NUMBER.finditer(candidate)]
            if found:
                return candidate, found
    return None, []


@pytest.mark.parametrize("script", BENCHES, ids=[os.path.basename(os.path.dirname(b)) for b in BENCHES])
def test_bench_runs_its_smoke_mode_and_reports_a_ratio(script, cluster):
    name = os.path.relpath(script, REPO)
    if "rollout_vs_flagger" in name and not os.path.exists(FLAGGER_BINARY):
        pytest.skip("Flagger is not built on this machine (%s): run %s once, which builds it, and make test runs "
                    "its smoke mode from then on" % (FLAGGER_BINARY, name))
    usage = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, check=False,
                           timeout=HANG_GUARD_S, cwd=REPO)
    assert usage.returncode == 0, "%s --help exited %d:\n%s" % (name, usage.returncode, usage.stderr[-3000:])
    assert "--smoke" in usage.stdout, "%s has no --smoke mode (its --help):\n%s" % (name, usage.stdout)

    env = dict(os.environ)
    if cluster["audit_log"]:
        env["ROLLOUTS_TESTBED_AUDIT_LOG"] = cluster["audit_log"]
    if cluster["prometheus_url"]:
        env["ROLLOUTS_TESTBED_PROMETHEUS_URL"] = cluster["prometheus_url"]
    res = subprocess.run([sys.executable, script, "--smoke"], capture_output=True, text=True, check=False,
                         timeout=HANG_GUARD_S, cwd=REPO, env=env)
    assert res.returncode == 0, "%s --smoke exited %d:\n%s\n%s" % (
        name, res.returncode, res.stdout[-3000:], res.stderr[-3000:])
    line, numbers = ratio_numbers(res.stdout)
    assert line, "%s --smoke printed no ratio line:\n%s" % (name, res.stdout)
    assert all(math.isfinite(n) for n in numbers), "%s: a ratio that is not a finite number: %r" % (name, line)


def test_every_bench_folder_has_a_run_py():
    folders = sorted(d for d in glob.glob(os.path.join(REPO, "bench", "*")) if os.path.isdir(d))
    assert folders, "no benchmarks under bench/"
    assert [d for d in folders if not os.path.exists(os.path.join(d, "run.py"))] == []
