"""The install_istio plan: settings and their hash, what a run does, and the istioctl command lines."""

import base64
import hashlib

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.istio_plan import (
    OVERRIDES_PLACEHOLDER,
    overrides_document,
    plan,
    prometheus_manifest,
    release,
    set_list,
    settings_hash,
)

ISTIOCTL = "/opt/istio/istio-1.31.1/bin/istioctl"


def params(**changes):
    """The options of istio_install_plan as the role passes them, with its defaults."""
    p = dict(state="present", version="1.31.1", istioctl_path="", install_dir="/opt/istio", profile="demo",
             namespace="istio-system", revision="", set={}, overrides={}, overrides_file=None, override_files=[],
             override_files_content=[], ingress_service_type="", kubeconfig="", context="", wait_timeout=300,
             record={}, istiod={}, injection_namespaces=[], analyze_namespaces=[], prometheus_manifest="")
    p.update(changes)
    return p


def installed(labels=None, **changes):
    """The params of a run that finds istiod, and the record the same settings would have written."""
    first = plan(params(**changes))
    record = {"version": "1.31.1", "settings_hash": first["settings_hash"]}
    return params(record=record, istiod={"labels": labels or {"operator.istio.io/version": "1.31.1"}}, **changes)


# ---------------------------------------------------------------- what a run does


def test_nothing_installed_installs():
    out = plan(params())
    assert out["action"] == "install"
    assert out["argv"][:3] == [ISTIOCTL, "install", "-y"]
    assert out["message"] == "Install Istio 1.31.1 in istio-system."


def test_same_version_and_settings_do_nothing_and_say_so():
    out = plan(installed())
    assert out["action"] == "none"
    assert out["argv"] == []
    assert "already installed in istio-system with the same settings (hash %s)" % out["settings_hash"][:12] \
        in out["message"]


def test_another_installed_version_upgrades_with_istioctl_upgrade():
    out = plan(installed(labels={"operator.istio.io/version": "1.30.0"}))
    assert out["action"] == "upgrade"
    assert out["argv"][:3] == [ISTIOCTL, "upgrade", "-y"]
    assert out["message"] == "Upgrading Istio in istio-system from 1.30.0 to 1.31.1."


def test_the_record_tells_the_version_when_istioctl_left_no_label():
    p = installed(labels={"app": "istiod"})
    p["record"]["version"] = "1.29.0"
    out = plan(p)
    assert (out["action"], out["installed_version"]) == ("upgrade", "1.29.0")


@pytest.mark.parametrize("change", [
    {"profile": "default"}, {"set": ["values.pilot.env.X=1"]}, {"overrides": {"meshConfig": {"x": 1}}},
    {"ingress_service_type": "NodePort"},
])
def test_other_settings_reconfigure(change):
    p = installed()
    p.update(change)
    out = plan(p)
    assert out["action"] == "reconfigure"
    assert out["argv"][:3] == [ISTIOCTL, "install", "-y"]
    assert out["message"] == "Istio in istio-system was installed with other settings: installing again with these."


def test_an_install_without_a_record_is_adopted_by_installing_again():
    out = plan(params(istiod={"labels": {"operator.istio.io/version": "1.31.1"}}))
    assert out["action"] == "reconfigure"
    assert "(or not by this role)" in out["message"]


def test_a_changed_override_file_changes_the_hash():
    one = plan(params(override_files=["/etc/a.yaml"], override_files_content=[base64.b64encode(b"a").decode()]))
    two = plan(params(override_files=["/etc/a.yaml"], override_files_content=[base64.b64encode(b"b").decode()]))
    assert one["settings_hash"] != two["settings_hash"]


@pytest.mark.parametrize("found,action", [
    ({"istiod": {"labels": {}}}, "uninstall"),
    ({"record": {"version": "1.31.1"}}, "uninstall"),
    ({}, "none"),
])
def test_absent(found, action):
    out = plan(params(state="absent", **found))
    assert out["action"] == action
    assert out["argv"] == []
    if action == "none":
        assert out["message"] == "Istio is not installed in istio-system: nothing to uninstall."


def test_absent_of_a_revision_names_it():
    assert plan(params(state="absent", revision="canary"))["message"] == \
        "Istio revision canary is not installed in istio-system: nothing to uninstall."


# ---------------------------------------------------------------- the settings and their hash


def test_the_hash_is_the_sha256_of_the_sorted_json_ansible_makes():
    # What the role's earlier Jinja, to_json(sort_keys=true) | hash('sha256'), gave for these settings:
    # records written before the plan moved here still match.
    values = {"version": "1.31", "set": ["a=b"], "overrides": {"x": {"\u00e9": 1, "b": True}}, "override_files": []}
    assert settings_hash(values) == "efd1c422a4bde522f0f013f96c934a3f8ceeed9583cff0062695d16b4b39ca4c"


def test_settings_as_recorded():
    content = base64.b64encode(b"spec: {}").decode()
    out = plan(params(revision="rt1", set={"b": True, "a": 1}, override_files=["/f.yaml"],
                      override_files_content=[content]))
    assert out["settings"] == {
        "version": "1.31.1", "profile": "demo", "namespace": "istio-system", "revision": "rt1",
        "set": ["a=1", "b=true"], "overrides": {}, "ingress_service_type": "",
        "override_files": [hashlib.sha256(content.encode()).hexdigest()],
    }
    assert (out["record_name"], out["istiod"]) == ("install-istio-rt1", "istiod-rt1")


def test_set_dict_is_sorted_with_booleans_as_istioctl_spells_them():
    assert set_list({"z.y": False, "a.b": True, "m": 3}) == ["a.b=true", "m=3", "z.y=false"]
    assert set_list(["b=1", "a=2"]) == ["b=1", "a=2"]


@pytest.mark.parametrize("value", [["values.global.proxy.privileged"], ["=x"], [3], "a=b"])
def test_set_entries_must_be_path_equals_value(value):
    with pytest.raises(ParameterError) as err:
        plan(params(set=value))
    assert err.value.param == "set"


# ---------------------------------------------------------------- the istioctl command lines


def test_command_line_in_the_roles_order_with_the_users_set_last():
    out = plan(params(istioctl_path="/bin/istioctl", namespace="istio-rt", revision="rt1",
                      ingress_service_type="NodePort", overrides={"meshConfig": {}}, overrides_file="/tmp/o.yaml",
                      override_files=["/etc/a.yaml"], override_files_content=["YQ=="],
                      set=["values.global.configValidation=false"], kubeconfig="/k", context="c", wait_timeout=120))
    assert out["argv"] == [
        "/bin/istioctl", "install", "-y", "--kubeconfig", "/k", "--context", "c",
        "--set", "profile=demo", "--revision", "rt1",
        "--set", "namespace=istio-rt", "--set", "values.global.istioNamespace=istio-rt",
        "--set", "values.gateways.istio-ingressgateway.type=NodePort",
        "-f", "/tmp/o.yaml", "-f", "/etc/a.yaml",
        "--set", "values.global.configValidation=false",
        "--readiness-timeout", "120s"]
    assert out["uninstall_purge_argv"] == ["/bin/istioctl", "uninstall", "-y", "--purge", "--kubeconfig", "/k",
                                           "--context", "c"]


def test_check_mode_writes_no_overrides_file_so_the_command_line_names_a_placeholder():
    argv = plan(params(overrides={"x": 1}))["argv"]
    assert argv[argv.index("-f") + 1] == OVERRIDES_PLACEHOLDER
    assert "-f" not in plan(params())["argv"]


def test_overrides_are_wrapped_in_an_istio_operator_unless_they_are_one():
    assert overrides_document({}) is None
    assert overrides_document({"meshConfig": {}}) == {
        "apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "spec": {"meshConfig": {}}}
    whole = {"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "spec": {"profile": "demo"}}
    assert overrides_document(whole) == whole


def test_analyze_looks_at_the_istio_and_injection_namespaces_once_each():
    out = plan(params(injection_namespaces=["app", "istio-system", "app"], revision="r1", kubeconfig="/k",
                      istioctl_path="/b/istioctl"))
    assert [a["namespace"] for a in out["analyze"]] == ["istio-system", "app"]
    assert out["analyze"][0]["argv"] == ["/b/istioctl", "analyze", "--namespace", "istio-system",
                                         "--failure-threshold", "Error", "--kubeconfig", "/k", "--revision", "r1"]
    assert [a["namespace"] for a in plan(params(analyze_namespaces=["x"]))["analyze"]] == ["x"]


# ---------------------------------------------------------------- paths


def test_the_pinned_release_or_the_given_istioctl():
    assert release("", "/opt/istio", "1.31.1") == {
        "istioctl": ISTIOCTL, "release_dir": "/opt/istio/istio-1.31.1", "download": True}
    assert release("/cache/istio-x/bin/istioctl", "/opt/istio", "1.31.1") == {
        "istioctl": "/cache/istio-x/bin/istioctl", "release_dir": "/cache/istio-x", "download": False}


def test_prometheus_manifest_from_the_release_a_file_or_a_url():
    assert prometheus_manifest("", "/r", "/opt") == {
        "src": "/r/samples/addons/prometheus.yaml", "remote": False, "local": "/r/samples/addons/prometheus.yaml"}
    assert prometheus_manifest("/m.yaml", "/r", "/opt")["local"] == "/m.yaml"
    url = "http://h/prometheus.yaml"
    got = prometheus_manifest(url, "/r", "/opt")
    assert got["remote"] is True and got["src"] == url
    assert got["local"] == "/opt/prometheus-%s.yaml" % hashlib.sha1(url.encode()).hexdigest()[:12]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("change,param", [
    ({"state": "gone"}, "state"),
    ({"version": ""}, "version"),
    ({"profile": ""}, "profile"),
    ({"namespace": "Istio_System"}, "namespace"),
    ({"revision": "1.31"}, "revision"),
    ({"ingress_service_type": "nodeport"}, "ingress_service_type"),
    ({"overrides": ["x"]}, "overrides"),
    ({"wait_timeout": 0}, "wait_timeout"),
    ({"override_files": ["/a.yaml"]}, "override_files_content"),
])
def test_bad_input_names_its_option(change, param):
    with pytest.raises(ParameterError) as err:
        plan(params(**change))
    assert err.value.param == param
