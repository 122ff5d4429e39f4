"""Fixtures of the progress tests: a release laid out as in tests/integration/release (podinfo v1 and v2
routed by the mesh simulator, which stands in for Envoy, and scraped by the test bed's Prometheus)."""

import pytest

# A fixture, used by name.
from support.mesh import mesh_simulator  # noqa: F401 pylint: disable=unused-import
from support.release import create_release, release_vars


class Release(object):
    def __init__(self, namespace, simulator, prometheus_url):
        self.namespace, self.simulator, self.prometheus_url = namespace, simulator, prometheus_url

    def vars(self, **plan):
        return release_vars(self.namespace, self.prometheus_url, self.simulator, **plan)


@pytest.fixture
def release(k8s, namespace, mesh_simulator, prometheus_url):  # noqa: F811 pylint: disable=redefined-outer-name
    create_release(k8s, namespace, mesh_simulator)
    mesh_simulator.wait_scraped(prometheus_url)
    return Release(namespace, mesh_simulator, prometheus_url)
