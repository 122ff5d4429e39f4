"""The shift_traffic role refuses a bad plan before anything is written: the message names the
variable, and the audit log shows no write request in the rollout's namespace.

One release is set up per test (the tutorial's objects: two versions, Service, DestinationRule,
VirtualService at 100 % v1); each bad input is one run of the role against it.
"""

import pytest

from support.ansible_run import run_play
from support.mesh import apply_objects, tutorial_objects
from support.roles import PLAY_ENV, failure

ROLE = "rollouts.istio.shift_traffic"

# (what is wrong, the variables that make it so, what the message must say)
BAD_INPUT = [
    ("steps not increasing", {"shift_traffic_steps": [10, 50, 40]}, "shift_traffic_steps[2]"),
    ("a step above 100", {"shift_traffic_steps": [10, 150]}, "shift_traffic_steps[1]"),
    ("a step below 1", {"shift_traffic_steps": [0, 50]}, "shift_traffic_steps[0]"),
    ("weights that do not make a split", {"shift_traffic_strategy": "weights", "shift_traffic_weights": [50, 120]},
     "shift_traffic_weights[1]"),
    ("an unknown strategy", {"shift_traffic_strategy": "big_bang"}, "shift_traffic_strategy"),
    ("an interval that is not a duration", {"shift_traffic_interval": "soon"}, "shift_traffic_interval"),
    ("a threshold min above max", {"shift_traffic_metrics": [{"name": "request-success-rate", "min": 99, "max": 90}]},
     "shift_traffic_metrics[0].min"),
    ("an empty app name", {"shift_traffic_app": ""}, "shift_traffic_app"),
    ("a name that is not a DNS label", {"shift_traffic_app": "Pod_Info"}, "shift_traffic_app"),
    ("a Prometheus URL without a scheme", {"shift_traffic_prometheus_url": "prometheus:9090"},
     "shift_traffic_prometheus_url"),
    ("a missing VirtualService", {"shift_traffic_virtual_services": [{"name": "nosuch"}]},
     "shift_traffic_virtual_services[0]"),
    ("a version that has no Deployment", {"shift_traffic_candidate": "v3"}, "podinfo-v3"),
]


@pytest.fixture
def release(cluster, k8s, namespace):
    apply_objects(k8s, tutorial_objects(namespace))
    return namespace


def run_role(cluster, namespace, **overrides):
    v = {"shift_traffic_kubeconfig": cluster["kubeconfig"], "shift_traffic_app": "podinfo",
         "shift_traffic_namespace": namespace, "shift_traffic_stable": "v1", "shift_traffic_candidate": "v2",
         "shift_traffic_prometheus_url": "http://127.0.0.1:9", "shift_traffic_analyze": False,
         "shift_traffic_interval": "1s", "shift_traffic_iterations": 1}
    v.update(overrides)
    return run_play([], roles=[{"role": ROLE, "vars": v}], env=PLAY_ENV)


def test_every_bad_plan_is_refused_naming_the_variable_and_writes_nothing(cluster, release, audit):
    mark = audit.mark()
    seen = []
    for what, overrides, named in BAD_INPUT:
        result = run_role(cluster, release, **overrides)
        message = failure(result) or ""
        assert result.rc != 0 and named in message, "%s: %s" % (what, message or result.stderr[-800:])
        seen.append(what)
    writes = audit.writes(mark, namespace=release)
    assert writes == [], writes
    assert len(seen) == len(BAD_INPUT)


def test_a_missing_namespace_is_refused_and_writes_nothing(cluster, audit):
    mark = audit.mark()
    result = run_role(cluster, "no-such-namespace-here")
    message = failure(result) or ""
    assert result.rc != 0 and "no-such-namespace-here" in message, message
    assert audit.writes(mark, namespace="no-such-namespace-here") == []
