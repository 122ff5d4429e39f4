"""The rollout_plan module: its option defaults are the core's, and its action returns the core's plan, unchanged."""

import yaml

from ansible_collections.rollouts.istio.plugins.module_utils._core import rollout_plan as core
from ansible_collections.rollouts.istio.plugins.modules import rollout_plan as module

REQUIRED = {"app": "podinfo", "namespace": "demo", "stable": "v1", "candidate": "v2"}


class FakeModule(object):
    def __init__(self, params):
        self.params = params
        self.check_mode = True


def spec_params(**given):
    """The params Ansible hands the action: every option, its default when not given."""
    params = dict((name, spec.get("default")) for name, spec in module.MODULE_SPEC.items())
    params.update(REQUIRED, **given)
    return params


def test_the_module_defaults_are_the_cores():
    for name, default in core.DEFAULTS.items():
        assert module.MODULE_SPEC[name].get("default") == default, name
    assert module.MODULE_SPEC["param_prefix"]["default"] == core.DEFAULT_PREFIX


def test_the_documented_options_are_the_spec():
    doc = yaml.safe_load(module.DOCUMENTATION)["options"]
    assert set(doc) == set(module.MODULE_SPEC)
    for name, spec in module.MODULE_SPEC.items():
        assert doc[name].get("default") == spec.get("default"), name
        assert doc[name]["type"] == spec["type"], name


def test_the_action_returns_the_plan_unchanged_in_check_mode():
    result = module.plan_rollout(FakeModule(spec_params(prometheus_url="http://prometheus:9090")))
    assert result["changed"] is False
    assert result["plan"] == core.plan(dict(REQUIRED, prometheus_url="http://prometheus:9090"))["plan"]
    assert result["summary"][0].startswith("step 1: stable v1 90 % / candidate v2 10 %")
