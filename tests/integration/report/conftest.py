"""The report test's release: podinfo v1 and v2 in the test's namespace, routed by the mesh simulator
(which stands in for Envoy) and scraped by the test bed's Prometheus, as tests/integration/release lays it out."""

import pytest

# A fixture, used by name.
from support.mesh import mesh_simulator  # noqa: F401 pylint: disable=unused-import
from support.release import create_release


@pytest.fixture
def release_ns(k8s, namespace, mesh_simulator, prometheus_url):  # noqa: F811 pylint: disable=redefined-outer-name
    create_release(k8s, namespace, mesh_simulator)
    mesh_simulator.wait_scraped(prometheus_url)
    return namespace
