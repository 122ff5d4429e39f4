"""The install_istio role with the real istioctl against the cluster under test.

Other tests use the cluster's Istio in istio-system at the same time, so everything that installs,
upgrades or uninstalls runs on a control plane of its own: a revision in a namespace of its own,
with the base component (the shared CRDs) left out. istio-system is only touched by the idempotent
run with the test bed's own settings (which must change nothing once the test bed installs Istio
through this role) and by check-mode runs, which must write nothing.
"""

import json
import os
import shutil
import subprocess
import tarfile
import uuid

import pytest
import yaml

from support.ansible_run import run_play
from support.kube import kubectl
from support.roles import PLAY_ENV, changed_tasks, executable, failure, serve, sha256_of, task

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = "rollouts.istio.install_istio"
# The test bed's values: no admission webhooks (istiod is not a real process here).
NO_WEBHOOKS = ["values.global.configValidation=false", "values.global.operatorManageWebhooks=true"]

PROMETHEUS_MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: prometheus
  labels: {app: prometheus}
spec:
  replicas: 1
  selector: {matchLabels: {app: prometheus}}
  template:
    metadata: {labels: {app: prometheus}}
    spec:
      containers:
        - name: prometheus
          image: example.invalid/prometheus:pinned
---
apiVersion: v1
kind: Service
metadata:
  name: prometheus
spec:
  selector: {app: prometheus}
  ports: [{name: http, port: 9090}]
"""


def play(cluster, check=False, **role_vars):
    role_vars.setdefault("install_istio_kubeconfig", cluster["kubeconfig"])
    return run_play([], roles=[{"role": ROLE, "vars": role_vars}], check=check, env=PLAY_ENV)


@pytest.fixture(scope="module")
def istioctl(cluster):
    path = shutil.which("istioctl")
    if not path:
        pytest.skip("istioctl is not on PATH")
    out = subprocess.run([path, "version", "--remote=false", "-o", "json"], capture_output=True, text=True, check=True)
    return {"path": path, "version": json.loads(out.stdout)["clientVersion"]["version"]}


def fake_release(root, version, istioctl_path, prometheus=PROMETHEUS_MANIFEST):
    """An Istio release tarball laid out like the real one: istio-<v>/bin/istioctl (here a wrapper
    around the real binary) and istio-<v>/samples/addons/prometheus.yaml; with its .sha256 file."""
    top = root / "build" / ("istio-%s" % version)
    (top / "bin").mkdir(parents=True)
    (top / "samples" / "addons").mkdir(parents=True)
    executable(top / "bin" / "istioctl", '#!/bin/sh\nexec "%s" "$@"\n' % istioctl_path)
    (top / "samples" / "addons" / "prometheus.yaml").write_text(prometheus)
    name = "istio-%s-linux-amd64.tar.gz" % version
    with tarfile.open(root / name, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    (root / (name + ".sha256")).write_text("%s  %s\n" % (sha256_of(root / name), name))
    return name


# ---------------------------------------------------------------- bad input and failures


def test_argument_spec_names_the_bad_variable(cluster):
    res = play(cluster, install_istio_prometheus="bogus")
    assert res.rc != 0
    assert "install_istio_prometheus must be one of: manifest, external, none" in failure(res)


def test_set_entries_must_be_path_equals_value(cluster, istioctl):
    res = play(cluster, install_istio_version=istioctl["version"], install_istio_istioctl_path=istioctl["path"],
               install_istio_set=["values.global.proxy.privileged"])
    assert res.rc != 0
    assert "install_istio_set entries look like" in failure(res)


def test_istioctl_of_another_version_is_refused_before_the_cluster_is_touched(cluster, istioctl, audit):
    mark = audit.mark()
    res = play(cluster, install_istio_version="1.0.0", install_istio_istioctl_path=istioctl["path"])
    assert res.rc != 0
    msg = failure(res)
    assert "is istioctl %s, but install_istio_version is 1.0.0" % istioctl["version"] in msg
    # Other clients (the scheduler, other tests with their own namespaces) write at the same time;
    # what this role would write is the Istio namespace and Istio's cluster-wide objects.
    cluster_wide = {"customresourcedefinitions", "clusterroles", "clusterrolebindings",
                    "mutatingwebhookconfigurations", "validatingwebhookconfigurations"}
    assert [e for e in audit.writes(mark) if e.namespace == "istio-system"
            or (e.resource in cluster_wide and "istio" in (e.name or ""))] == []


def test_unreachable_cluster_is_reported_with_the_kubeconfig(cluster, istioctl, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "gone", "user": {"token": "x"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "gone"}}],
    }))
    res = play(cluster, install_istio_version=istioctl["version"], install_istio_istioctl_path=istioctl["path"],
               install_istio_kubeconfig=str(kubeconfig))
    assert res.rc != 0
    msg = failure(res)
    assert "cannot reach the Kubernetes API server (kubeconfig %s)" % kubeconfig in msg
    assert not any(t["_task"].endswith("Install Istio with istioctl") for t in res.tasks)


def test_external_prometheus_that_does_not_answer_is_reported(cluster, istioctl):
    # Check mode: whatever the plan for istio-system, nothing is written; the readiness probe of the
    # external Prometheus still runs, since it only reads.
    res = play(cluster, check=True, install_istio_version=istioctl["version"],
               install_istio_istioctl_path=istioctl["path"], install_istio_set=NO_WEBHOOKS,
               install_istio_prometheus="external", install_istio_prometheus_url="http://127.0.0.1:1",
               install_istio_wait_timeout=5)
    assert res.rc != 0
    assert failure(res).startswith("install_istio: Prometheus at http://127.0.0.1:1 is not ready")


# ---------------------------------------------------------------- download with checksum


def download_vars(istioctl, url, install_dir, **extra):
    """Vars for a run that downloads the release and then has nothing to do in the cluster."""
    v = dict(install_istio_version=istioctl["version"], install_istio_download_url=url,
             install_istio_install_dir=str(install_dir), install_istio_state="absent",
             install_istio_namespace="istio-nothing-here", install_istio_prometheus="none")
    v.update(extra)
    return v


def test_release_is_downloaded_verified_and_unpacked_once(cluster, istioctl, http_dir, tmp_path):
    root, base = http_dir
    name = fake_release(root, istioctl["version"], istioctl["path"])
    install_dir = tmp_path / "opt-istio"
    first = play(cluster, **download_vars(istioctl, "%s/%s" % (base, name), install_dir))
    assert first.rc == 0, failure(first)
    assert task(first, "Download the release, verified against its checksum")["changed"] is True
    assert (install_dir / ("istio-%s" % istioctl["version"]) / "bin" / "istioctl").exists()
    second = play(cluster, **download_vars(istioctl, "%s/%s" % (base, name), install_dir))
    assert second.rc == 0, failure(second)
    assert changed_tasks(second) == []


def test_checksum_mismatch_unpacks_nothing(cluster, istioctl, http_dir, tmp_path):
    root, base = http_dir
    name = fake_release(root, istioctl["version"], istioctl["path"])
    install_dir = tmp_path / "opt-istio"
    res = play(cluster, **download_vars(istioctl, "%s/%s" % (base, name), install_dir,
                                        install_istio_checksum="sha256:" + "0" * 64))
    assert res.rc != 0
    msg = failure(res)
    assert "checksum mismatch" in msg and "nothing was unpacked" in msg
    assert not (install_dir / ("istio-%s" % istioctl["version"])).exists()
    assert not (install_dir / name).exists()


def test_no_such_version_is_named(cluster, istioctl, http_dir, tmp_path):
    _root, base = http_dir
    res = play(cluster, **download_vars(istioctl, "%s/istio-9.9.9-linux-amd64.tar.gz" % base, tmp_path / "opt",
                                        install_istio_checksum=""))
    assert res.rc != 0
    assert "no such version (HTTP 404)" in failure(res)


# ---------------------------------------------------------------- a control plane of our own


@pytest.fixture(scope="module")
def isolated(cluster, istioctl, tmp_path_factory):
    """Vars for an Istio revision in a namespace of its own, and a cleanup that removes it whatever
    the tests did. The Prometheus addon comes from a manifest URL pinned by checksum."""
    suffix = uuid.uuid4().hex[:6]
    www = tmp_path_factory.mktemp("www")
    (www / "prometheus.yaml").write_text(PROMETHEUS_MANIFEST)
    with serve(www) as base:
        v = dict(
            install_istio_version=istioctl["version"], install_istio_istioctl_path=istioctl["path"],
            install_istio_namespace="istio-rt-" + suffix, install_istio_revision="rt" + suffix,
            install_istio_set=NO_WEBHOOKS + ["components.base.enabled=false"],
            install_istio_ingress_service_type="NodePort",
            install_istio_injection_namespaces=["rt-app-" + suffix],
            install_istio_prometheus="manifest",
            install_istio_prometheus_manifest=base + "/prometheus.yaml",
            install_istio_prometheus_manifest_checksum="sha256:" + sha256_of(www / "prometheus.yaml"),
            install_istio_install_dir=str(tmp_path_factory.mktemp("opt-istio")),
            install_istio_wait_timeout=120,
        )
        first = play(cluster, **v)
        yield {"vars": v, "first": first, "ns": v["install_istio_namespace"], "rev": v["install_istio_revision"],
               "app_ns": v["install_istio_injection_namespaces"][0]}
    for kind in ("clusterrolebinding", "clusterrole"):
        kubectl("delete", kind, "-l", "istio.io/rev=rt" + suffix, "--ignore-not-found", check=False)
    kubectl("delete", "namespace", "istio-rt-" + suffix, "rt-app-" + suffix, "--ignore-not-found", "--wait=false",
            check=False)


def test_first_run_installs_with_istioctl_and_the_settings(isolated, istioctl):
    res = isolated["first"]
    assert res.rc == 0, failure(res)
    line = task(res, "Show the istioctl command line")["msg"]
    assert line.startswith(istioctl["path"] + " install -y ")
    for part in ("--set profile=demo", "--revision " + isolated["rev"],
                 "--set values.global.istioNamespace=" + isolated["ns"],
                 "--set values.gateways.istio-ingressgateway.type=NodePort",
                 "--set values.global.operatorManageWebhooks=true"):
        assert part in line
    assert task(res, "Install Istio with istioctl")["changed"] is True


def test_control_plane_and_gateway_are_available(isolated, k8s):
    deployments = k8s.resources.get(api_version="apps/v1", kind="Deployment")
    for name in ("istiod-" + isolated["rev"], "istio-ingressgateway", "prometheus"):
        d = deployments.get(name=name, namespace=isolated["ns"])
        assert {c["type"]: c["status"] for c in d.status.conditions}["Available"] == "True", name


def test_version_and_settings_hash_are_recorded(isolated, istioctl, k8s):
    cm = k8s.resources.get(api_version="v1", kind="ConfigMap").get(
        name="install-istio-" + isolated["rev"], namespace=isolated["ns"])
    assert cm.data["version"] == istioctl["version"]
    assert json.loads(cm.data["settings"])["set"] == NO_WEBHOOKS + ["components.base.enabled=false"]
    assert len(cm.data["settings_hash"]) == 64


def test_ingress_is_node_port_and_handed_to_later_roles(isolated, k8s):
    svc = k8s.resources.get(api_version="v1", kind="Service").get(name="istio-ingressgateway", namespace=isolated["ns"])
    assert svc.spec.type == "NodePort"
    http2 = [p for p in svc.spec.ports if p.name == "http2"][0]
    facts = task(isolated["first"], "Tell later roles where the ingress gateway answers")["ansible_facts"]
    ingress = facts["install_istio_ingress"]
    assert ingress["service_type"] == "NodePort"
    assert int(ingress["port"]) == http2.nodePort
    assert ingress["host"]
    assert ingress["url"] == "http://%s:%s" % (ingress["host"], http2.nodePort)


def test_namespaces_are_labelled_for_the_revision(isolated, k8s):
    ns = k8s.resources.get(api_version="v1", kind="Namespace").get(name=isolated["app_ns"])
    labels = dict(ns.metadata.labels)
    assert labels["istio.io/rev"] == isolated["rev"]
    assert "istio-injection" not in labels


def resource_versions(namespace):
    out = kubectl("get", "deploy,svc,cm,sa,role,rolebinding", "-n", namespace, "-o",
                  "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion} {end}").stdout
    return sorted(out.split())


def test_second_run_changes_nothing_and_says_so(isolated, cluster, audit):
    before = resource_versions(isolated["ns"])
    mark = audit.mark()
    res = play(cluster, **isolated["vars"])
    assert res.rc == 0, failure(res)
    assert changed_tasks(res) == []
    assert "with the same settings" in task(res, "Say what will be done")["msg"]
    # kubernetes.core sends a patch for the addon manifest even when it matches; nothing is created,
    # replaced or deleted, and no object changes.
    assert {e.verb for e in audit.writes(mark, namespace=isolated["ns"])} <= {"patch"}
    assert resource_versions(isolated["ns"]) == before


def test_other_settings_in_check_mode_show_the_command_and_write_nothing(isolated, cluster, audit):
    mark = audit.mark()
    v = dict(isolated["vars"], install_istio_set=isolated["vars"]["install_istio_set"] + ["values.pilot.env.CHECK=1"])
    res = play(cluster, check=True, **v)
    assert res.rc == 0, failure(res)
    assert "installed with other settings" in task(res, "Say what will be done")["msg"]
    assert task(res, "Show the istioctl command line")["msg"].endswith(
        "--set values.pilot.env.CHECK=1 --readiness-timeout 120s")
    assert audit.writes(mark, namespace=isolated["ns"]) == []
    assert audit.writes(mark, namespace=isolated["app_ns"]) == []


def test_an_older_istio_in_the_cluster_is_upgraded_with_istioctl_upgrade(isolated, cluster, istioctl):
    kubectl("-n", isolated["ns"], "label", "deployment", "istiod-" + isolated["rev"],
            "operator.istio.io/version=1.30.0", "--overwrite")
    res = play(cluster, **isolated["vars"])
    assert res.rc == 0, failure(res)
    assert "from 1.30.0 to %s" % istioctl["version"] in task(res, "Say what will be done")["msg"]
    assert task(res, "Show the istioctl command line")["msg"].startswith(istioctl["path"] + " upgrade -y ")
    label = kubectl("-n", isolated["ns"], "get", "deployment", "istiod-" + isolated["rev"], "-o",
                    "jsonpath={.metadata.labels.operator\\.istio\\.io/version}").stdout
    assert label == istioctl["version"]
    again = play(cluster, **isolated["vars"])
    assert changed_tasks(again) == []


def test_absent_uninstalls_this_install_only(isolated, cluster, k8s):
    res = play(cluster, **dict(isolated["vars"], install_istio_state="absent"))
    assert res.rc == 0, failure(res)
    assert changed_tasks(res), "the uninstall changed nothing"
    left = kubectl("get", "deploy,svc,cm,sa,role,rolebinding", "-n", isolated["ns"], "-o", "name").stdout.split()
    assert sorted(left) == ["configmap/kube-root-ca.crt", "serviceaccount/default"]
    rbac = kubectl("get", "clusterrole,clusterrolebinding", "-l", "istio.io/rev=" + isolated["rev"],
                   "-o", "name").stdout.split()
    assert rbac == []
    # The shared control plane is untouched.
    assert k8s.resources.get(api_version="apps/v1", kind="Deployment").get(name="istiod", namespace="istio-system")
    again = play(cluster, **dict(isolated["vars"], install_istio_state="absent"))
    assert again.rc == 0 and changed_tasks(again) == []
    assert "nothing to uninstall" in task(again, "Say what will be done")["msg"]


# ---------------------------------------------------------------- the shared install


def _testbed_role_vars():
    """The role vars of tools/testbed/install-istio.yml, so this test runs what the test bed runs."""
    with open(os.path.join(REPO, "tools", "testbed", "install-istio.yml")) as fh:
        playbook = yaml.safe_load(fh)
    return playbook[0]["roles"][0]["vars"]


def test_the_test_bed_install_is_idempotent(cluster, istioctl, audit):
    if not cluster["testbed"]:
        pytest.skip("needs the local test bed: its Istio is installed with the test bed's own settings")
    roles = [{"role": ROLE, "vars": _testbed_role_vars()}]
    extra = {"testbed_kubeconfig": cluster["kubeconfig"], "testbed_istioctl": istioctl["path"],
             "testbed_prometheus_url": cluster["prometheus_url"] or ""}
    # The first run adopts an install the role did not make (it records it); after that, nothing.
    first = run_play([], roles=roles, vars=extra, env=PLAY_ENV)
    assert first.rc == 0, failure(first)
    mark = audit.mark()
    second = run_play([], roles=roles, vars=extra, env=PLAY_ENV)
    assert second.rc == 0, failure(second)
    assert changed_tasks(second) == []
    assert "with the same settings" in task(second, "Say what will be done")["msg"]
    assert audit.writes(mark, namespace="istio-system") == []


def test_default_revision_in_a_namespace_of_its_own_installs_labels_and_uninstalls_alone(cluster, istioctl, k8s):
    """No revision: istio-injection=enabled, and the uninstall is scoped by the Istio namespace."""
    suffix = uuid.uuid4().hex[:6]
    ns, app = "istio-dflt-" + suffix, "dflt-app-" + suffix
    v = dict(install_istio_version=istioctl["version"], install_istio_istioctl_path=istioctl["path"],
             install_istio_namespace=ns, install_istio_set=NO_WEBHOOKS + ["components.base.enabled=false"],
             install_istio_prometheus="none", install_istio_injection_namespaces=[app], install_istio_wait_timeout=120)
    try:
        first = play(cluster, **v)
        assert first.rc == 0, failure(first)
        assert "--revision" not in task(first, "Show the istioctl command line")["msg"]
        labels = dict(k8s.resources.get(api_version="v1", kind="Namespace").get(name=app).metadata.labels)
        assert labels["istio-injection"] == "enabled" and "istio.io/rev" not in labels
        assert changed_tasks(play(cluster, **v)) == []
        gone = play(cluster, **dict(v, install_istio_state="absent"))
        assert gone.rc == 0, failure(gone)
        assert kubectl("get", "deploy", "-n", ns, "-o", "name").stdout.split() == []
        # istio-system carries the same revision label (default); it must still be there.
        assert kubectl("get", "deploy", "istiod", "-n", "istio-system", "-o", "name").stdout.strip() == \
            "deployment.apps/istiod"
    finally:
        kubectl("delete", "clusterrole,clusterrolebinding", "-l",
                "install.operator.istio.io/owning-resource-namespace=" + ns, "--ignore-not-found", check=False)
        kubectl("delete", "namespace", ns, app, "--ignore-not-found", "--wait=false", check=False)
