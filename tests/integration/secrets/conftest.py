"""Fixtures of the secrets tests: witnesses that each secret was really sent where it belongs.

A recording proxy sits in front of the mesh simulator's ingress (where the load goes) and of the
test bed's Prometheus (where the gates ask): it keeps the headers of every request and forwards it
unchanged, so a test can assert that the load carried its Authorization header and that Prometheus
was asked with the token or the basic auth, which makes "the secret is nowhere in the output" a
statement about a run that used it. A hook server answers the rollout's URL hooks the same way.
"""

import uuid

import pytest

from support.mesh import start_simulator
from support.release import create_release

from recording import Recorders


@pytest.fixture
def recorder():
    """recorder(upstream=None, answers=None) -> a recording server, stopped after the test."""
    recorders = Recorders()
    yield recorders.start
    recorders.close()


@pytest.fixture(scope="module")
def module_release(cluster, k8s, prometheus_url):
    """A namespace of the module's own with the tutorial laid out for a release, routed by the mesh
    simulator and scraped: (namespace, simulator). Several tests judge one (slow) run in it."""
    namespace = "t-secrets-%s" % uuid.uuid4().hex[:6]
    ns_api = k8s.resources.get(api_version="v1", kind="Namespace")
    ns_api.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    simulator = None
    try:
        simulator = start_simulator(cluster, [namespace])
        create_release(k8s, namespace, simulator)
        simulator.wait_scraped(prometheus_url)
        yield namespace, simulator
    finally:
        if simulator is not None:
            simulator.stop()
        try:
            ns_api.delete(name=namespace)
        except Exception:  # already gone
            pass
