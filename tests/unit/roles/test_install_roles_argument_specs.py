"""meta/argument_specs.yml of install_minikube and install_istio stays in step with defaults/main.yml."""

import os

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = ["install_minikube", "install_istio"]


def load(role, *path):
    with open(os.path.join(REPO, "roles", role, *path)) as fh:
        return yaml.safe_load(fh)


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented_and_every_option_has_a_default(role):
    options = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load(role, "defaults", "main.yml")
    assert set(options) == set(defaults)


@pytest.mark.parametrize("role", ROLES)
def test_documented_defaults_are_the_real_ones(role):
    options = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load(role, "defaults", "main.yml")
    for name, spec in options.items():
        if "default" in spec:
            assert spec["default"] == defaults[name] or str(spec["default"]) == str(defaults[name]), name
        else:
            # Only computed defaults are left out of the spec (it is templated when validated).
            assert "{{" in str(defaults[name]), name


@pytest.mark.parametrize("role", ROLES)
def test_variables_carry_the_role_prefix_and_internal_ones_an_underscore(role):
    for name in load(role, "defaults", "main.yml"):
        assert name.startswith(role + "_"), name
    for name in load(role, "vars", "main.yml"):
        assert name.startswith("_" + role + "_"), name


@pytest.mark.parametrize("role", ROLES)
def test_choices_include_the_default(role):
    options = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        if "choices" in spec and "default" in spec:
            assert spec["default"] in spec["choices"], name
