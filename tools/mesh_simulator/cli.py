"""mesh-simulator: a stand-in for Istio's data plane on the test bed (see docs/mesh-simulator.md).

    python -m mesh_simulator --namespace test --ingress-listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \\
        --ready-file /tmp/sim.json [--prometheus-targets DIR] [--kubeconfig PATH]

It syncs the namespaces' objects, opens both ports, then writes the ready file
{"ingress": "http://127.0.0.1:P", "metrics": "http://127.0.0.1:Q", "pid": N}. With
--prometheus-targets it also writes DIR/mesh-simulator-<pid>.json (Prometheus file_sd) naming its
metrics address. SIGTERM or SIGINT stops it and removes both files.
"""

import argparse
import json
import logging
import os
import signal
import sys
import threading

log = logging.getLogger("mesh_simulator")


def _address(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return host or "127.0.0.1", int(port)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="mesh-simulator", description=__doc__.split("\n\n", maxsplit=1)[0])
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="default: $KUBECONFIG")
    p.add_argument("--namespace", action="append", required=True, dest="namespaces",
                   help="a namespace to watch and route (repeatable)")
    p.add_argument("--ingress-listen", type=_address, default=("127.0.0.1", 0), help="HOST:PORT, 0 picks a free port")
    p.add_argument("--metrics-listen", type=_address, default=("127.0.0.1", 0), help="HOST:PORT, 0 picks a free port")
    p.add_argument("--prometheus-targets", help="a file_sd directory to announce the metrics address in")
    p.add_argument("--ready-file", help="where to write the addresses once synced and listening")
    p.add_argument("--sync-timeout", type=float, default=30.0, help="seconds to wait for the first list of each kind")
    p.add_argument("--seed", type=int, help="seed the random choices (weights, faults) for a reproducible run")
    p.add_argument("--log-level", default=os.environ.get("MESH_SIMULATOR_LOG_LEVEL", "INFO"))
    return p.parse_args(argv)


def _write_atomic(path, data):
    # Prometheus reads *.json in the targets directory as it appears: never let it see half a file.
    tmp = os.path.join(os.path.dirname(path) or ".", ".%s.tmp" % os.path.basename(path))
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="mesh-simulator %(asctime)s %(levelname)s %(message)s")
    if not args.kubeconfig:
        log.error("no kubeconfig: pass --kubeconfig or set KUBECONFIG")
        return 2

    from kubernetes import config as kconfig

    from mesh_simulator.cluster import Store, Watcher
    from mesh_simulator.server import IngressPort, Mesh, MetricsHandler, serve

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    api_client = kconfig.new_client_from_config(config_file=args.kubeconfig)
    api_client.user_agent = "mesh-simulator"
    store = Store()
    watcher = Watcher(api_client, args.namespaces, store)
    watcher.start()
    if not watcher.wait_synced(args.sync_timeout):
        log.error("could not list the watched objects within %ss (is the API server up?)", args.sync_timeout)
        return 1

    mesh = Mesh(store, args.namespaces, seed=args.seed)
    ingress = IngressPort(mesh, args.ingress_listen)
    metrics = serve(MetricsHandler, mesh, args.metrics_listen, port=ingress)
    urls = {"ingress": "http://%s:%d" % ingress.address, "metrics": "http://%s:%d" % metrics.server_address[:2]}
    owned = []
    try:
        if args.prometheus_targets:
            target_file = os.path.join(args.prometheus_targets, "mesh-simulator-%d.json" % os.getpid())
            _write_atomic(target_file, [{
                "targets": ["%s:%d" % metrics.server_address[:2]],
                "labels": {"mesh_simulator": str(os.getpid()), "mesh_simulator_namespaces": ",".join(args.namespaces)},
            }])
            owned.append(target_file)
        if args.ready_file:
            _write_atomic(args.ready_file, dict(urls, pid=os.getpid()))
            owned.append(args.ready_file)
        log.info("synced %s; ingress %s, metrics %s", ",".join(args.namespaces), urls["ingress"], urls["metrics"])
        while not stop.wait(0.5):
            pass
        log.info("stopping")
    finally:
        for path in owned:
            try:
                os.remove(path)
            except OSError:
                pass
        watcher.stop()
        ingress.close()
        metrics.shutdown()
        metrics.server_close()
        mesh.close()
    return 0
