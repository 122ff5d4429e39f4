"""Every role's meta/argument_specs.yml stays in step with its defaults/main.yml.

The roles are found by their argument specs (roles/*/meta/argument_specs.yml), so a new role is
covered without being listed here. A role may have several entry points (the private _common role's
is `binary`): their options together are what its defaults must match.
"""

import glob
import os

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
               for p in glob.glob(os.path.join(REPO, "roles", "*", "meta", "argument_specs.yml")))


def load(role, *path):
    full = os.path.join(REPO, "roles", role, *path)
    if not os.path.exists(full):
        return {}
    with open(full) as fh:
        return yaml.safe_load(fh) or {}


def options(role):
    out = {}
    for entry in load(role, "meta", "argument_specs.yml")["argument_specs"].values():
        out.update(entry.get("options") or {})
    return out


def test_the_roles_are_found():
    assert {"_common", "install_istio", "install_minikube"} <= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented_and_every_option_has_a_default(role):
    documented = options(role)
    defaults = load(role, "defaults", "main.yml")
    assert set(defaults) <= set(documented)
    # An option without a default must be one the caller has to give.
    assert [name for name, spec in documented.items() if name not in defaults and not spec.get("required")] == []


@pytest.mark.parametrize("role", ROLES)
def test_documented_defaults_are_the_real_ones(role):
    defaults = load(role, "defaults", "main.yml")
    for name, spec in options(role).items():
        if spec.get("required"):
            assert name not in defaults and "default" not in spec, name
        elif "default" in spec:
            assert spec["default"] == defaults[name] or str(spec["default"]) == str(defaults[name]), name
        else:
            # Only computed defaults are left out of the spec (it is templated when validated).
            assert "{{" in str(defaults[name]), name


@pytest.mark.parametrize("role", ROLES)
def test_variables_carry_the_role_prefix_and_internal_ones_an_underscore(role):
    for name in options(role):
        assert name.startswith(role + "_"), name
    for name in load(role, "defaults", "main.yml"):
        assert name.startswith(role + "_"), name
    for name in load(role, "vars", "main.yml"):
        assert name.startswith("_" + role + "_"), name


@pytest.mark.parametrize("role", ROLES)
def test_choices_include_the_default(role):
    for name, spec in options(role).items():
        if "choices" in spec and "default" in spec:
            assert spec["default"] in spec["choices"], name
