"""The collection as users get it: built with ansible-galaxy, installed into an empty
collections path, its plugins listed and documented from there (not from this checkout)."""

import json
import os
import subprocess
import tarfile

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    subprocess.run(["ansible-galaxy", "collection", "build", REPO, "--output-path", str(out)],
                   check=True, capture_output=True, text=True)
    meta = yaml.safe_load(open(os.path.join(REPO, "galaxy.yml")))
    tarball = out / ("%s-%s-%s.tar.gz" % (meta["namespace"], meta["name"], meta["version"]))
    assert tarball.exists()
    dest = tmp_path_factory.mktemp("collections")
    # --no-deps: kubernetes.core comes from the test environment, Galaxy is not reachable here.
    subprocess.run(["ansible-galaxy", "collection", "install", "--no-deps", "--force", "-p", str(dest), str(tarball)],
                   check=True, capture_output=True, text=True)
    return {"tarball": tarball, "path": dest}


def members(tarball):
    with tarfile.open(str(tarball)) as tf:
        return tf.getnames()


def test_tarball_ships_the_collection_and_leaves_tooling_out(installed):
    names = members(installed["tarball"])
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    assert "meta/runtime.yml" in names
    for tooling in ("tools/", "bench/", ".ci/", "Makefile", ".venv/", "tests/output/"):
        assert not [n for n in names if n == tooling.rstrip("/") or n.startswith(tooling)], tooling


def test_installed_collection_lists_every_module(installed):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed["path"]))
    proc = subprocess.run(["ansible-doc", "-l", "rollouts.istio", "-j"], capture_output=True, text=True, env=env,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    listed = set(json.loads(proc.stdout))
    shipped = {"rollouts.istio." + f[:-3] for f in os.listdir(os.path.join(REPO, "plugins", "modules"))
               if f.endswith(".py") and not f.startswith("_")}
    assert listed == shipped
    for name in sorted(shipped):
        doc = subprocess.run(["ansible-doc", "-j", name], capture_output=True, text=True, env=env, check=False)
        assert doc.returncode == 0, doc.stderr
        assert json.loads(doc.stdout)[name]["doc"]["short_description"]
