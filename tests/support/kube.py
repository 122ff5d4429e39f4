"""Small conveniences for tests that talk to the cluster under test."""

import subprocess
import time


def kubectl(*args, input=None, check=True):
    """kubectl against the cluster under test (the `cluster` fixture sets KUBECONFIG and PATH)."""
    proc = subprocess.run(["kubectl"] + list(args), input=input, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("kubectl %s failed: %s" % (" ".join(args), proc.stderr))
    return proc


def wait_for(predicate, timeout=60, step=0.5):
    """Poll until predicate() is truthy or the timeout passes; returns its last value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def deployment_available(k8s, namespace, name):
    deploy = k8s.resources.get(api_version="apps/v1", kind="Deployment").get(name=name, namespace=namespace)
    conds = {c["type"]: c["status"] for c in (deploy.status.conditions or [])}
    return conds.get("Available") == "True"
