"""Fixtures of the end-to-end release tests: a namespace with the tutorial laid out for a release,
the mesh simulator routing it (scraped by the test bed's Prometheus), and the witnesses that check
a run from outside: the audit log with times, and a watch on the VirtualServices."""

import os

import pytest

# A fixture, used by name.
from support.mesh import mesh_simulator  # noqa: F401 pylint: disable=unused-import
from support.release import (TimedAuditLog, VirtualServiceWatch, create_release, host_of, raw_virtual_service,
                             release_vars, route_named)


class ReleaseBed(object):
    """One test's release: podinfo v1 (stable) and v2 (candidate) in its namespace, routed by the
    simulator, with the foreign route above the `primary` one."""

    def __init__(self, k8s, cluster, namespace, simulator, prometheus_url):
        self.k8s, self.cluster, self.namespace = k8s, cluster, namespace
        self.simulator, self.prometheus_url = simulator, prometheus_url
        self.host = host_of(namespace)
        self.watches = []

    def create(self, **kwargs):
        create_release(self.k8s, self.namespace, self.simulator, **kwargs)
        self.foreign_before = route_named(raw_virtual_service(self.namespace), "ops-debug")
        return self

    def vars(self, load=True, **plan):
        """release_vars for this namespace; load=False sends no load during the analysis."""
        return release_vars(self.namespace, self.prometheus_url, self.simulator if load else None, **plan)

    def watch(self):
        w = VirtualServiceWatch(self.cluster, self.namespace)
        self.watches.append(w)
        return w

    def foreign_route(self):
        return route_named(raw_virtual_service(self.namespace), "ops-debug")

    def close(self):
        for w in self.watches:
            w.stop()


@pytest.fixture
def release(k8s, cluster, namespace, mesh_simulator, prometheus_url):
    """The test's release, created, seen by the simulator and with the simulator scraped."""
    bed = ReleaseBed(k8s, cluster, namespace, mesh_simulator, prometheus_url).create()
    mesh_simulator.wait_scraped(prometheus_url)
    yield bed
    bed.close()


@pytest.fixture
def timed_audit(cluster):
    """The audit log with each event's time; skipped where this run cannot read one."""
    if not cluster["audit_log"] or not os.path.exists(cluster["audit_log"]):
        pytest.skip("no audit log for this cluster (set ROLLOUTS_TESTBED_AUDIT_LOG to read one)")
    return TimedAuditLog(cluster["audit_log"])
