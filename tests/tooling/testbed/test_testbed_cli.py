"""The test bed's own promises: `up` twice is fine, `down` leaves nothing running, a taken port
is named in a clear error before anything starts. Each test runs a second, private test bed
(its own state directory and Prometheus port) beside the one the suite uses."""

import os
import socket
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TESTBED = os.path.join(REPO, "tools", "testbed", "testbed")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_testbed(cluster, tmp_path):
    if not cluster["testbed"]:
        pytest.skip("needs the local test bed's binaries (the cluster under test is not the test bed)")
    env = dict(os.environ, ROLLOUTS_TESTBED_STATE=str(tmp_path / "state"),
               ROLLOUTS_TESTBED_PROMETHEUS_PORT=str(free_port()))

    def testbed(*args):
        return subprocess.run([TESTBED] + list(args), env=env, capture_output=True, text=True, timeout=600,
                              check=False)

    yield testbed, env
    testbed("down", "--force")


def processes_under(path):
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout.splitlines()[1:]
    return [line for line in out if os.path.join(path, "") in line and "testbed" not in line]


def test_up_twice_then_down_leaves_nothing_running(private_testbed):
    testbed, env = private_testbed
    state = env["ROLLOUTS_TESTBED_STATE"]
    # The user's (here: the suite's) kubeconfig must come out of up and down untouched.
    users_kubeconfig = open(env["KUBECONFIG"]).read()
    # A hold left behind by a machine that stopped must not keep a fresh test bed from stopping.
    os.makedirs(state)
    with open(os.path.join(state, "hold"), "w") as fh:
        fh.write("left over")
    assert testbed("running").returncode == 1
    first = testbed("up", "--no-istio")
    assert first.returncode == 0, first.stderr
    assert testbed("running").returncode == 0
    assert processes_under(state), "up started no process"
    second = testbed("up", "--no-istio")
    assert second.returncode == 0, second.stderr
    assert "cluster already running" in second.stderr
    down = testbed("down")
    assert down.returncode == 0, down.stderr
    assert processes_under(state) == []
    assert testbed("env").returncode != 0  # nothing left to point at
    assert open(env["KUBECONFIG"]).read() == users_kubeconfig


def test_a_taken_prometheus_port_is_named_and_nothing_starts(private_testbed):
    testbed, env = private_testbed
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(env["ROLLOUTS_TESTBED_PROMETHEUS_PORT"])))
        busy.listen(1)
        res = testbed("up", "--no-istio")
    assert res.returncode == 1
    assert "port 127.0.0.1:%s" % env["ROLLOUTS_TESTBED_PROMETHEUS_PORT"] in res.stderr
    assert "ROLLOUTS_TESTBED_PROMETHEUS_PORT" in res.stderr
    assert processes_under(env["ROLLOUTS_TESTBED_STATE"]) == []


def test_a_build_that_cannot_happen_names_the_component_and_the_version(private_testbed):
    testbed, env = private_testbed
    env["KUBE_VERSION"] = "v1.99.0"  # no such Kubernetes release
    res = testbed("build")
    assert res.returncode == 1
    assert "k8s.io/kubernetes@v1.99.0 (KUBE_VERSION)" in res.stderr
    assert "building the test bed's binaries failed" in res.stderr
