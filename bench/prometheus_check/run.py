"""Wall time and queries of one analysis iteration of prometheus_check, and how both grow.

    python bench/prometheus_check/run.py [--url URL] [--repeat N] [--namespace NS] [--sizes 1,4] [--smoke]

One iteration is what the gate does every `interval`: render, query, judge every metric. It is run
through the collection's own code (_flows.analysis_gate.run_analysis with iterations=1 and the real
PrometheusClient), so the numbers are the gate's cost without Ansible's start-up.

Against --url (default: PROMETHEUS_URL, then the test bed's ROLLOUTS_TESTBED_PROMETHEUS_URL) the
queries run in a real Prometheus; without one, against a local fake that answers at once, which
measures this code and HTTP alone. Prints medians and ratios to the baseline (two built-in metrics,
one workload), never a pass/fail threshold. --smoke runs every case once at the smallest sizes (1 and 2):
a check that the bench runs, in about a second.
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.environ.get("ROLLOUTS_COLLECTIONS", os.path.join(REPO, ".venv", "collections")))
sys.path.insert(0, os.path.join(REPO, "tests"))

from ansible_collections.rollouts.istio.plugins.module_utils._core.analysis import (  # noqa: E402
    BUILTIN_METRICS, build_config)
from ansible_collections.rollouts.istio.plugins.module_utils._flows.analysis_gate import run_analysis  # noqa: E402
from ansible_collections.rollouts.istio.plugins.module_utils._edges.prometheus_client import (  # noqa: E402
    PrometheusClient, PrometheusError)

BUILTINS = [{"name": "request-success-rate", "min": 99}, {"name": "request-duration", "max": 500}]


def metrics(n):
    """The two built-in metrics, then copies of their queries under other names up to n metrics."""
    out = list(BUILTINS[:n])
    names = sorted(BUILTIN_METRICS)
    while len(out) < n:
        base = names[len(out) % 2]
        out.append({"name": "%s-copy-%d" % (base, len(out)), "query": BUILTIN_METRICS[base]["query"],
                    "min" if base == "request-success-rate" else "max": 99 if base == "request-success-rate" else 500})
    return out


def one_iteration(url, namespace, workload, metric_specs, min_requests=0):
    """(seconds, queries, HTTP requests) of one analysis iteration."""
    client = PrometheusClient(url, timeout=10, retries=0)
    config = build_config(metric_specs, variables={"namespace": namespace, "workload": workload}, interval="30s",
                          min_requests=min_requests, no_data="skip")
    start = time.perf_counter()
    analysis = run_analysis(config, client.query, time.time, time.sleep, query_errors=(PrometheusError,))
    elapsed = time.perf_counter() - start
    if analysis.error:
        raise SystemExit("the analysis stopped on an error: %s" % analysis.error)
    return elapsed, client.queries, client.requests


def measure(repeat, fn):
    runs = [fn() for run_index in range(repeat)]
    return statistics.median(r[0] for r in runs), runs[0][1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--url", default=os.environ.get("PROMETHEUS_URL") or os.environ.get(
        "ROLLOUTS_TESTBED_PROMETHEUS_URL"))
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--namespace", default="bench")
    parser.add_argument("--sizes", default="1,4,8,16", help="metric and workload counts to try, comma-separated")
    parser.add_argument("--smoke", action="store_true",
                        help="one run of each case at sizes 1,2: seconds, to check that the bench runs")
    args = parser.parse_args()
    if args.smoke:
        args.repeat, args.sizes = 1, "1,2"
    sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    if not sizes or min(sizes) < 1 or args.repeat < 1:
        parser.error("--sizes must be counts of 1 or more, --repeat 1 or more")

    fake = None
    if not args.url:
        from support.fake_prometheus import OK, FakePrometheus, api
        fake = FakePrometheus([api(OK)])
        args.url = fake.url
    print("Prometheus: %s%s; median of %d runs" % (args.url, " (local fake)" if fake else "", args.repeat))

    rows = []

    def row(label, fn):
        seconds, queries = measure(args.repeat, fn)
        rows.append((label, seconds, queries))

    ns, wl = args.namespace, "podinfo-candidate"
    row("baseline: 2 built-in metrics, 1 workload", lambda: one_iteration(args.url, ns, wl, BUILTINS))
    row("  + min_requests (request count, one per window)",
        lambda: one_iteration(args.url, ns, wl, BUILTINS, min_requests=20))
    for n in sizes:
        row("%d metrics, 1 workload" % n, lambda n=n: one_iteration(args.url, ns, wl, metrics(n)))
    for w in [n for n in sizes if n > 1] or [2]:
        # A play that gates each workload runs one analysis per workload...
        row("2 metrics, %d workloads, one gate each" % w, lambda w=w: tuple(
            sum(x) for x in zip(*[one_iteration(args.url, ns, "podinfo-%d" % i, BUILTINS) for i in range(w)])))
        # ...while one gate can cover them all with a regular expression (and judges their aggregate).
        row("2 metrics, %d workloads, one gate, workload=~regex" % w, lambda w=w: one_iteration(
            args.url, ns, "|".join("podinfo-%d" % i for i in range(w)), BUILTINS))

    base_s, base_q = rows[0][1], rows[0][2]
    print("%-52s %10s %8s %8s %8s" % ("case", "wall ms", "x base", "queries", "x base"))
    for label, seconds, queries in rows:
        print("%-52s %10.2f %8.2f %8d %8.2f" % (label, seconds * 1000, seconds / base_s, queries, queries / base_q))
    if fake:
        fake.stop()


if __name__ == "__main__":
    main()
