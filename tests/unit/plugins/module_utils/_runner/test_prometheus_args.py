"""The Prometheus connection options every Prometheus module shares, and the client they make."""

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._runner.prometheus_args import (
    PROMETHEUS_ARGS, client_from_params)
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import prometheus_argument_spec


def params(**kwargs):
    out = dict((k, v.get("default")) for k, v in PROMETHEUS_ARGS.items())
    out.update(url="http://127.0.0.1:9090")
    out.update(kwargs)
    return out


def test_secrets_are_no_log_and_url_falls_back_to_the_environment():
    spec = prometheus_argument_spec(query=dict(type="str"))
    assert spec["token"]["no_log"] and spec["password"]["no_log"]
    assert spec["url"]["fallback"][1] == ["PROMETHEUS_URL"]
    assert "query" in spec and "query" not in PROMETHEUS_ARGS
    spec["url"]["required"] = False
    assert PROMETHEUS_ARGS["url"]["required"] is True  # each module gets its own copy


def test_token_from_the_environment_only_without_explicit_credentials(monkeypatch):
    monkeypatch.setenv("PROMETHEUS_TOKEN", "from-env")
    assert client_from_params(params())._headers["Authorization"] == "Bearer from-env"
    assert client_from_params(params(token="given"))._headers["Authorization"] == "Bearer given"
    basic = client_from_params(params(username="u", password="p"))._headers["Authorization"]
    assert basic.startswith("Basic ")
    monkeypatch.delenv("PROMETHEUS_TOKEN")
    assert "Authorization" not in client_from_params(params())._headers


def test_connection_options_reach_the_client():
    c = client_from_params(params(timeout=2.5, retries=0))
    assert (c.url, c.timeout, c.retries) == ("http://127.0.0.1:9090", 2.5, 0)


@pytest.mark.parametrize("option,value,message", [
    ("timeout", float("nan"), "timeout: must be a finite number, got nan"),
    ("timeout", float("inf"), "timeout: must be a finite number, got inf"),
    ("timeout", 0.0, "timeout: must be more than 0, got 0.0"),
    ("timeout", -1.0, "timeout: must be more than 0"),
    ("retries", -1, "retries: must be at least 0, got -1"),
])
def test_a_timeout_or_retries_that_cannot_work_is_refused_naming_it(option, value, message):
    with pytest.raises(ParameterError) as err:
        client_from_params(params(**{option: value}))
    assert str(err.value).startswith(message) and err.value.param == option
