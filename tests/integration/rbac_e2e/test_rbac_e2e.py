"""Least privilege end to end (issue 11): whole releases through playbooks/canary.yml under a
namespaced ServiceAccount bound to the shipped release Roles (docs/rbac/release/) and nothing else.

The mesh simulator (tools/mesh_simulator) stands in for Envoy and the ingress gateway; the test bed's
real Prometheus scrapes it. The audit log is the witness of what each identity asked for and got.
Two releases run, as a user makes them: v1 -> v2 into an empty namespace (deploy_versions creates
everything), then v2 -> v3 (deploy_versions applies the existing objects again). istioctl analyze is
off: it reads the whole cluster (see docs/rbac/README.md), which a namespaced identity may not.
"""

import os
import re
import uuid

import pytest

from support.mesh import start_simulator
from support.release import (TimedAuditLog, create_release, primary_weights, raw_virtual_service, read_record,
                             release_vars, run_playbook, deployment)

from rbac_identity import RBAC, ROOT_NAMESPACE, BoundIdentity, granted, needed

RELEASE_ROLE = os.path.join(RBAC, "release", "role-release.yaml")
ROOT_ROLE = os.path.join(RBAC, "release", "role-release-root.yaml")
READ_ROLE = os.path.join(RBAC, "role-read.yaml")
# Nothing to fall back on: the identity's kubeconfig is the only credential a run has.
NO_ADMIN = {"KUBECONFIG": "/nonexistent", "K8S_AUTH_KUBECONFIG": ""}
V3_IMAGE = "ghcr.io/stefanprodan/podinfo:6.7.2"


def deployed_release(namespace, prometheus_url, simulator, kubeconfig, stable, candidate):
    values = release_vars(namespace, prometheus_url, simulator, steps=[50], analyze=False)
    values.update({"release_deploy": True, "release_kubeconfig": kubeconfig, "release_stable": stable,
                   "release_candidate": candidate, "release_images": {"v3": V3_IMAGE}})
    return values


@pytest.fixture(scope="module")
def releases(cluster, k8s, prometheus_url, tmp_path_factory):
    """Two promoted releases under the release Roles: (identity, namespace, [results], audit events of it)."""
    audit = TimedAuditLog(cluster["audit_log"]) if cluster["audit_log"] else None
    if audit is None or not os.path.exists(audit.path):
        pytest.skip("no audit log for this cluster: least privilege is measured from it")
    namespace = "t-rbac-e2e-%s" % uuid.uuid4().hex[:6]
    ns_api = k8s.resources.get(api_version="v1", kind="Namespace")
    ns_api.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    simulator = None
    identity = None
    try:
        simulator = start_simulator(cluster, [namespace])
        simulator.wait_scraped(prometheus_url)
        identity = BoundIdentity(cluster, namespace, "releaser", [(namespace, RELEASE_ROLE), (ROOT_NAMESPACE, ROOT_ROLE)],
                                 str(tmp_path_factory.mktemp("rbac") / "kubeconfig"))
        mark = audit.mark()
        results = []
        for stable, candidate in (("v1", "v2"), ("v2", "v3")):
            plan = deployed_release(namespace, prometheus_url, simulator, identity.kubeconfig, stable, candidate)
            results.append(run_playbook("canary.yml", plan, env=NO_ADMIN, timeout=600))
            if results[-1].rc != 0:
                break
        events = audit.timed_events(mark, user=identity.user)
        yield identity, namespace, results, events
    finally:
        if identity is not None:
            identity.close()
        if simulator is not None:
            simulator.stop()
        try:
            ns_api.delete(name=namespace)
        except Exception:  # already gone
            pass


def test_a_release_promotes_under_the_release_roles_alone(releases, k8s):
    identity, namespace, results, events = releases
    assert [r.rc for r in results] == [0, 0], "\n\n".join(r.summary() for r in results)
    record = read_record(namespace)
    assert record["phase"] == "Succeeded" and record["candidate"] == "v3", record
    assert primary_weights(namespace) == {"v3": 100}
    assert deployment(k8s, namespace, "podinfo-v2")["spec"]["replicas"] == 0
    assert deployment(k8s, namespace, "podinfo-v3")["spec"]["replicas"] == 1
    # Every request of both runs was this identity's, and none was refused.
    assert events, "the audit log has no request of %s" % identity.user
    refused = [e for e in events if e.code in (401, 403)]
    assert refused == [], refused
    # Each run deployed (a Deployment created) and moved traffic (VirtualService patches stored).
    assert [e for e in events if e.resource == "deployments" and e.verb == "create" and e.code == 201]
    assert len([e for e in events if e.resource == "virtualservices" and e.verb == "patch" and e.code < 300]) >= 4


def test_the_release_roles_grant_nothing_the_releases_did_not_use(releases):
    identity, namespace, results, events = releases
    assert [r.rc for r in results] == [0, 0], "\n\n".join(r.summary() for r in results)
    used = {ns: needed([e for e in events if e.namespace == ns]) for ns in (namespace, ROOT_NAMESPACE)}
    # Outside the two namespaces the identity asked for nothing (discovery is no resource).
    elsewhere = [e for e in events if e.resource and e.namespace not in (namespace, ROOT_NAMESPACE)]
    assert elsewhere == [], elsewhere
    for ns, role_file in ((namespace, RELEASE_ROLE), (ROOT_NAMESPACE, ROOT_ROLE)):
        grants = granted(role_file)
        unused = grants - used[ns]
        if role_file == ROOT_ROLE:
            # Preflight lists DestinationRules in the mesh root only when the app's namespaces have none;
            # these releases create their own, so the root Role (for DestinationRules kept there) goes unused.
            unused -= {("networking.istio.io", "destinationrules", "list")}
        assert unused == set(), "%s grants what the releases never used in %s: %s" % (
            os.path.basename(role_file), ns, sorted(unused))
        assert used[ns] - grants == set(), "the releases used what %s does not grant in %s: %s" % (
            os.path.basename(role_file), ns, sorted(used[ns] - grants))
        assert all("*" not in part for rule in grants for part in rule), grants


@pytest.fixture(scope="module")
def read_only_run(cluster, k8s, prometheus_url, tmp_path_factory):
    """canary.yml, as for the releases above, under an identity bound to role-read.yaml alone, in a
    namespace laid out for a release: (identity, namespace, VirtualService before, result, audit, mark)."""
    audit = TimedAuditLog(cluster["audit_log"]) if cluster["audit_log"] else None
    if audit is None or not os.path.exists(audit.path):
        pytest.skip("no audit log for this cluster")
    namespace = "t-rbac-read-%s" % uuid.uuid4().hex[:6]
    ns_api = k8s.resources.get(api_version="v1", kind="Namespace")
    ns_api.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        create_release(k8s, namespace)
        before = raw_virtual_service(namespace)
        identity = BoundIdentity(cluster, namespace, "reader", [(namespace, READ_ROLE)],
                                 str(tmp_path_factory.mktemp("rbac-read") / "kubeconfig"))
        plan = deployed_release(namespace, prometheus_url, None, identity.kubeconfig, "v1", "v2")
        mark = audit.mark()
        result = run_playbook("canary.yml", plan, env=NO_ADMIN)
        yield identity, namespace, before, result, audit, mark
    finally:
        try:
            ns_api.delete(name=namespace)
        except Exception:  # already gone
            pass


def test_a_read_only_identity_is_refused_naming_the_verb_and_moves_no_traffic(read_only_run):
    identity, namespace, before, result, audit, mark = read_only_run
    assert result.rc != 0, result.summary()
    message = result.failure() or ""
    # The refusal says so, and names the verb and the resource it was refused.
    assert "forbidden" in message.lower(), message
    refused = [e for e in audit.timed_events(mark, user=identity.user) if e.code == 403]
    assert refused, "the run failed, but not on a refusal: %s" % message
    assert re.search(r"\b%s\b.*\b%s\b" % (refused[0].verb, refused[0].resource), message), (refused[0], message)
    # No traffic moved: no write of that identity succeeded, and the VirtualService is as it was.
    written = [e for e in audit.writes(mark, user=identity.user) if e.code and e.code < 300]
    assert written == [], written
    assert not [e for e in audit.writes(mark, namespace=namespace, resource="virtualservices") if e.code < 300]
    after = raw_virtual_service(namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert primary_weights(namespace) == {"v1": 100}


def test_the_refusal_is_one_clear_line(read_only_run):
    identity, namespace, before, result, audit, mark = read_only_run
    message = (result.failure() or "").strip()
    assert result.rc != 0 and "\n" not in message, message
    assert "cannot reach" not in message and "HTTP response headers" not in message, message
    assert "get" in message and "namespaces" in message and "forbidden" in message.lower(), message
