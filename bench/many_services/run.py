"""Benchmark many VirtualServices shifted in one play, against a kubectl loop, and how each grows.

    python bench/many_services/run.py [--sizes 50,100,200]
    python bench/many_services/run.py --smoke     # --sizes 1,2: every way once, in seconds

Against the local test bed (needs its audit log: `eval "$(tools/testbed/testbed env)"`). For each
count, in one run, the same weight change of one route of that many VirtualServices (each with its
Service and DestinationRule, subset validation on) four ways:

- loop: one rollouts.istio.traffic_split task looping over them (its action plugin runs in the worker);
- loop, module: the same loop with the module run as a module (before: shipped and started per item);
- batch: one traffic_split task with ``virtual_services``, every item checked before any is written;
- kubectl loop: ``kubectl patch`` per object, in a shell loop.

Wall time of the whole process each (as a user waits for it), per VirtualService, the API requests
(audit log), ratios to the kubectl loop, and the growth from the smallest count to the largest.
Every request is made as a ServiceAccount of the benchmark's own namespace. Not a test: it prints
numbers, it asserts none.
"""

import argparse
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))
# bench/traffic_split/run.py: the namespace, the ServiceAccount, the runners and the audit log reading.
_SPEC = importlib.util.spec_from_file_location("traffic_split_bench", os.path.join(os.path.dirname(HERE), "traffic_split", "run.py"))
_TS = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_TS)
Bench = _TS.Bench

WAYS = ("loop", "loop, module", "batch", "kubectl loop")


def destinations(stable):
    return [{"subset": "stable", "weight": stable}, {"subset": "candidate", "weight": 100 - stable}]


def commands(bench, names, stable):
    conn = bench.conn()
    loop = [{"rollouts.istio.traffic_split": dict(conn, name="{{ item }}", namespace=bench.ns, route="primary",
                                                  destinations=destinations(stable)), "loop": names}]
    batch = [{"rollouts.istio.traffic_split": dict(conn, namespace=bench.ns, virtual_services=[
        dict(name=n, route="primary", destinations=destinations(stable)) for n in names])}]
    script = "".join(
        "kubectl --kubeconfig %s -n %s patch virtualservice.networking.istio.io %s --type=json -p "
        "'[{\"op\":\"replace\",\"path\":\"/spec/http/1/route/0/weight\",\"value\":%d},"
        "{\"op\":\"replace\",\"path\":\"/spec/http/1/route/1/weight\",\"value\":%d}]' >/dev/null\n"
        % (bench.sa_kubeconfig, bench.ns, n, stable, 100 - stable) for n in names)
    return {
        "loop": bench.playbook(loop),
        "loop, module": bench.playbook(loop, connection="module_as_module"),
        "batch": bench.playbook(batch),
        "kubectl loop": (["bash", "-c", "set -e\n" + script], dict(os.environ)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="50,100,200")
    parser.add_argument("--smoke", action="store_true", help="the smallest run that still goes through every way: --sizes 1,2")
    args = parser.parse_args()
    if args.smoke:
        args.sizes = "1,2"
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        parser.error("--sizes: give counts separated by commas, such as 50,100,200, got %r" % args.sizes)
    if not sizes or min(sizes) < 1:
        parser.error("--sizes: give counts of at least 1, got %r" % args.sizes)
    audit_log = os.environ.get("ROLLOUTS_TESTBED_AUDIT_LOG")
    kubeconfig = os.environ.get("KUBECONFIG")
    if not audit_log or not kubeconfig:
        raise SystemExit('needs the test bed: eval "$(tools/testbed/testbed env)"')
    bench = Bench(audit_log, kubeconfig)
    bench.setup(max(sizes))
    rows = []
    try:
        for k, size in enumerate(sizes):
            names = ["vs-%03d" % i for i in range(size)]
            row = {}
            for w, way in enumerate(WAYS):
                # A different split for every way, so each one has something to write.
                stable = 90 - 10 * ((k * len(WAYS) + w) % 8)
                wall, events = bench.timed(commands(bench, names, stable)[way])
                row[way] = (wall, len(events), sum(1 for e in events if e.is_write and not e.dry_run))
                # As it goes, so an interrupted run still shows what it measured.
                print("  measured: %d VirtualServices, %s: %.2f s, %d requests" % (size, way, wall, len(events)), flush=True)
            rows.append((size, row))
        print("%d, %s VirtualServices shifted in one play (subset validation on), one run each, in one run of the bench"
              % (len(sizes), ",".join(str(s) for s in sizes)))
        header = ("count", "way", "wall s", "per VS s", "ratio", "requests", "writes", "req/VS")
        print("%6s  %-14s %9s %9s %8s %9s %7s %9s" % header)
        for size, row in rows:
            base = row["kubectl loop"][0]
            for way in WAYS:
                wall, requests, writes = row[way]
                cells = (size, way, wall, wall / size, wall / base, requests, writes, requests / float(size))
                print("%6d  %-14s %9.2f %9.3f %8.2f %9d %7d %9.2f" % cells)
        if len(rows) > 1:
            (s0, r0), (s1, r1) = rows[0], rows[-1]
            print("growth from %d to %d VirtualServices (x%.1f): %s" % (
                s0, s1, s1 / float(s0), ", ".join("%s x%.2f" % (w, r1[w][0] / r0[w][0]) for w in WAYS)))
            if len(rows) > 2:
                # Linear: the marginal cost per VirtualService between counts.
                for way in WAYS:
                    steps = ["%.3f" % ((b[1][way][0] - a[1][way][0]) / float(b[0] - a[0])) for a, b in zip(rows, rows[1:])]
                    print("  %-14s marginal s per VS between counts: %s" % (way, ", ".join(steps)))
    finally:
        bench.teardown()


if __name__ == "__main__":
    main()
