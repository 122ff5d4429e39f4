"""The present / absent flow of gateway, destination_rule and virtual_service, against an in-memory API."""

from ansible_collections.rollouts.istio.plugins.module_utils._flows.ensure_object import desired_object, ensure
from support.fake_istio import FakeApi


def gateway(**spec):
    return desired_object("Gateway", "gw", "shop", dict({"servers": [{"hosts": ["*"], "port": {"number": 80}}]}, **spec))


def test_create_writes_without_a_dry_run():
    api = FakeApi()
    result = ensure(api, gateway(), want_diff=True)
    assert result["changed"] and api.calls == [("get", "Gateway"), ("apply", "Gateway")]
    assert result["diff"]["before"] == {} and result["diff"]["after"]["spec"]["servers"]


def test_create_in_check_mode_dry_runs():
    api = FakeApi()
    result = ensure(api, gateway(), check_mode=True)
    assert result["changed"] and api.calls == [("get", "Gateway"), ("apply-dry", "Gateway")]
    assert not api.objects


def test_unchanged_object_is_not_written_and_server_defaults_do_not_count():
    api = FakeApi(defaults={"selector": {"istio": "ingressgateway"}})
    ensure(api, gateway())
    api.calls = []
    result = ensure(api, gateway())
    assert not result["changed"] and result["changes"] == []
    assert api.calls == [("get", "Gateway"), ("apply-dry", "Gateway")]


def test_update_writes_and_reports_the_changed_fields():
    api = FakeApi()
    ensure(api, gateway())
    api.calls = []
    result = ensure(api, gateway(selector={"app": "edge"}), want_diff=True)
    assert result["changed"] and api.calls == [("get", "Gateway"), ("apply", "Gateway")]
    assert result["changes"] == [{"path": "spec.selector", "before": None, "after": {"app": "edge"}}]
    assert "selector" not in result["diff"]["before"]["spec"]


def test_absent():
    api = FakeApi()
    ensure(api, gateway())
    result = ensure(api, gateway(), state="absent", check_mode=True, want_diff=True)
    assert result["changed"] and result["diff"]["after"] == {} and api.objects
    assert ensure(api, gateway(), state="absent")["changed"] and not api.objects
    api.calls = []
    assert not ensure(api, gateway(), state="absent")["changed"]
    assert api.calls == [("get", "Gateway")]
