"""Proof that the cluster under test is real: Istio installed, Deployments run, schemas enforced,
istioctl analyze finds semantic errors, Prometheus answers, the audit log sees what a test writes.

These run against any cluster given by KUBECONFIG; the audit-log and Prometheus tests need
those to be reachable (the local test bed provides both).
"""

import json
import subprocess
import urllib.parse
import urllib.request

import pytest
from kubernetes.dynamic.exceptions import UnprocessibleEntityError

from support.kube import deployment_available as available
from support.kube import kubectl, wait_for

ISTIO_NETWORKING = "networking.istio.io"


@pytest.mark.parametrize("name", ["istiod", "istio-ingressgateway"])
def test_istio_control_plane_and_ingress_are_available(k8s, name):
    assert available(k8s, "istio-system", name)


@pytest.mark.parametrize("kind", ["Gateway", "DestinationRule", "VirtualService"])
def test_istio_networking_kinds_are_served(k8s, kind):
    resource = k8s.resources.get(group=ISTIO_NETWORKING, kind=kind, preferred=True)
    assert resource.group == ISTIO_NETWORKING
    assert resource.namespaced
    # Listing proves the kind is served, not only discovered.
    assert resource.get().kind == kind + "List"


def test_two_replica_deployment_becomes_available(k8s, namespace):
    body = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "example.invalid/web:1"}]}},
        },
    }
    deployments = k8s.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(body=body, namespace=namespace)
    assert wait_for(lambda: available(k8s, namespace, "web"), timeout=60)
    assert deployments.get(name="web", namespace=namespace).status.availableReplicas == 2


def test_virtual_service_violating_the_crd_schema_is_rejected(k8s, namespace):
    vs = k8s.resources.get(group=ISTIO_NETWORKING, kind="VirtualService", preferred=True)
    body = {
        "apiVersion": vs.group_version, "kind": "VirtualService",
        "metadata": {"name": "bad", "namespace": namespace},
        # hosts must be a list of strings, http a list of routes
        "spec": {"hosts": "reviews", "http": {"route": "nowhere"}},
    }
    with pytest.raises(UnprocessibleEntityError) as err:
        vs.create(body=body, namespace=namespace)
    assert "spec.hosts" in str(err.value.body) or "spec.http" in str(err.value.body)
    assert not vs.get(namespace=namespace).items


def test_istioctl_analyze_reports_a_route_to_a_missing_subset(k8s, namespace):
    manifest = """
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: %(ns)s}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: %(ns)s}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: %(ns)s}
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: {host: reviews, subset: v1}
          weight: 90
        - destination: {host: reviews, subset: v3}
          weight: 10
""" % {"ns": namespace}
    kubectl("apply", "-f", "-", input=manifest)
    # The exit code comes from the plain output: with -o json istioctl exits 0 whatever it finds.
    plain = subprocess.run(["istioctl", "analyze", "-n", namespace], capture_output=True, text=True, check=False)
    assert plain.returncode != 0, plain.stdout + plain.stderr
    proc = subprocess.run(["istioctl", "analyze", "-n", namespace, "-o", "json"], capture_output=True, text=True,
                          check=False)
    messages = json.loads(proc.stdout)
    missing = [m for m in messages if m["code"] == "IST0101"]
    # Exactly the subset that does not exist is reported; v1, defined in the DestinationRule, is not.
    assert [m["level"] for m in missing] == ["Error"], messages
    assert "reviews+v3" in missing[0]["message"], messages


def test_prometheus_answers_a_promql_query(prometheus_url):
    url = prometheus_url + "/api/v1/query?" + urllib.parse.urlencode({"query": "vector(1) + 1"})
    with urllib.request.urlopen(url, timeout=10) as resp:
        data = json.load(resp)
    assert data["status"] == "success"
    assert data["data"]["result"][0]["value"][1] == "2"


def test_audit_log_sees_the_writes_of_a_test(k8s, namespace, audit):
    mark = audit.mark()
    k8s.resources.get(api_version="v1", kind="ConfigMap").create(
        body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seen"}, "data": {"a": "1"}},
        namespace=namespace)
    writes = audit.writes(mark, namespace=namespace)
    assert [(w.verb, w.resource, w.name) for w in writes] == [("create", "configmaps", "seen")]


def test_audit_log_sees_no_writes_of_a_read_only_test(k8s, namespace, audit):
    mark = audit.mark()
    k8s.resources.get(api_version="v1", kind="Pod").get(namespace=namespace)
    k8s.resources.get(api_version="v1", kind="ConfigMap").get(namespace=namespace)
    reads = audit.events(mark, namespace=namespace)
    assert {(e.verb, e.resource) for e in reads} >= {("list", "pods"), ("list", "configmaps")}
    assert audit.writes(mark, namespace=namespace) == []


def test_audit_log_tells_a_dry_run_from_a_real_write(k8s, namespace, audit):
    mark = audit.mark()
    k8s.resources.get(api_version="v1", kind="ConfigMap").create(
        body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry"}},
        namespace=namespace, query_params=[("dryRun", "All")])
    dry = audit.events(mark, namespace=namespace, verb="create")
    assert [e.dry_run for e in dry] == [True]
    assert audit.writes(mark, namespace=namespace) == []
