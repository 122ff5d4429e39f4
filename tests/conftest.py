"""Shared pytest plumbing.

Unit tests (tests/unit) need nothing running. Integration tests (tests/integration) run against
the cluster named by KUBECONFIG when it is set (for example minikube with real Istio), otherwise
against the local test bed started by `tools/testbed/testbed up`. Tooling tests (tests/tooling: the
test bed itself, the mesh simulator, the benchmarks' smoke runs) test what is not shipped; they use
the same fixtures and need the local test bed.
"""

import os
import re
import shlex
import sys
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
# The collection is importable as ansible_collections.rollouts.istio through the link that
# `testbed venv` makes in .venv/collections.
COLLECTIONS = os.environ.get("ROLLOUTS_COLLECTIONS", os.path.join(REPO, ".venv", "collections"))
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from support.audit import AuditLog  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "unit: pure tests, nothing running")
    config.addinivalue_line("markers", "integration: needs a cluster (KUBECONFIG or the local test bed)")
    config.addinivalue_line("markers", "testbed: needs the local test bed itself (audit log, Prometheus it owns)")
    config.addinivalue_line("markers", "tooling: tests of the tooling that is not shipped (test bed, simulator, bench)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        rel = os.path.relpath(str(item.fspath), REPO)
        if rel.startswith(os.path.join("tests", "unit")):
            item.add_marker(pytest.mark.unit)
        elif rel.startswith(os.path.join("tests", "integration")):
            item.add_marker(pytest.mark.integration)
        elif rel.startswith(os.path.join("tests", "tooling")):
            item.add_marker(pytest.mark.tooling)


def _testbed_env():
    """The exports of a running test bed (KUBECONFIG, audit log, Prometheus), or {}."""
    state = os.environ.get("ROLLOUTS_TESTBED_STATE",
                           os.path.join(os.path.expanduser("~/.cache/rollouts-istio-testbed"), "run"))
    path = os.path.join(state, "env.sh")
    if not os.path.exists(path):
        return {}
    env = {}
    for line in open(path):
        if line.startswith("export "):
            key, dummy, value = line[len("export "):].strip().partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


@pytest.fixture(scope="session")
def cluster():
    """Connection facts of the cluster under test.

    KUBECONFIG wins, so the suite runs unchanged against minikube with real Istio; the audit log
    and Prometheus then come from ROLLOUTS_TESTBED_AUDIT_LOG / PROMETHEUS_URL when the user has them.
    """
    testbed = _testbed_env()
    kubeconfig = os.environ.get("KUBECONFIG") or testbed.get("KUBECONFIG")
    if not kubeconfig or not os.path.exists(kubeconfig):
        pytest.fail("no cluster: set KUBECONFIG, or start the local test bed with tools/testbed/testbed up")
    own_testbed = kubeconfig == testbed.get("KUBECONFIG")
    facts = {
        "kubeconfig": kubeconfig,
        "testbed": own_testbed,
        "audit_log": os.environ.get("ROLLOUTS_TESTBED_AUDIT_LOG") or (testbed.get("ROLLOUTS_TESTBED_AUDIT_LOG") if own_testbed else None),
        "prometheus_url": os.environ.get("PROMETHEUS_URL") or os.environ.get("ROLLOUTS_TESTBED_PROMETHEUS_URL")
        or (testbed.get("ROLLOUTS_TESTBED_PROMETHEUS_URL") if own_testbed else None),
        "prometheus_targets": testbed.get("ROLLOUTS_TESTBED_PROMETHEUS_TARGETS") if own_testbed else None,
    }
    os.environ["KUBECONFIG"] = kubeconfig
    # Tools the test bed built (kubectl, istioctl) come first on PATH, then the user's.
    extra = [p for p in testbed.get("PATH", "").split(":") if p and p != "$PATH"] if own_testbed else []
    os.environ["PATH"] = ":".join(extra + [os.environ.get("PATH", "")])
    if testbed.get("ANSIBLE_COLLECTIONS_PATH") or os.path.isdir(COLLECTIONS):
        os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", testbed.get("ANSIBLE_COLLECTIONS_PATH") or COLLECTIONS)
    return facts


@pytest.fixture(scope="session")
def k8s(cluster):
    """A kubernetes.dynamic client for the cluster under test."""
    from kubernetes import config as kconfig
    from kubernetes.dynamic import DynamicClient

    api = kconfig.new_client_from_config(config_file=cluster["kubeconfig"])
    return DynamicClient(api)


@pytest.fixture
def namespace(k8s, request):
    """A fresh namespace for one test, deleted afterwards."""
    # DNS-safe: parametrized names carry brackets, dots and spaces.
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower().replace("_", "-"))[:40].strip("-")
    name = "t-%s-%s" % (base, uuid.uuid4().hex[:6])
    ns_api = k8s.resources.get(api_version="v1", kind="Namespace")
    ns_api.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    try:
        ns_api.delete(name=name)
    except Exception:  # already gone
        pass


@pytest.fixture
def audit(cluster):
    """The API server's audit log; skipped on a cluster whose audit log this run cannot read."""
    if not cluster["audit_log"] or not os.path.exists(cluster["audit_log"]):
        pytest.skip("no audit log for this cluster (set ROLLOUTS_TESTBED_AUDIT_LOG to read one)")
    return AuditLog(cluster["audit_log"])


@pytest.fixture(scope="session")
def prometheus_url(cluster):
    if not cluster["prometheus_url"]:
        pytest.skip("no Prometheus for this cluster (set PROMETHEUS_URL)")
    return cluster["prometheus_url"]
