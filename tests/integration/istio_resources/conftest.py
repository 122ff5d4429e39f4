"""Fixtures for the Istio resource modules."""

import pytest
import yaml

from support.istio_objects import app_objects, apply_yaml, destination_rule, rich_virtual_service
from support.kube import kubectl


@pytest.fixture
def mesh_app(namespace):
    """Service, Deployments, DestinationRule and a rich VirtualService, created with kubectl."""
    apply_yaml(namespace, app_objects(namespace) + [destination_rule(namespace), rich_virtual_service(namespace)])
    return namespace


@pytest.fixture(scope="session")
def kube_connection(cluster):
    """Server URL and CA of the cluster under test, from its kubeconfig (for token-based runs)."""
    with open(cluster["kubeconfig"]) as fh:
        config = yaml.safe_load(fh)
    current = config.get("current-context")
    ctx = next(c["context"] for c in config["contexts"] if c["name"] == current)
    cl = next(c["cluster"] for c in config["clusters"] if c["name"] == ctx["cluster"])
    return {"host": cl["server"], "ca_data": cl.get("certificate-authority-data"),
            "ca_file": cl.get("certificate-authority"), "insecure": cl.get("insecure-skip-tls-verify", False)}


@pytest.fixture
def second_namespace(namespace):
    """Another fresh namespace beside ``namespace`` (a host's own, or a mesh root of the test's), deleted afterwards."""
    name = namespace[:50] + "-b"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)
