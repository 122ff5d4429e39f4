"""Fixtures of the fleet tests: the test bed's default cluster (shared: never stopped here) and two
extra clusters started for these tests and stopped at their end, the same release on each, and a
mesh simulator per cluster standing in for Envoy (docs/mesh-simulator.md)."""

import pytest

from support.fleet import Fleet, FleetCluster, start_clusters, stop_clusters

# The extra clusters: kwok clusters of their own (ports, audit log, Istio), beside the default one.
EXTRA = ("fleet-b", "fleet-c")


@pytest.fixture(scope="session")
def fleet_clusters(cluster):
    if not cluster["testbed"] or not cluster["prometheus_targets"]:
        pytest.skip("the fleet tests start extra clusters of the local test bed (tools/testbed/testbed cluster up)")
    facts = start_clusters(EXTRA)
    yield facts
    stop_clusters(EXTRA)


@pytest.fixture
def fleet(cluster, namespace, fleet_clusters, prometheus_url, tmp_path):
    """Hosts a (the default cluster), b and c, in wave order, each with podinfo v1 and v2 laid out."""
    clusters = [FleetCluster("a", cluster["kubeconfig"], cluster["audit_log"])]
    clusters += [FleetCluster(host, fleet_clusters[name]["kubeconfig"], fleet_clusters[name]["audit_log"])
                 for host, name in zip(("b", "c"), EXTRA)]
    bed = Fleet(clusters, namespace, prometheus_url, cluster["prometheus_targets"], tmp_path)
    try:
        bed.create(default_host="a")
        yield bed
    finally:
        bed.close()
