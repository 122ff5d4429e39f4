"""The local test bed: a real Kubernetes control plane with Istio and Prometheus.

    testbed deps     install the Debian packages the test bed needs (prometheus, hey, and
                     chromium, the headless browser the report test opens the HTML report in)
    testbed venv     create the project-local .venv with the pinned Python tools and
                     kubernetes.core (taken from the `ansible` wheel: Galaxy is not reachable)
    testbed venv --core 2.16
                     the same for the lowest ansible-core meta/runtime.yml allows, in .venv-core216:
                     the test requirements of .venv, with that ansible-core (no lint, molecule, docs)
    testbed build    build etcd, Kubernetes, kwok and istioctl from Go modules (cached)
    testbed up       all of the above, then start the cluster, install Istio, start Prometheus
    testbed down     stop every process `up` started
    testbed status   say what is running
    testbed env      print shell exports (KUBECONFIG, audit log, Prometheus URL, PATH ...)
    testbed hold R   mark the running test bed as in use by others (reason R): `down` refuses
    testbed release  lift the hold
    testbed running  exit 0 when it is up
    testbed cluster up NAME...
                     extra clusters beside the default one (fleet tests): each its own kwok cluster
                     (own ports, kubeconfig, audit log) with Istio installed as for the default one;
                     prints their facts as JSON. Needs the default test bed up (its binaries, Prometheus)
    testbed cluster down [NAME...]
                     stop those extra clusters (all of them without a name); the default one stays
    testbed cluster list
                     the extra clusters and their facts, as JSON

Everything is idempotent: `up` twice is fine. Nothing here is part of the collection.
Standard library only, so it runs before the virtual environment exists.
"""

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("ROLLOUTS_TESTBED_CACHE", os.path.expanduser("~/.cache/rollouts-istio-testbed"))
STATE = os.environ.get("ROLLOUTS_TESTBED_STATE", os.path.join(CACHE, "run"))
VENV = os.environ.get("ROLLOUTS_VENV", os.path.join(REPO, ".venv"))
COLLECTIONS = os.path.join(VENV, "collections")
CLUSTER = "rollouts-istio"
PROMETHEUS_PORT = int(os.environ.get("ROLLOUTS_TESTBED_PROMETHEUS_PORT", "19090"))
# binary -> Debian package. chromium: the report test opens the HTML report in it (headless).
DEBIAN_PACKAGES = {"prometheus": "prometheus", "hey": "hey", "chromium": "chromium"}
# The `ansible` community package carries kubernetes.core; its version pins kubernetes.core 6.2.0.
ANSIBLE_WHEEL = "ansible==12.3.0"
COLLECTION_PREFIXES = ("ansible_collections/kubernetes/core/", "ansible_collections/ansible/posix/")
PYTHON = os.environ.get("ROLLOUTS_PYTHON", "python3.11")


class TestbedError(Exception):
    """A failure with a message that says what to do about it."""


def log(msg):
    print("testbed: " + msg, file=sys.stderr, flush=True)


def run(cmd, env=None, check=True, capture=False, timeout=None):
    full_env = dict(os.environ, **(env or {}))
    try:
        res = subprocess.run(cmd, env=full_env, text=True, timeout=timeout, check=False,
                             stdout=subprocess.PIPE if capture else None,
                             stderr=subprocess.PIPE if capture else None)
    except FileNotFoundError:
        raise TestbedError("command not found: %s" % cmd[0])
    except subprocess.TimeoutExpired:
        raise TestbedError("timed out after %ss: %s" % (timeout, " ".join(cmd)))
    if check and res.returncode != 0:
        detail = ("\n" + (res.stderr or res.stdout or "").strip()[-3000:]) if capture else ""
        raise TestbedError("command failed (exit %d): %s%s" % (res.returncode, " ".join(cmd), detail))
    return res


@contextlib.contextmanager
def state_lock():
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def kube_version():
    """KUBE_VERSION from versions.env, resolved by bash so environment overrides apply exactly as in the build."""
    return run(["bash", "-c", 'source "$1"; echo "$KUBE_VERSION"', "_",
                os.path.join(HERE, "versions.env")], capture=True).stdout.strip()


# ---------------------------------------------------------------- deps / venv / build

def cmd_deps(_args=None):
    missing = [pkg for binary, pkg in DEBIAN_PACKAGES.items() if not shutil.which(binary)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise TestbedError("missing Debian packages %s; run as root or install them: apt-get install %s"
                           % (", ".join(missing), " ".join(missing)))
    log("installing Debian packages: " + " ".join(missing))
    run(["apt-get", "update", "-qq"])
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing,
        env={"DEBIAN_FRONTEND": "noninteractive"})
    # Debian's postinst may start its own Prometheus on :9090; the test bed runs its own.
    run(["bash", "-c", "command -v service >/dev/null && service prometheus stop || true"], check=False, capture=True)


def _file_digest(*paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


# The ansible-core releases the tests run under besides the main venv's: a venv of its own for each,
# next to .venv. Python 3.11 is a controller Python of all of them (2.16 takes 3.10-3.12).
CORE_PINS = {"2.16": "ansible-core==2.16.19"}
# Tools that need the main venv's ansible-core or are run once, with it: left out of the other venvs.
MAIN_VENV_ONLY = ("ansible-core", "ansible-lint", "molecule", "antsibull-changelog", "antsibull-docs")


def venv_dir(core=None):
    return VENV if not core else "%s-core%s" % (VENV, core.replace(".", ""))


def _requirements(core):
    """(the requirements file of the venv for `core` (None: the main venv), the digest that keys its stamp).

    The venv of another ansible-core takes requirements-dev.txt without MAIN_VENV_ONLY, so a test
    library added there reaches every venv, plus the pin of that ansible-core.
    """
    req = os.path.join(HERE, "requirements-dev.txt")
    digest = _file_digest(req, os.path.join(REPO, "requirements.txt")) + ANSIBLE_WHEEL + repr(COLLECTION_PREFIXES)
    if not core:
        return req, digest
    if core not in CORE_PINS:
        raise TestbedError("--core %s: no venv for it; known: %s" % (core, ", ".join(sorted(CORE_PINS))))
    lines = []
    with open(req) as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            name = re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower()
            if not line or name in MAIN_VENV_ONLY:
                continue
            if line.startswith("-r "):  # relative to requirements-dev.txt's folder
                line = "-r " + os.path.normpath(os.path.join(HERE, line[3:].strip()))
            lines.append(line)
    lines.append(CORE_PINS[core])
    generated = os.path.join(venv_dir(core), "requirements-generated.txt")
    os.makedirs(venv_dir(core), exist_ok=True)
    with open(generated, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return generated, digest + CORE_PINS[core]


def cmd_venv(args=None):
    core = getattr(args, "core", None)
    venv = venv_dir(core)
    req, want = _requirements(core)
    stamp = os.path.join(venv, ".rollouts-stamp")
    if os.path.exists(stamp) and open(stamp).read() == want:
        return
    python = shutil.which(PYTHON) or shutil.which("python3")
    if not os.path.exists(os.path.join(venv, "bin", "python")):
        log("creating virtual environment %s with %s" % (venv, python))
        run([python, "-m", "venv", venv])
    pip = [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    log("installing pinned Python tools into %s" % venv)
    run(pip + ["--upgrade", "pip"])
    run(pip + ["-r", req], env={"PIP_CONSTRAINT": ""})
    collections = os.path.join(venv, "collections")
    _install_collections(venv, collections)
    link = os.path.join(collections, "ansible_collections", "rollouts", "istio")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.islink(link) or os.path.exists(link):
        os.remove(link)
    os.symlink(REPO, link)
    with open(stamp, "w") as fh:
        fh.write(want)


def _install_collections(venv, collections):
    """kubernetes.core (and ansible.posix) without Galaxy: the `ansible` wheel on PyPI carries them."""
    wheels = os.path.join(CACHE, "wheels")
    os.makedirs(wheels, exist_ok=True)
    name = "ansible-%s-py3-none-any.whl" % ANSIBLE_WHEEL.split("==")[1]
    wheel = os.path.join(wheels, name)
    if not os.path.exists(wheel):
        log("fetching %s for kubernetes.core" % ANSIBLE_WHEEL)
        run([os.path.join(venv, "bin", "python"), "-m", "pip", "download", "-q", "--no-deps",
             "-d", wheels, ANSIBLE_WHEEL])
    # kubernetes.core is the collection's dependency; ansible.posix is for the tests only: its json
    # callback (ansible-core 2.19 moved `json` there) gives them machine-readable results.
    for prefix in COLLECTION_PREFIXES:
        shutil.rmtree(os.path.join(collections, prefix), ignore_errors=True)
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            if member.startswith(COLLECTION_PREFIXES):
                zf.extract(member, collections)


def cmd_build(_args=None):
    """Build (or find in the cache) every binary; returns {name: path}."""
    # stderr streams to the terminal (progress, and the log tail of a failed build).
    res = subprocess.run([os.path.join(HERE, "build-binaries.sh"), "all"], stdout=subprocess.PIPE, text=True,
                         check=False)
    if res.returncode != 0:
        raise TestbedError("building the test bed's binaries failed (see the message above)")
    dirs = [line.strip() for line in res.stdout.splitlines() if line.strip()]
    bins = {}
    for d in dirs:
        for name in os.listdir(d):
            path = os.path.join(d, name)
            if os.access(path, os.X_OK) and not name.startswith("."):
                bins[name] = path
    return bins


# ---------------------------------------------------------------- state

def state_file():
    return os.path.join(STATE, "testbed.json")


def read_state():
    try:
        with open(state_file()) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def write_state(state):
    with open(state_file(), "w") as fh:
        json.dump(state, fh, indent=2, sort_keys=True)
    with open(os.path.join(STATE, "env.sh"), "w") as fh:
        fh.write(env_exports(state))


def env_exports(state):
    path = [os.path.join(VENV, "bin")] + sorted({os.path.dirname(p) for p in state.get("bins", {}).values()})
    exports = {
        "KUBECONFIG": state.get("kubeconfig", ""),
        "ROLLOUTS_TESTBED_AUDIT_LOG": state.get("audit_log", ""),
        "ROLLOUTS_TESTBED_PROMETHEUS_URL": state.get("prometheus_url", ""),
        "ROLLOUTS_TESTBED_PROMETHEUS_TARGETS": state.get("prometheus_targets", ""),
        "ROLLOUTS_TESTBED_STATE": STATE,
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "PATH": ":".join(path) + ":$PATH",
    }
    return "".join('export %s="%s"\n' % kv for kv in exports.items())


def pid_alive(pid):
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, ValueError, TypeError):
        return False


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def kubectl(state, *args, check=True, timeout=120):
    return run([state["bins"]["kubectl"], "--kubeconfig", state["kubeconfig"]] + list(args),
               capture=True, check=check, timeout=timeout)


def apiserver_ready(state):
    if not state.get("kubeconfig") or not os.path.exists(state["kubeconfig"]):
        return False
    return kubectl(state, "get", "--raw", "/readyz", check=False, timeout=10).returncode == 0


def prometheus_ready(state):
    url = state.get("prometheus_url")
    if not url or not pid_alive(state.get("prometheus_pid")):
        return False
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


# ---------------------------------------------------------------- up

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
# Metadata for every request, so tests can count reads and writes per verb and resource.
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
"""

NODE = """\
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: kwok-node-0
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status:
  allocatable: {cpu: "32", memory: 128Gi, pods: "250"}
  capacity: {cpu: "32", memory: 128Gi, pods: "250"}
"""


def kwokctl_create(bins, version, name, workdir, kubeconfig, policy):
    """One kwok cluster `name` under `workdir`; kwokctl picks free ports for it."""
    env = {"KWOK_WORKDIR": workdir, "KWOK_KUBE_VERSION": version, "KWOK_RUNTIME": "binary"}
    # Every binary is named explicitly: without these flags kwokctl downloads release files.
    run([bins["kwokctl"], "create", "cluster", "--name", name, "--runtime", "binary",
         "--kube-apiserver-binary", bins["kube-apiserver"],
         "--kube-controller-manager-binary", bins["kube-controller-manager"],
         "--kube-scheduler-binary", bins["kube-scheduler"],
         "--etcd-binary", bins["etcd"], "--kwok-controller-binary", bins["kwok"],
         "--kube-authorization", "--kube-audit-policy", policy,
         # Without a kubelet to restart them, a controller-manager or scheduler that loses its lease
         # (the API server away for ~10 s, as the outage tests make it) would exit for good and leave
         # Deployments unavailable for every later test. One of each runs: no election is needed.
         "--extra-args", "kube-controller-manager=leader-elect=false",
         "--extra-args", "kube-scheduler=leader-elect=false",
         "--kubeconfig", kubeconfig, "--wait", "2m", "--quiet-pull"],
        env=env, capture=True, timeout=300)
    return os.path.join(workdir, "clusters", name, "logs", "audit.log")


def start_cluster(state, bins, version):
    kwok_dir = os.path.join(STATE, "kwok")
    policy = os.path.join(STATE, "audit-policy.yaml")
    with open(policy, "w") as fh:
        fh.write(AUDIT_POLICY)
    log("starting the Kubernetes %s control plane (kwokctl, binary runtime)" % version)
    state["audit_log"] = kwokctl_create(bins, version, CLUSTER, kwok_dir, state["kubeconfig"], policy)
    apply_yaml(state, NODE)
    kubectl(state, "wait", "--for=condition=Ready", "node/kwok-node-0", "--timeout=60s")


def apply_yaml(state, text):
    res = subprocess.run([state["bins"]["kubectl"], "--kubeconfig", state["kubeconfig"], "apply", "-f", "-"], check=False,
                         input=text, text=True, capture_output=True)
    if res.returncode != 0:
        raise TestbedError("kubectl apply failed: " + res.stderr.strip())


def install_istio(state):
    """Istio through the collection's own install_istio role (tools/testbed/install-istio.yml holds the
    test bed's values: no admission webhooks, since istiod is not a real process here and the API
    server would call it at Service addresses that lead off this machine)."""
    istioctl = state["bins"]["istioctl"]
    log("installing Istio (demo profile) with the install_istio role and istioctl " +
        open(os.path.join(os.path.dirname(istioctl), "VERSION")).read().strip())
    extra = {"testbed_kubeconfig": state["kubeconfig"], "testbed_istioctl": istioctl,
             "testbed_prometheus_url": state.get("prometheus_url", "")}
    run([os.path.join(VENV, "bin", "ansible-playbook"), "-i", "localhost,", os.path.join(HERE, "install-istio.yml"),
         "-e", json.dumps(extra)],
        env={"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_NOCOLOR": "1",
             "PATH": os.path.join(VENV, "bin") + os.pathsep + os.environ.get("PATH", "")},
        capture=True, timeout=900)
    for deploy in ("istiod", "istio-ingressgateway"):
        kubectl(state, "-n", "istio-system", "wait", "--for=condition=Available", "deploy/" + deploy, "--timeout=120s")


PROMETHEUS_CONFIG = """\
# Owned by the test bed. Targets are added by dropping JSON files into {targets}
# (the mesh simulator does so for its metrics endpoint).
global:
  scrape_interval: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{port}"]
  - job_name: testbed-targets
    file_sd_configs:
      - files: ["{targets}/*.json"]
        refresh_interval: 2s
"""


def start_prometheus(state):
    if prometheus_ready(state):
        return
    prom_dir = os.path.join(STATE, "prometheus")
    targets = os.path.join(prom_dir, "targets")
    os.makedirs(targets, exist_ok=True)
    config = os.path.join(prom_dir, "prometheus.yml")
    with open(config, "w") as fh:
        fh.write(PROMETHEUS_CONFIG.format(port=PROMETHEUS_PORT, targets=targets))
    logfile = open(os.path.join(prom_dir, "prometheus.log"), "a")
    proc = subprocess.Popen(
        [shutil.which("prometheus"), "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(prom_dir, "data"),
         "--web.listen-address=127.0.0.1:%d" % PROMETHEUS_PORT, "--web.enable-lifecycle",
         "--storage.tsdb.retention.time=1d"],
        stdout=logfile, stderr=logfile, start_new_session=True)
    state.update(prometheus_pid=proc.pid, prometheus_url="http://127.0.0.1:%d" % PROMETHEUS_PORT,
                 prometheus_targets=targets)
    for dummy in range(60):
        if prometheus_ready(state):
            log("Prometheus ready at " + state["prometheus_url"])
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise TestbedError("Prometheus did not become ready; see " + os.path.join(prom_dir, "prometheus.log"))


def cmd_up(args):
    t0 = time.time()
    cmd_deps()
    cmd_venv()
    bins = cmd_build()
    version = kube_version()
    with state_lock():
        state = read_state()
        # Checked before anything starts (start_prometheus relies on it), so a taken port leaves
        # nothing half up.
        if not prometheus_ready(state) and not port_free(PROMETHEUS_PORT):
            raise TestbedError("port 127.0.0.1:%d for Prometheus is taken by another process; free it or set "
                               "ROLLOUTS_TESTBED_PROMETHEUS_PORT" % PROMETHEUS_PORT)
        state.update(bins=bins, kube_version=version, kubeconfig=os.path.join(STATE, "kubeconfig"))
        if apiserver_ready(state):
            log("cluster already running")
        else:
            # A hold is about a running test bed; one left from a stopped machine means nothing.
            with contextlib.suppress(FileNotFoundError):
                os.remove(hold_file())
            stop_cluster(state, quiet=True)
            start_cluster(state, bins, version)
        # Prometheus first: the Istio install checks the Prometheus it is pointed at.
        start_prometheus(state)
        write_state(state)
        if not args.no_istio:
            have = kubectl(state, "-n", "istio-system", "get", "deploy", "istiod", check=False).returncode == 0
            if not have:
                install_istio(state)
    command = os.path.relpath(os.path.join(HERE, "testbed"))
    log("up in %.0fs; load it with: eval \"$(%s env)\"" % (time.time() - t0, command))
    cmd_status(args)


# ---------------------------------------------------------------- extra clusters (fleet)
# Each extra cluster lives under STATE/fleet/<name>/ (kwok work dir, kubeconfig, facts). The default
# cluster, its kubeconfig and `testbed env` are not touched by any of this.

EXTRA_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$")


def extra_dir(name):
    return os.path.join(STATE, "fleet", name)


def extra_cluster_name(name):
    return "%s-%s" % (CLUSTER, name)


def list_extra_clusters():
    root = os.path.join(STATE, "fleet")
    return sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n))) if os.path.isdir(root) else []


def extra_facts(name):
    try:
        with open(os.path.join(extra_dir(name), "cluster.json")) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def _check_extra_names(names):
    for name in names:
        if not EXTRA_NAME.match(name):
            raise TestbedError("cluster %r: a name is 1-22 lower-case letters, digits and -" % name)


def cmd_cluster(args):
    _check_extra_names(args.names)
    if args.action == "list":
        return {n: dict(_shown(extra_facts(n)), apiserver="ready" if apiserver_ready(extra_facts(n)) else "down")
                for n in list_extra_clusters()}
    with state_lock():
        state = read_state()
        if not state.get("bins"):
            raise TestbedError("the default test bed is not up (its binaries and Prometheus are the extra "
                               "clusters' too); run: tools/testbed/testbed up")
        if args.action == "down":
            stop_extra_clusters(state, args.names or list_extra_clusters())
            return {}
        if not args.names:
            raise TestbedError("cluster up: name the clusters to start, e.g. cluster up east west")
        return {n: _shown(start_extra_cluster(state, n)) for n in args.names}


def _shown(facts):
    return {k: v for k, v in facts.items() if k != "bins"}


def start_extra_cluster(state, name):
    """Start (or find running) the extra cluster `name` with Istio installed; returns its facts."""
    facts = extra_facts(name)
    if facts and apiserver_ready(facts):
        return facts
    stop_extra_clusters(state, [name], quiet=True)
    base = extra_dir(name)
    os.makedirs(base, exist_ok=True)
    policy = os.path.join(base, "audit-policy.yaml")
    with open(policy, "w") as fh:
        fh.write(AUDIT_POLICY)
    facts = {"name": name, "kwok_name": extra_cluster_name(name), "bins": state["bins"],
             "kubeconfig": os.path.join(base, "kubeconfig"),
             "prometheus_url": state.get("prometheus_url", ""),
             "prometheus_targets": state.get("prometheus_targets", "")}
    log("starting extra cluster %s (kwokctl, binary runtime)" % name)
    facts["audit_log"] = kwokctl_create(state["bins"], state["kube_version"], facts["kwok_name"],
                                        os.path.join(base, "kwok"), facts["kubeconfig"], policy)
    apply_yaml(facts, NODE)
    kubectl(facts, "wait", "--for=condition=Ready", "node/kwok-node-0", "--timeout=60s")
    install_istio(facts)
    with open(os.path.join(base, "cluster.json"), "w") as fh:
        json.dump(facts, fh, indent=2, sort_keys=True)
    return facts


def stop_extra_clusters(state, names, quiet=False):
    kwokctl = state.get("bins", {}).get("kwokctl")
    for name in names:
        base = extra_dir(name)
        if kwokctl and os.path.isdir(os.path.join(base, "kwok", "clusters", extra_cluster_name(name))):
            log("stopping extra cluster %s" % name)
            run([kwokctl, "delete", "cluster", "--name", extra_cluster_name(name),
                 "--kubeconfig", os.path.join(base, "kubeconfig")],
                env={"KWOK_WORKDIR": os.path.join(base, "kwok")}, capture=True, check=not quiet, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------- down / status / env

def stop_cluster(state, quiet=False):
    kwokctl = state.get("bins", {}).get("kwokctl")
    if kwokctl and os.path.isdir(os.path.join(STATE, "kwok", "clusters", CLUSTER)):
        # --kubeconfig names our own file: by default kwokctl edits $KUBECONFIG or ~/.kube/config,
        # which may belong to the user or to another test bed.
        run([kwokctl, "delete", "cluster", "--name", CLUSTER, "--kubeconfig", os.path.join(STATE, "kubeconfig")],
            env={"KWOK_WORKDIR": os.path.join(STATE, "kwok")},
            capture=True, check=not quiet, timeout=120)
        shutil.rmtree(os.path.join(STATE, "kwok", "clusters", CLUSTER), ignore_errors=True)


def hold_file():
    return os.path.join(STATE, "hold")


def cmd_hold(args):
    os.makedirs(STATE, exist_ok=True)
    with open(hold_file(), "w") as fh:
        fh.write(" ".join(args.reason) or "held")


def cmd_release(_args):
    with contextlib.suppress(FileNotFoundError):
        os.remove(hold_file())


def cmd_down(args):
    # Several people (or test runs) may share one test bed; a hold keeps it up for them.
    if os.path.exists(hold_file()) and not args.force:
        raise TestbedError("the test bed is held (%s); it keeps running. Use `testbed release` or `down --force`"
                           % open(hold_file()).read().strip())
    with state_lock():
        state = read_state()
        stop_extra_clusters(state, list_extra_clusters())
        stop_cluster(state)
        pid = state.get("prometheus_pid")
        if pid_alive(pid):
            os.killpg(int(pid), signal.SIGTERM)
            for dummy in range(50):
                if not pid_alive(pid):
                    break
                time.sleep(0.1)
            else:
                os.killpg(int(pid), signal.SIGKILL)
        left = leftover_processes()
        if left:
            raise TestbedError("processes still running after down:\n" + "\n".join(left))
        for name in ("testbed.json", "env.sh", "kubeconfig"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(STATE, name))
    log("down: nothing of the test bed is running")


def leftover_processes():
    """Processes whose command line points into this test bed's state (data dirs, configs, logs).
    Matching the state directory, not the whole cache, leaves other test beds on the machine be."""
    out = run(["ps", "-eo", "pid,args"], capture=True).stdout.splitlines()[1:]
    marker = os.path.join(STATE, "")
    return [line.strip() for line in out
            if marker in line and "testbed" not in line.split()[1] and str(os.getpid()) != line.split()[0]]


def cmd_status(_args):
    state = read_state()
    report = {
        "kube_version": state.get("kube_version"),
        "kubeconfig": state.get("kubeconfig"),
        "apiserver": "ready" if apiserver_ready(state) else "down",
        "audit_log": state.get("audit_log"),
        "prometheus": (state.get("prometheus_url") + " ready") if prometheus_ready(state) else "down",
    }
    if report["apiserver"] == "ready":
        nodes = kubectl(state, "get", "nodes", "-o", "name").stdout.split()
        report["nodes"] = nodes
        istio = kubectl(state, "-n", "istio-system", "get", "deploy", "-o",
                        "jsonpath={range .items[*]}{.metadata.name}={.status.availableReplicas}/{.spec.replicas} {end}",
                        check=False).stdout.split()
        report["istio-system"] = istio
        ver = os.path.join(os.path.dirname(state["bins"]["istioctl"]), "VERSION")
        report["istioctl"] = open(ver).read().strip() if os.path.exists(ver) else None
    print(json.dumps(report, indent=2))
    return report


def cmd_running(_args):
    """Exit 0 when the cluster and Prometheus are up (for scripts that must not stop what they did not start)."""
    state = read_state()
    if not (apiserver_ready(state) and prometheus_ready(state)):
        raise TestbedError("not running")


def cmd_env(_args):
    state = read_state()
    if not state:
        raise TestbedError("the test bed is not up; run: tools/testbed/testbed up")
    sys.stdout.write(env_exports(state))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="testbed", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("deps", "build", "status", "env", "release", "running"):
        sub.add_parser(name)
    sub.add_parser("venv").add_argument("--core", choices=sorted(CORE_PINS),
                                        help="the venv of this ansible-core release (default: the main .venv)")
    sub.add_parser("down").add_argument("--force", action="store_true", help="stop it even while held")
    sub.add_parser("hold").add_argument("reason", nargs="*")
    up = sub.add_parser("up")
    up.add_argument("--no-istio", action="store_true", help="start the cluster and Prometheus only")
    extra = sub.add_parser("cluster", help="extra clusters beside the default one (fleet tests)")
    extra.add_argument("action", choices=["up", "down", "list"])
    extra.add_argument("names", nargs="*", help="names of the extra clusters (letters, digits, -)")
    args = parser.parse_args(argv)
    try:
        result = globals()["cmd_" + args.cmd](args)
        if args.cmd in ("build", "cluster"):
            print(json.dumps(result, indent=2, sort_keys=True))
    except TestbedError as exc:
        log("error: %s" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
