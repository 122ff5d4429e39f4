"""Fixtures of the infrastructure fault tests (issue 11): the release bed of tests/integration/release
(a namespace with podinfo v1 and v2, the mesh simulator standing in for Envoy and routing it, the test
bed's Prometheus scraping it), a Prometheus proxy the test can break, and the test bed's API server
as a process.

Tests marked `apiserver_outage` stop the shared test bed's kube-apiserver for a few seconds: every
other test on the bed sees the outage, so they run alone (`-m apiserver_outage`), and the rest of the
folder runs with `-m "not apiserver_outage"`.
"""

import pytest

# A fixture, used by name.
from support.mesh import mesh_simulator  # noqa: F401 pylint: disable=unused-import
from support.faults import ApiServerProcess, OutageWatch, PrometheusFaultProxy
from support.release import VirtualServiceWatch, create_release, host_of, release_vars


def pytest_configure(config):
    config.addinivalue_line("markers", "apiserver_outage: stops the test bed's kube-apiserver for a few seconds; "
                                       "run these alone, with nothing else on the bed")


class FaultBed(object):
    """One test's release: podinfo v1 (stable) and v2 (candidate) in its namespace, routed by the simulator."""

    def __init__(self, k8s, cluster, namespace, simulator, prometheus_url):
        self.k8s, self.cluster, self.namespace = k8s, cluster, namespace
        self.simulator, self.prometheus_url = simulator, prometheus_url
        self.host = host_of(namespace)
        self.watches = []

    def vars(self, prometheus_url=None, load=True, **plan):
        """release_vars for this namespace, Prometheus at `prometheus_url` (the proxy) when given."""
        return release_vars(self.namespace, prometheus_url or self.prometheus_url,
                            self.simulator if load else None, **plan)

    def watch(self, across_outage=False):
        w = (OutageWatch if across_outage else VirtualServiceWatch)(self.cluster, self.namespace)
        self.watches.append(w)
        return w

    def close(self):
        for w in self.watches:
            if not w._stop.is_set():  # pylint: disable=protected-access
                w.stop()


@pytest.fixture
def release(k8s, cluster, namespace, mesh_simulator, prometheus_url):
    """The test's release, created (no foreign route: other tests prove it is kept), seen by the
    simulator, and the simulator scraped."""
    create_release(k8s, namespace, mesh_simulator, foreign_route=False)
    bed = FaultBed(k8s, cluster, namespace, mesh_simulator, prometheus_url)
    mesh_simulator.wait_scraped(prometheus_url)
    yield bed
    bed.close()


@pytest.fixture
def prometheus_proxy(prometheus_url):
    """A proxy in front of the test bed's Prometheus, passing everything through until told otherwise."""
    proxy = PrometheusFaultProxy(prometheus_url)
    yield proxy
    proxy.close()


@pytest.fixture
def apiserver(cluster):
    """The test bed's kube-apiserver process; skipped where it is not a local process."""
    if not cluster.get("testbed"):
        pytest.skip("the API server outage needs the local test bed (a kube-apiserver process of its own)")
    server = ApiServerProcess.find(cluster["kubeconfig"])
    if server is None:
        pytest.skip("no local kube-apiserver process serves %s" % cluster["kubeconfig"])
    return server
