"""Specs built from the plain options of gateway, destination_rule and virtual_service."""

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import specs as S
from ansible_collections.rollouts.istio.plugins.module_utils._core.routes import RouteError


def test_gateway_spec_defaults():
    spec = S.gateway_spec(None, [{"hosts": ["a.example"], "port": {"number": 80, "protocol": None, "name": None},
                                  "tls": None}])
    assert spec == {"selector": {"istio": "ingressgateway"},
                    "servers": [{"port": {"number": 80, "name": "http-80", "protocol": "HTTP"}, "hosts": ["a.example"]}]}


def test_gateway_spec_tls_and_selector():
    spec = S.gateway_spec({"app": "gw"}, [{"hosts": ["*"], "port": {"number": 443, "protocol": "HTTPS", "name": "https"},
                                          "tls": {"mode": "SIMPLE", "credentialName": "c"}}])
    assert spec["selector"] == {"app": "gw"}
    assert spec["servers"][0] == {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["*"],
                                  "tls": {"mode": "SIMPLE", "credentialName": "c"}}


def test_destination_rule_spec_from_versions():
    spec = S.destination_rule_spec("reviews", [
        {"name": "stable", "version": "v1", "labels": None, "traffic_policy": None},
        {"name": "candidate", "version": "v2", "labels": {"track": "candidate"}, "traffic_policy": {"tls": {"mode": "ISTIO_MUTUAL"}}},
    ], traffic_policy={"loadBalancer": {"simple": "ROUND_ROBIN"}})
    assert spec == {
        "host": "reviews",
        "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}},
        "subsets": [{"name": "stable", "labels": {"version": "v1"}},
                    {"name": "candidate", "labels": {"track": "candidate", "version": "v2"},
                     "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}],
    }


def test_destination_rule_spec_custom_version_label():
    spec = S.destination_rule_spec("r", [{"name": "a", "version": "1"}], version_label="app.kubernetes.io/version")
    assert spec["subsets"] == [{"name": "a", "labels": {"app.kubernetes.io/version": "1"}}]


def test_virtual_service_spec():
    spec = S.virtual_service_spec(["reviews"], ["mesh"], [{
        "name": "primary", "match": None, "timeout": "5s", "retries": {"attempts": 2}, "fault": None, "mirror": None,
        "destinations": [{"host": "reviews", "subset": "stable", "port": 9080, "weight": 90},
                         {"host": "reviews", "subset": "candidate", "port": None, "weight": 10}]}])
    assert spec == {"hosts": ["reviews"], "gateways": ["mesh"], "http": [{
        "name": "primary", "timeout": "5s", "retries": {"attempts": 2},
        "route": [{"destination": {"host": "reviews", "subset": "stable", "port": {"number": 9080}}, "weight": 90},
                  {"destination": {"host": "reviews", "subset": "candidate"}, "weight": 10}]}]}


def test_weights_checked_on_every_route():
    ok = {"http": [{"route": [{"destination": {"host": "a"}}]},
                   {"route": [{"destination": {"host": "a"}, "weight": 30}, {"destination": {"host": "b"}, "weight": 70}]},
                   {"redirect": {"uri": "/"}}]}
    S.check_virtual_service_weights(ok)
    with pytest.raises(RouteError) as err:
        S.check_virtual_service_weights({"http": [{"name": "p", "route": [
            {"destination": {"host": "a"}, "weight": 100}, {"destination": {"host": "b"}, "weight": 10}]}]})
    assert err.value.param == "http[0]" and "add up to 110" in err.value.msg
    with pytest.raises(RouteError) as err:
        S.check_virtual_service_weights({"http": [{"route": [
            {"destination": {"host": "a"}, "weight": 100}, {"destination": {"host": "b"}}]}]}, "spec.http", "route")
    assert err.value.param == "spec.http[0].route[1].weight"
    with pytest.raises(RouteError):
        S.check_virtual_service_weights({"http": [{"route": [{"destination": {"host": "a"}, "weight": 101}]}]})


@pytest.mark.parametrize("params,param,fragment", [
    ({"name": "", "namespace": "shop"}, "name", "give the object name"),
    ({"name": "Reviews", "namespace": "shop"}, "name", "upper-case"),
    ({"name": "reviews", "namespace": "Shop"}, "namespace", "upper-case"),
    ({"name": "reviews", "namespace": "shop.prod"}, "namespace", "not a valid namespace"),
    ({"name": "reviews", "namespace": ""}, "namespace", "give the namespace"),
])
def test_object_names_are_checked_naming_the_option(params, param, fragment):
    with pytest.raises(RouteError) as err:
        S.check_object_names(params)
    assert err.value.param == param and fragment in err.value.msg


def test_object_names_that_are_fine_and_an_optional_name():
    S.check_object_names({"name": "reviews.v2", "namespace": "shop"})
    S.check_object_names({"name": None, "namespace": "shop"}, name_required=False)
    with pytest.raises(RouteError, match="give the object name"):
        S.check_object_names({"name": "", "namespace": "shop"}, name_required=False)
