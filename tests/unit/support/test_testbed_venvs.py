"""The venvs `tools/testbed/testbed venv [--core X]` makes: what each installs, and when it is remade."""

import importlib.util
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture
def testbed(tmp_path, monkeypatch):
    """testbed.py with its requirement files and venvs in tmp_path."""
    spec = importlib.util.spec_from_file_location("testbed_under_test", os.path.join(REPO, "tools", "testbed", "testbed.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    here = tmp_path / "tools" / "testbed"
    here.mkdir(parents=True)
    (tmp_path / "requirements.txt").write_text("kubernetes==37.0.2\n")
    (here / "requirements-dev.txt").write_text(
        "# pinned\n-r ../../requirements.txt\nansible-core==2.19.14\nansible-lint==26.10.1\nmolecule==26.10.0\n"
        "pytest==9.2.0  # the runner\nantsibull-changelog==0.35.0\nantsibull-docs==2.28.0\nhypothesis==6.0.0\n")
    monkeypatch.setattr(mod, "HERE", str(here))
    monkeypatch.setattr(mod, "REPO", str(tmp_path))
    monkeypatch.setattr(mod, "VENV", str(tmp_path / ".venv"))
    return mod


def test_the_main_venv_installs_requirements_dev_as_written(testbed, tmp_path):
    req, dummy = testbed._requirements(None)
    assert req == str(tmp_path / "tools" / "testbed" / "requirements-dev.txt")


def test_the_lowest_core_venv_takes_the_test_requirements_with_its_own_ansible_core(testbed, tmp_path):
    req, dummy = testbed._requirements("2.16")
    assert req == str(tmp_path / ".venv-core216" / "requirements-generated.txt")
    assert open(req).read().splitlines() == [
        "-r " + str(tmp_path / "requirements.txt"), "pytest==9.2.0", "hypothesis==6.0.0", "ansible-core==2.16.19"]


def test_each_venv_is_remade_when_its_requirements_change(testbed, tmp_path):
    main_before, core_before = testbed._requirements(None)[1], testbed._requirements("2.16")[1]
    assert main_before != core_before
    with open(str(tmp_path / "tools" / "testbed" / "requirements-dev.txt"), "a") as fh:
        fh.write("requests==2.32.0\n")
    assert testbed._requirements(None)[1] != main_before
    assert testbed._requirements("2.16")[1] != core_before


def test_an_unknown_core_is_refused_naming_the_option(testbed):
    with pytest.raises(testbed.TestbedError, match=r"--core 2\.9: no venv for it; known: 2\.16"):
        testbed._requirements("2.9")
