"""The install_minikube role with the real minikube binary (built from its Go module by
tools/testbed/build-minikube.sh), served over HTTP on loopback as a release would be.

A real `minikube start` needs a VM or a container engine, which these machines do not have: the
tests cover everything up to it (install, checksum, version, idempotency, the planned command
lines in check mode, reading real profiles) and that the start fails with minikube's own reason.
None of them needs a cluster.
"""

import glob
import json
import os
import shutil
import subprocess

import pytest

from support.ansible_run import run_play
from support.roles import PLAY_ENV, changed_tasks, failure, sha256_of, task

ROLE = "rollouts.istio.install_minikube"
CACHE = os.environ.get("ROLLOUTS_TESTBED_CACHE", os.path.expanduser("~/.cache/rollouts-istio-testbed"))
VERSION = "v1.37.0"


@pytest.fixture(scope="module")
def minikube():
    path = os.environ.get("ROLLOUTS_MINIKUBE") or os.path.join(CACHE, "bin", "minikube-" + VERSION, "minikube")
    if not os.access(path, os.X_OK):
        pytest.skip("no minikube binary at %s: build it with tools/testbed/build-minikube.sh" % path)
    return path


@pytest.fixture(scope="module")
def kubectl_binary():
    found = sorted(glob.glob(os.path.join(CACHE, "bin", "kubernetes-*", "kubectl"))) or [shutil.which("kubectl")]
    path = found[-1]
    if not path:
        pytest.skip("no kubectl binary (the test bed builds one)")
    out = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, text=True, check=True)
    return {"path": path, "version": json.loads(out.stdout)["clientVersion"]["gitVersion"]}


@pytest.fixture
def dirs(tmp_path):
    d = {name: tmp_path / name for name in ("bin", "cache", "home")}
    return d


@pytest.fixture
def release(http_dir, minikube):
    """minikube served like a release: the binary and its .sha256 (only the hash, as minikube publishes)."""
    root, base = http_dir
    name = "minikube-linux-amd64"
    os.symlink(minikube, root / name)
    (root / (name + ".sha256")).write_text(sha256_of(minikube) + "\n")
    return {"url": "%s/%s" % (base, name), "sha256": sha256_of(minikube), "root": root, "base": base}


def role_vars(dirs, **extra):
    v = dict(install_minikube_bin_dir=str(dirs["bin"]), install_minikube_cache_dir=str(dirs["cache"]),
             install_minikube_home=str(dirs["home"]), install_minikube_kubeconfig=str(dirs["home"] / "kubeconfig"),
             install_minikube_kubectl_install=False, install_minikube_state="absent",
             install_minikube_profile="rt", install_minikube_memory="2048", install_minikube_cpus=2,
             install_minikube_istio_profile="minimal")
    v.update(extra)
    return v


def play(check=False, **role_vars_):
    return run_play([], roles=[{"role": ROLE, "vars": role_vars_}], check=check, env=PLAY_ENV)


def minikube_version(path):
    return subprocess.run([str(path), "version", "--short"], capture_output=True, text=True, check=True).stdout.strip()


# ---------------------------------------------------------------- install


def test_installs_from_http_verified_by_checksum_file_then_changes_nothing(dirs, release):
    v = role_vars(dirs, install_minikube_url=release["url"])  # checksum: the default <url>.sha256
    first = play(**v)
    assert first.rc == 0, failure(first)
    assert task(first, "Put in place minikube")["changed"] is True
    assert minikube_version(dirs["bin"] / "minikube") == VERSION
    assert sha256_of(dirs["bin"] / "minikube") == release["sha256"]
    second = play(**v)
    assert second.rc == 0, failure(second)
    assert changed_tasks(second) == []


def test_installs_from_a_local_file_with_a_sha256(dirs, minikube):
    res = play(**role_vars(dirs, install_minikube_src=minikube, install_minikube_checksum="sha256:" + sha256_of(minikube)))
    assert res.rc == 0, failure(res)
    assert minikube_version(dirs["bin"] / "minikube") == VERSION


def test_checksum_mismatch_is_refused_and_the_old_binary_stays(dirs, release):
    dirs["bin"].mkdir()
    old = dirs["bin"] / "minikube"
    old.write_text("#!/bin/sh\necho v1.36.0\n")
    res = play(**role_vars(dirs, install_minikube_url=release["url"], install_minikube_checksum="sha256:" + "a" * 64))
    assert res.rc != 0
    msg = failure(res)
    assert msg.startswith("install_minikube: checksum mismatch for " + release["url"])
    assert "was left as it was" in msg
    assert old.read_text() == "#!/bin/sh\necho v1.36.0\n"


def test_binary_of_another_version_is_refused_and_the_old_binary_stays(dirs, release):
    dirs["bin"].mkdir()
    old = dirs["bin"] / "minikube"
    old.write_text("old")
    res = play(**role_vars(dirs, install_minikube_url=release["url"], install_minikube_version="v1.36.0"))
    assert res.rc != 0
    assert "is minikube %s, not v1.36.0" % VERSION in failure(res)
    assert old.read_text() == "old"


def test_no_such_version_is_named(dirs, release):
    url = release["base"] + "/releases/v9.9.9/minikube-linux-amd64"
    res = play(**role_vars(dirs, install_minikube_url=url, install_minikube_version="v9.9.9",
                           install_minikube_checksum="sha256:" + "b" * 64))
    assert res.rc != 0
    assert "no such version: minikube v9.9.9 is not at %s (HTTP 404)" % url in failure(res)
    assert not (dirs["bin"] / "minikube").exists()


def test_kubectl_is_installed_pinned_and_verified_too(dirs, release, kubectl_binary):
    os.symlink(kubectl_binary["path"], release["root"] / "kubectl")
    (release["root"] / "kubectl.sha256").write_text(sha256_of(kubectl_binary["path"]))
    v = role_vars(dirs, install_minikube_url=release["url"], install_minikube_kubectl_install=True,
                  install_minikube_kubectl_url=release["base"] + "/kubectl",
                  install_minikube_kubectl_version=kubectl_binary["version"])
    res = play(**v)
    assert res.rc == 0, failure(res)
    assert sha256_of(dirs["bin"] / "kubectl") == sha256_of(kubectl_binary["path"])
    assert changed_tasks(play(**v)) == []


# ---------------------------------------------------------------- the cluster


def test_check_mode_prints_the_exact_command_lines_and_installs_nothing(dirs, release):
    v = role_vars(dirs, install_minikube_url=release["url"], install_minikube_state="started",
                  install_minikube_extra_config=["kubelet.max-pods=150"], install_minikube_wait_timeout=360)
    res = play(check=True, **v)
    assert res.rc == 0, failure(res)
    assert task(res, "Show the minikube command lines")["msg"] == (
        "Would run: %s/minikube start -p rt --driver=docker --container-runtime=docker --kubernetes-version=v1.34.0 "
        "--memory=2048 --cpus=2 --extra-config=kubelet.max-pods=150 --wait-timeout=360s" % dirs["bin"])
    assert not (dirs["bin"] / "minikube").exists()


def fabricate_profile(home, name, memory):
    """A stopped profile as minikube keeps it (its config.json), for the real `minikube profile list`."""
    path = home / ".minikube" / "profiles" / name
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({
        "Name": name, "Memory": memory, "CPUs": 2, "Driver": "docker",
        "KubernetesConfig": {"KubernetesVersion": "v1.34.0", "ClusterName": name, "ContainerRuntime": "docker",
                             "ExtraOptions": None},
        "Nodes": [{"Name": "", "IP": "192.168.49.2", "Port": 8443, "KubernetesVersion": "v1.34.0",
                   "ContainerRuntime": "docker", "ControlPlane": True, "Worker": True}],
    }))


def test_a_profile_with_other_settings_is_reported_and_restarted_as_it_was(dirs, release):
    v = role_vars(dirs, install_minikube_url=release["url"], install_minikube_state="started")
    assert play(**{**v, "install_minikube_state": "absent"}).rc == 0  # installs minikube
    fabricate_profile(dirs["home"], "rt", memory=4096)
    res = play(check=True, **v)
    assert res.rc == 0, failure(res)
    cluster = task(res, "Start, stop or delete the cluster")
    assert cluster["differences"] == [{"setting": "memory_mb", "current": 4096, "desired": 2048}]
    assert cluster["commands"] == ["%s/minikube start -p rt" % dirs["bin"]]
    assert any("memory_mb is 4096, asked for 2048" in w for w in cluster["warnings"])


def test_a_profile_with_the_same_settings_would_be_started_with_them(dirs, release):
    v = role_vars(dirs, install_minikube_url=release["url"], install_minikube_state="started")
    assert play(**{**v, "install_minikube_state": "absent"}).rc == 0
    fabricate_profile(dirs["home"], "rt", memory=2048)
    res = play(check=True, **v)
    cluster = task(res, "Start, stop or delete the cluster")
    assert cluster["differences"] == [] and cluster["changed"] is True
    assert cluster["commands"][0].startswith("%s/minikube start -p rt --driver=docker" % dirs["bin"])


def test_memory_below_what_the_istio_profile_needs_fails_before_anything_is_installed(dirs, release):
    res = play(**role_vars(dirs, install_minikube_url=release["url"], install_minikube_state="started",
                           install_minikube_istio_profile="demo"))
    assert res.rc != 0
    msg = failure(res)
    assert "not enough resources for profile 'rt'" in msg
    assert "memory 2048 MB is less than Istio's demo profile needs (8192 MB)" in msg
    assert not (dirs["bin"] / "minikube").exists()


def test_more_memory_than_the_host_has_fails_before_anything_is_installed(dirs, release):
    res = play(**role_vars(dirs, install_minikube_url=release["url"], install_minikube_state="started",
                           install_minikube_memory="4096g", install_minikube_istio_profile=""))
    assert res.rc != 0
    assert "memory 4194304 MB is more than this host has" in failure(res)
    assert not (dirs["bin"] / "minikube").exists()


def test_memory_that_is_not_a_size_is_named(dirs, release):
    res = play(**role_vars(dirs, install_minikube_url=release["url"], install_minikube_memory="lots"))
    assert res.rc != 0
    assert "memory must be a size such as 8192 (MB) or 8g, not 'lots'" in failure(res)


def docker_runs():
    return shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(docker_runs(), reason="a Docker engine runs here, so minikube start would really start")
def test_start_without_a_container_engine_fails_with_minikubes_reason_then_absent_cleans_up(dirs, release):
    v = role_vars(dirs, install_minikube_url=release["url"], install_minikube_state="started")
    res = play(**v)
    assert res.rc != 0
    msg = failure(res)
    assert "minikube start -p rt --driver=docker" in msg
    assert "the docker driver needs a running Docker engine on this host (PROVIDER_DOCKER_NOT_RUNNING)" in msg
    # The failed start leaves a profile without a config; absent deletes it, and then there is none.
    gone = play(**{**v, "install_minikube_state": "absent"})
    assert gone.rc == 0, failure(gone)
    assert task(gone, "Start, stop or delete the cluster")["commands"] == ["%s/minikube delete -p rt" % dirs["bin"]]
    listing = subprocess.run([str(dirs["bin"] / "minikube"), "profile", "list", "-o", "json"], capture_output=True,
                             text=True, env=dict(os.environ, MINIKUBE_HOME=str(dirs["home"])), check=False)
    assert json.loads(listing.stdout) == {"invalid": [], "valid": []}
    assert changed_tasks(play(**{**v, "install_minikube_state": "absent"})) == []


def test_stopping_a_profile_that_does_not_exist_changes_nothing(dirs, release):
    res = play(**role_vars(dirs, install_minikube_url=release["url"], install_minikube_state="stopped"))
    assert res.rc == 0, failure(res)
    cluster = task(res, "Start, stop or delete the cluster")
    assert cluster["changed"] is False and cluster["commands"] == []
