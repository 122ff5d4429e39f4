"""Running the Prometheus modules through ansible-playbook, and loading the simulator with hey."""

import contextlib
import os
import subprocess

import pytest
from support.ansible_run import run_play

from support.mesh import HEY, TUTORIAL_HOST, hey_command


def module_run(name, args, check=False):
    """One task of rollouts.istio.<name> through ansible-playbook: the whole PlaybookResult."""
    return run_play([{"name": name, "rollouts.istio." + name: args}], check=check)


def run_module(name, args, check=False):
    """The result of one task of rollouts.istio.<name>."""
    return module_run(name, args, check)[0]


def builtin_gate(prometheus_url, namespace, workload="podinfo-v2", **options):
    """prometheus_check's arguments for the tutorial's gate: success rate >= 99 %, p99 <= 500 ms."""
    args = {"url": prometheus_url, "namespace": namespace, "workload": workload,
            "metrics": [{"name": "request-success-rate", "min": 99}, {"name": "request-duration", "max": 500}]}
    args.update(options)
    return args


@contextlib.contextmanager
def load(simulator, seconds, qps=10, concurrency=2, path="/", delay=0):
    """hey against the simulator's ingress, in the background for at most `seconds` (after `delay`), as the
    tutorial runs it during the analysis (`hey -z 1m -q 10 -c 2`); stopped when the block ends."""
    if not os.path.exists(HEY):
        pytest.skip("hey is not installed (tools/testbed/testbed deps installs it)")
    cmd = hey_command(simulator.ingress_url + path, TUTORIAL_HOST, "%ds" % seconds, qps, concurrency)
    if delay:
        cmd = ["sh", "-c", 'sleep %d && exec "$@"' % delay, "sh"] + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(30)
