"""The minikube planner: settings, differences, command lines and what each state leads to."""

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError, RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._core.minikube_plan import (
    PlanError,
    actual_settings,
    check_resources,
    command_line,
    desired_settings,
    differences,
    explain_failure,
    find_profile,
    parse_memory_mb,
    parse_profile_list,
    plan,
    start_argv,
    status_of,
)

TUTORIAL = dict(memory="8192", cpus=4, kubernetes_version="v1.34.0", driver="docker", container_runtime="docker")


def profile(name="minikube", status="OK", memory=8192, cpus=4, version="v1.34.0", driver="docker",
            runtime="docker", extras=(), active_context=True):
    return {
        "Name": name, "Status": status, "Active": False, "ActiveKubeContext": active_context,
        "Config": {
            "Name": name, "Memory": memory, "CPUs": cpus, "Driver": driver,
            "KubernetesConfig": {
                "KubernetesVersion": version, "ClusterName": name, "ContainerRuntime": runtime,
                "ExtraOptions": [{"Component": c, "Key": k, "Value": v} for c, k, v in extras],
            },
        },
    }


def listing(*entries, invalid=()):
    return {"valid": list(entries), "invalid": list(invalid)}


@pytest.mark.parametrize("value,mb", [
    (8192, 8192), ("8192", 8192), ("8192mb", 8192), ("8192M", 8192), ("8g", 8192), ("8GB", 8192),
    ("8GiB", 8192), (" 2g ", 2048), ("1t", 1024 * 1024), ("4096k", 4), (None, None), ("", None),
])
def test_memory_is_read_as_minikube_reads_it(value, mb):
    assert parse_memory_mb(value) == mb


@pytest.mark.parametrize("value", ["lots", "8 gigs", "-1", "0", "8.5g", True])
def test_memory_that_is_not_a_size_is_refused_with_an_example(value):
    with pytest.raises(PlanError, match="8192"):
        parse_memory_mb(value)


@pytest.mark.parametrize("call,param", [
    (lambda: parse_memory_mb("lots"), "memory"),
    (lambda: parse_memory_mb("0", "min_memory"), "min_memory"),
    (lambda: desired_settings(cpus=0), "cpus"),
    (lambda: desired_settings(kubernetes_version="one-thirty-four"), "kubernetes_version"),
    (lambda: desired_settings(extra_config=["max-pods"]), "extra_config"),
    (lambda: plan("running", "minikube", desired_settings(), None), "state"),
])
def test_every_validation_error_names_its_option(call, param):
    with pytest.raises(ParameterError) as err:
        call()
    assert err.value.param == param
    assert err.value.result_fields()["param"] == param
    # The message starts with the option's name, as the roles' users read it.
    assert str(err.value).startswith(param + " ")


def test_desired_settings_normalize_what_minikube_records_differently():
    d = desired_settings(memory="8g", cpus="4", kubernetes_version="1.34.0", driver="Docker",
                         container_runtime="cri-o", extra_config=["kubelet.max-pods=150", "kubelet.max-pods=150"])
    assert d == {"memory_mb": 8192, "cpus": 4, "kubernetes_version": "v1.34.0", "driver": "docker",
                 "container_runtime": "crio", "extra_config": ["kubelet.max-pods=150"]}


def test_unset_settings_are_none_and_never_compared():
    d = desired_settings()
    assert set(d.values()) == {None}
    assert differences(d, actual_settings(profile(memory=1, cpus=1, driver="kvm2"))) == []


@pytest.mark.parametrize("kwargs,match", [
    ({"cpus": 0}, "cpus"),
    ({"kubernetes_version": "one-thirty-four"}, "v1.34.0"),
    ({"extra_config": ["max-pods"]}, "component.key=value"),
])
def test_bad_settings_are_refused_before_anything_runs(kwargs, match):
    with pytest.raises(PlanError, match=match):
        desired_settings(**kwargs)


def test_actual_settings_come_from_the_profile_config():
    a = actual_settings(profile(version="v1.33.1", runtime="cri-o", extras=[("apiserver", "v", "2")]))
    assert a == {"memory_mb": 8192, "cpus": 4, "kubernetes_version": "v1.33.1", "driver": "docker",
                 "container_runtime": "crio", "extra_config": ["apiserver.v=2"]}


def test_find_profile_looks_at_valid_and_invalid_profiles():
    broken = {"Name": "broken", "Status": "Unknown"}
    data = listing(profile("a"), invalid=[broken])
    assert find_profile(data, "a")["_valid"] is True
    assert find_profile(data, "broken")["_valid"] is False
    assert find_profile(data, "c") is None
    assert find_profile({}, "a") is None
    assert find_profile(None, "a") is None


@pytest.mark.parametrize("status,expected", [
    ("OK", "running"), ("Running", "running"), ("Degraded", "running"), ("Paused", "paused"),
    ("Stopped", "stopped"), ("Unknown", "stopped"), ("Error", "stopped"), (None, "stopped"),
])
def test_status_of_a_profile(status, expected):
    assert status_of(dict(profile(), Status=status)) == expected


def test_status_of_no_profile_is_missing():
    assert status_of(None) == "missing"


def test_differences_name_each_setting_with_both_values():
    d = desired_settings(**TUTORIAL)
    diffs = differences(d, actual_settings(profile(memory=4096, version="v1.33.0")))
    assert diffs == [
        {"setting": "memory_mb", "current": 4096, "desired": 8192},
        {"setting": "kubernetes_version", "current": "v1.33.0", "desired": "v1.34.0"},
    ]


def test_extra_config_asked_for_must_be_set_but_more_is_fine():
    d = desired_settings(extra_config=["kubelet.max-pods=150"])
    more = actual_settings(profile(extras=[("kubelet", "max-pods", "150"), ("kubeadm", "pod-network-cidr", "10.244.0.0/16")]))
    assert differences(d, more) == []
    other = actual_settings(profile(extras=[("kubelet", "max-pods", "110")]))
    assert differences(d, other) == [{"setting": "extra_config", "current": ["kubelet.max-pods=110"],
                                      "desired": ["kubelet.max-pods=150"]}]


def test_stable_and_latest_are_not_compared():
    d = desired_settings(kubernetes_version="stable")
    assert differences(d, actual_settings(profile(version="v1.20.0"))) == []


def test_start_command_line_carries_every_setting_in_a_stable_order():
    d = desired_settings(extra_config=["kubelet.max-pods=150", "apiserver.v=2"], **TUTORIAL)
    argv = start_argv("/usr/local/bin/minikube", "istio", d, start_args=["--addons=ingress"], wait_timeout=360)
    assert command_line(argv) == (
        "/usr/local/bin/minikube start -p istio --driver=docker --container-runtime=docker "
        "--kubernetes-version=v1.34.0 --memory=8192 --cpus=4 --extra-config=apiserver.v=2 "
        "--extra-config=kubelet.max-pods=150 --wait-timeout=360s --addons=ingress")


def test_command_line_quotes_what_a_shell_would_split():
    assert command_line(["minikube", "start", "--extra-config=apiserver.x=a b"]) == \
        "minikube start '--extra-config=apiserver.x=a b'"


def test_missing_cluster_is_created():
    p = plan("started", "minikube", desired_settings(**TUTORIAL), None)
    assert p["action"] == "create"
    assert [command_line(c) for c in p["commands"]] == [
        "minikube start -p minikube --driver=docker --container-runtime=docker --kubernetes-version=v1.34.0 "
        "--memory=8192 --cpus=4"]


def test_running_cluster_with_the_same_settings_is_left_alone():
    p = plan("started", "minikube", desired_settings(**TUTORIAL), find_profile(listing(profile()), "minikube"))
    assert p == {"action": "none", "commands": [], "differences": [], "drift": False, "warnings": [],
                 "status": "running"}


def test_running_cluster_with_other_settings_is_reported_not_touched():
    entry = find_profile(listing(profile(memory=4096)), "minikube")
    p = plan("started", "minikube", desired_settings(**TUTORIAL), entry)
    assert p["action"] == "none" and p["commands"] == []
    assert p["drift"] is True
    assert "memory_mb is 4096, asked for 8192" in p["warnings"][0]
    assert "install_minikube_recreate" in p["warnings"][0]


def test_running_cluster_with_other_settings_is_recreated_when_asked():
    entry = find_profile(listing(profile(memory=4096)), "minikube")
    p = plan("started", "minikube", desired_settings(**TUTORIAL), entry, recreate=True)
    assert p["action"] == "recreate"
    assert [c[1] for c in p["commands"]] == ["delete", "start"]
    assert "--memory=8192" in p["commands"][1]


def test_recreate_does_nothing_to_a_cluster_that_already_matches():
    entry = find_profile(listing(profile()), "minikube")
    assert plan("started", "minikube", desired_settings(**TUTORIAL), entry, recreate=True)["commands"] == []


def test_running_cluster_that_is_not_the_current_context_gets_it_back():
    entry = find_profile(listing(profile(active_context=False)), "minikube")
    p = plan("started", "minikube", desired_settings(**TUTORIAL), entry)
    assert p["action"] == "set-context"
    assert p["commands"] == [["minikube", "update-context", "-p", "minikube"]]


def test_stopped_cluster_is_started_with_its_settings():
    entry = find_profile(listing(profile(status="Stopped")), "minikube")
    p = plan("started", "minikube", desired_settings(**TUTORIAL), entry)
    assert p["action"] == "start"
    assert "--memory=8192" in p["commands"][0]


def test_stopped_cluster_with_other_settings_restarts_as_it_was_and_reports_it():
    entry = find_profile(listing(profile(status="Stopped", version="v1.33.0")), "minikube")
    p = plan("started", "minikube", desired_settings(**TUTORIAL), entry)
    assert p["commands"] == [["minikube", "start", "-p", "minikube"]]
    assert p["drift"] is True


def test_paused_cluster_is_unpaused():
    entry = find_profile(listing(profile(status="Paused")), "minikube")
    assert plan("started", "minikube", desired_settings(), entry)["commands"] == [
        ["minikube", "unpause", "-p", "minikube"]]


@pytest.mark.parametrize("status,commands", [
    ("OK", [["minikube", "stop", "-p", "minikube"]]),
    ("Paused", [["minikube", "stop", "-p", "minikube"]]),
    ("Stopped", []),
])
def test_stopped_state(status, commands):
    entry = find_profile(listing(profile(status=status)), "minikube")
    assert plan("stopped", "minikube", desired_settings(), entry)["commands"] == commands


def test_stopping_a_missing_cluster_changes_nothing_and_says_so():
    p = plan("stopped", "gone", desired_settings(), None)
    assert p["commands"] == [] and "does not exist" in p["warnings"][0]


@pytest.mark.parametrize("entry,commands", [
    (profile(), [["minikube", "delete", "-p", "minikube"]]),
    (profile(status="Stopped"), [["minikube", "delete", "-p", "minikube"]]),
    (None, []),
])
def test_absent_state(entry, commands):
    found = find_profile(listing(entry), "minikube") if entry else None
    assert plan("absent", "minikube", desired_settings(), found)["commands"] == commands


def test_unknown_state_is_refused():
    with pytest.raises(PlanError, match="started, stopped or absent"):
        plan("running", "minikube", desired_settings(), None)


def test_resources_less_than_the_profile_needs():
    d = desired_settings(memory="4g", cpus=2)
    problems = check_resources(d, host_memory_mb=32768, host_cpus=8, need_memory_mb=8192, need_cpus=4,
                               workload="Istio's demo profile")
    assert problems == ["memory 4096 MB is less than Istio's demo profile needs (8192 MB)",
                        "cpus 2 is fewer than Istio's demo profile needs (4)"]


def test_resources_more_than_the_host_has():
    d = desired_settings(memory="8g", cpus=4)
    assert check_resources(d, host_memory_mb=4096, host_cpus=2) == [
        "memory 8192 MB is more than this host has (4096 MB)", "cpus 4 is more than this host has (2)"]


def test_resources_unknown_or_unset_are_not_checked():
    assert check_resources(desired_settings(), host_memory_mb=1, host_cpus=1, need_memory_mb=8192, need_cpus=4) == []
    assert check_resources(desired_settings(memory="8g", cpus=4)) == []


@pytest.mark.parametrize("output,expected", [
    ("X Exiting due to PROVIDER_DOCKER_NOT_RUNNING: deadline exceeded", "running Docker engine"),
    ("X Exiting due to RSRC_INSUFFICIENT_CORES: Requested cpu count 4", "fewer resources"),
    ("X Exiting due to MK_NEW_THING: what", "MK_NEW_THING"),
    ("segfault", "minikube failed"),
    # What minikube v1.37.0 prints without a Docker engine: MINIKUBE_HOME is no reason code.
    ("  - MINIKUBE_HOME=/tmp/h\n* Using the docker driver\nX Exiting due to PROVIDER_DOCKER_NOT_RUNNING: \"docker "
     "version\" exit status 1", "running Docker engine on this host (PROVIDER_DOCKER_NOT_RUNNING)"),
    ("  - MINIKUBE_HOME=/tmp/h\nsomething else broke", "minikube failed"),
])
def test_failures_are_explained_by_minikube_reason_code(output, expected):
    assert expected in explain_failure(output)


# What minikube v1.37.0 lists after a `minikube start` that failed before it wrote a config.
BROKEN = {"Name": "t1", "Status": "", "Config": None, "Active": False, "ActiveKubeContext": False}


def test_a_profile_left_by_a_failed_start_is_started_over_with_the_settings():
    entry = find_profile(listing(invalid=[BROKEN]), "t1")
    assert status_of(entry) == "broken"
    p = plan("started", "t1", desired_settings(**TUTORIAL), entry)
    assert p["action"] == "create" and p["differences"] == [] and p["drift"] is False
    assert "--memory=8192" in p["commands"][0]
    assert "earlier start failed" in p["warnings"][0]


def test_a_profile_left_by_a_failed_start_is_deleted_on_absent_and_not_stopped():
    entry = find_profile(listing(invalid=[BROKEN]), "t1")
    assert plan("absent", "t1", desired_settings(), entry)["commands"] == [["minikube", "delete", "-p", "t1"]]
    assert plan("stopped", "t1", desired_settings(), entry)["commands"] == []


def test_profile_list_after_warning_lines_and_the_no_profile_answers():
    doc = '{"invalid": [], "valid": [{"Name": "minikube"}]}'
    assert parse_profile_list(0, "! a newer minikube is out\n" + doc, "")["valid"] == [{"Name": "minikube"}]
    assert parse_profile_list(85, "", "X Exiting due to MK_USAGE_NO_PROFILE") == {"valid": [], "invalid": []}
    assert parse_profile_list(0, '{"error": {"Message": "no profiles"}}', "") == {"valid": [], "invalid": []}
    with pytest.raises(RolloutsError) as err:
        parse_profile_list(1, "", "permission denied", "/opt/minikube")
    assert "`/opt/minikube profile list -o json` failed: permission denied" in str(err.value)
    assert err.value.result == {"rc": 1}
