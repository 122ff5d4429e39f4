"""The rollout plan: every option of the shift_traffic role checked (errors name the role variable), the
steps of each strategy, the gate with its rendered PromQL, the release names and the summary."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.rollout_plan import PREVIEW_HEADER, check_match, plan

URL = "http://prometheus.istio-system:9090"
AB_MATCH = [{"headers": {"x-canary": {"exact": "insider"}}}]


def params(**changes):
    """The options as the module passes them: its defaults, unset ones None."""
    p = dict(param_prefix="shift_traffic_", name=None, app="podinfo", namespace="demo", service=None, stable="v1",
             candidate="v2", strategy="canary", weights=None, steps=None, step_weight=None, max_weight=None,
             iterations=1, interval="1m", threshold=2, metrics=None, vars={}, allow_no_metrics=False, match=None,
             mirror_percent=0.0, virtual_services=None, prometheus_url=URL, probe=None, analyze=True,
             approval="none", approval_mode="pause", on_failure="rollback", finalise="scale_down",
             finalise_delay="0s")
    p.update(changes)
    return p


def planned(**changes):
    return plan(params(**changes))["plan"]


def refusal(**changes):
    with pytest.raises(ParameterError) as err:
        plan(params(**changes))
    return err.value


# ---------------------------------------------------------------- defaults and the plan's shape

def test_the_defaults_are_a_canary_of_10_and_50_then_the_promotion():
    p = planned()
    assert p["strategy"] == "canary" and p["step_weights"] == [10, 50]
    assert [(s["step"], s["weight"], s["weights"]) for s in p["steps"]] == [
        (1, 10, {"stable": 90, "candidate": 10}), (2, 50, {"stable": 50, "candidate": 50})]
    assert p["promote"] == {"weights": {"stable": 0, "candidate": 100}, "approval_before": False}
    assert (p["approval"], p["approval_mode"], p["on_failure"], p["finalise"], p["finalise_delay"],
            p["finalise_delay_seconds"], p["analyze"]) == ("none", "pause", "rollback", "scale_down", "0s", 0, True)
    assert p["name"] == "podinfo" and p["service"] == "podinfo"
    assert p["virtual_services"] == [{"name": "podinfo", "namespace": "demo", "route": None}]
    assert all(s["match"] is None and s["mirror_percent"] == 0 and not s["approval_before"] for s in p["steps"])


def test_the_core_defaults_hold_when_options_are_left_out_entirely():
    bare = plan({"app": "podinfo", "namespace": "demo", "stable": "v1", "candidate": "v2", "prometheus_url": URL})
    assert bare == plan(params())


def test_the_gate_renders_the_builtin_metrics_for_the_candidate():
    analysis = planned(iterations=3, threshold=5, interval="30s")["analysis"]
    assert {k: analysis[k] for k in ("interval", "interval_seconds", "iterations", "threshold", "failed_checks_limit",
                                     "until_passed", "namespace", "workload", "service", "version")} == {
        "interval": "30s", "interval_seconds": 30, "iterations": 3, "threshold": 5, "failed_checks_limit": 5,
        "until_passed": True, "namespace": "demo", "workload": "podinfo-v2", "service": "podinfo", "version": "v2"}
    success, duration = analysis["metrics"]
    assert (success["name"], success["min"], success["max"]) == ("request-success-rate", 99.0, None)
    assert (duration["name"], duration["min"], duration["max"]) == ("request-duration", None, 500.0)
    for metric in (success, duration):
        assert 'destination_workload_namespace="demo",destination_workload=~"podinfo-v2"' in metric["query"]
        assert "[30s]" in metric["query"] and "${" not in metric["query"]
        # The keys prometheus_check's metrics take, so the role passes them as they are.
        assert set(metric) == {"name", "query", "min", "max", "interval", "min_requests"}


def test_every_step_carries_the_same_gate():
    p = planned(steps=[5, 10, 20, 100])
    assert [s["analysis"] for s in p["steps"]] == [p["analysis"]] * 3


def test_a_custom_metric_is_rendered_with_the_release_and_vars():
    metric = {"name": "restarts", "query": 'sum(x{ns="${namespace}",svc="${service}",v="${version}",c="${c}"})',
              "max": 0, "interval": "5m"}
    got = planned(metrics=[metric], vars={"c": "app"}, service="front")["analysis"]["metrics"][0]
    assert got["query"] == 'sum(x{ns="demo",svc="front",v="v2",c="app"})'
    assert (got["interval"], got["max"], got["min"]) == ("5m", 0.0, None)


def test_the_release_names_come_from_the_release_mapping():
    release = planned(service="podinfo-svc")["release"]
    assert release["stable"] == {"role": "stable", "version": "v1", "subset": "v1", "workload": "podinfo-v1",
                                 "labels": {"app": "podinfo", "version": "v1"}}
    assert release["candidate"]["workload"] == "podinfo-v2" and release["candidate"]["subset"] == "v2"
    assert (release["service"], release["host"], release["fqdn"]) == (
        "podinfo-svc", "podinfo-svc", "podinfo-svc.demo.svc.cluster.local")


# ---------------------------------------------------------------- strategies

def test_canary_steps_below_100_are_followed_by_the_promotion():
    assert planned(steps=[10, 30, 60])["step_weights"] == [10, 30, 60]
    # A last step of 100 is the promotion itself: it is not planned twice.
    assert planned(steps=[10, 30, 60, 100])["step_weights"] == [10, 30, 60]


@pytest.mark.parametrize("step_weight,max_weight,weights", [
    (10, 50, [10, 20, 30, 40, 50]), (20, None, [20, 40, 60, 80]), (30, 100, [30, 60, 90]), (50, 100, [50]),
    (25, 60, [25, 50]), (1, 3, [1, 2, 3]), (40, 0, [40, 80]),
])
def test_canary_step_weight_up_to_max_weight(step_weight, max_weight, weights):
    assert planned(step_weight=step_weight, max_weight=max_weight)["step_weights"] == weights


def test_a_step_weight_of_0_is_the_roles_unset():
    assert planned(step_weight=0, max_weight=0, steps=[20])["step_weights"] == [20]


def test_strategy_weights_takes_each_entry_as_a_step():
    p = planned(strategy="weights", weights=[0, 50, 20, 100])
    assert p["step_weights"] == [0, 50, 20]
    assert p["steps"][0]["weights"] == {"stable": 100, "candidate": 0}
    # steps (the role always passes its default) are not read by other strategies
    assert planned(strategy="weights", weights=[30], steps=[10, 50, 100])["step_weights"] == [30]


def test_blue_green_previews_by_header_then_switches():
    p = planned(strategy="blue_green", iterations=5)
    assert len(p["steps"]) == 1
    step = p["steps"][0]
    assert step["weights"] == {"stable": 100, "candidate": 0} and step["analysis"]["iterations"] == 5
    assert step["match"] == [{"headers": {PREVIEW_HEADER: {"exact": "v2"}}}]
    assert step["mirror_percent"] == 0


def test_blue_green_with_a_mirror_previews_by_mirror_instead_of_header():
    step = planned(strategy="blue_green", mirror_percent=25.0)["steps"][0]
    assert step["match"] is None and step["mirror_percent"] == 25.0 and step["weight"] == 0


def test_blue_green_with_a_match_of_its_own():
    match = [{"headers": {"cookie": {"regex": ".*preview=1.*"}}}]
    assert planned(strategy="blue_green", match=match)["steps"][0]["match"] == match


def test_ab_test_sends_the_matching_requests_to_the_candidate():
    p = planned(strategy="ab_test", match=AB_MATCH)
    assert [(s["weight"], s["match"]) for s in p["steps"]] == [(0, AB_MATCH)]


def test_mirror_percent_is_on_every_step():
    assert [s["mirror_percent"] for s in planned(mirror_percent=10, steps=[10, 20])["steps"]] == [10, 10]


def test_approval_before_promotion_and_before_every_step():
    p = planned(approval="before_promotion")
    assert [s["approval_before"] for s in p["steps"]] == [False, False] and p["promote"]["approval_before"]
    p = planned(approval="every_step", steps=[10, 20, 30])
    # the run itself starts step 1; every later step and the promotion wait
    assert [s["approval_before"] for s in p["steps"]] == [False, True, True] and p["promote"]["approval_before"]


def test_virtual_services_default_namespace_and_route():
    vs = planned(virtual_services=[{"name": "front"}, {"name": "mesh", "namespace": "edge", "route": "primary"}])
    assert vs["virtual_services"] == [{"name": "front", "namespace": "demo", "route": None},
                                      {"name": "mesh", "namespace": "edge", "route": "primary"}]


def test_analyze_auto_and_booleans_as_strings():
    assert planned(analyze="auto")["analyze"] == "auto"
    assert planned(analyze="false")["analyze"] is False
    assert planned(analyze="yes")["analyze"] is True


def test_no_metrics_when_allowed_needs_no_prometheus():
    p = planned(metrics=[], allow_no_metrics=True, prometheus_url=None, probe={"url": "http://gw"})
    assert p["analysis"]["metrics"] == [] and p["prometheus_url"] is None
    assert "probe http://gw" in plan(params(metrics=[], allow_no_metrics=True, probe={"url": "http://gw"}))["summary"][0]


def test_the_probe_is_checked_and_kept():
    probe = {"url": "http://localhost:8080", "host": "app.example.com", "requests": 200}
    assert planned(probe=probe)["probe"] == probe
    assert planned(probe={})["probe"] == {}


# ---------------------------------------------------------------- errors name the role variable

@pytest.mark.parametrize("changes,param,message", [
    ({"strategy": "rolling"}, "shift_traffic_strategy",
     "must be one of weights, canary, blue_green, ab_test, got 'rolling'"),
    ({"steps": [10, 50, 40]}, "shift_traffic_steps[2]", "must be above the step before (50), got 40"),
    ({"steps": [10, 10]}, "shift_traffic_steps[1]", "must be above the step before (10), got 10"),
    ({"steps": [10, 101]}, "shift_traffic_steps[1]", "must be an integer from 1 to 100, got 101"),
    ({"steps": [0, 50]}, "shift_traffic_steps[0]", "must be an integer from 1 to 100, got 0"),
    ({"steps": [True]}, "shift_traffic_steps[0]", "must be an integer from 1 to 100, got True"),
    ({"steps": []}, "shift_traffic_steps", "is empty: give the candidate's weight at each step, such as [10, 50, 100]"),
    ({"steps": [100]}, "shift_traffic_steps", "a step of 100 is the promotion itself, so nothing would be gated "
     "before it; give at least one step below 100, got [100]"),
    ({"step_weight": 20, "steps": [10, 50]}, "shift_traffic_step_weight",
     "give either shift_traffic_steps or shift_traffic_step_weight (with shift_traffic_max_weight), not both"),
    ({"step_weight": 101}, "shift_traffic_step_weight", "must be an integer from 1 to 100, got 101"),
    ({"step_weight": -5}, "shift_traffic_step_weight", "must be an integer from 1 to 100, got -5"),
    ({"step_weight": 60, "max_weight": 50}, "shift_traffic_step_weight",
     "must be at most shift_traffic_max_weight (50), got 60"),
    ({"step_weight": 10, "max_weight": 120}, "shift_traffic_max_weight", "must be an integer from 1 to 100, got 120"),
    ({"max_weight": 50}, "shift_traffic_max_weight",
     "is only used with shift_traffic_step_weight; set both, or give shift_traffic_steps"),
    ({"step_weight": 100}, "shift_traffic_step_weight", "a step of 100 is the promotion itself, so nothing would be "
     "gated before it; give a step_weight below 100"),
    ({"strategy": "weights"}, "shift_traffic_weights",
     "give the candidate's weight at each step for strategy weights, such as [50, 100], got None"),
    ({"strategy": "weights", "weights": [50, 101]}, "shift_traffic_weights[1]",
     "must be an integer from 0 to 100, got 101"),
    ({"strategy": "weights", "weights": [-1]}, "shift_traffic_weights[0]", "must be an integer from 0 to 100, got -1"),
    ({"strategy": "weights", "weights": [50, 100, 20]}, "shift_traffic_weights[1]",
     "100 is the promotion, so only the last step may be 100"),
    ({"strategy": "weights", "weights": [100]}, "shift_traffic_weights", "a step of 100 is the promotion itself, so "
     "nothing would be gated before it; give at least one step below 100, got [100]"),
    ({"weights": [20, 100]}, "shift_traffic_weights",
     "only strategy weights takes weights (strategy is canary); set shift_traffic_strategy to weights, "
     "or give shift_traffic_steps"),
    ({"strategy": "blue_green", "step_weight": 10}, "shift_traffic_step_weight",
     "only strategy canary takes step_weight and max_weight (strategy is blue_green)"),
    ({"match": AB_MATCH}, "shift_traffic_match",
     "only strategies ab_test and blue_green send requests by match; strategy canary shifts a share of all requests"),
    ({"strategy": "ab_test"}, "shift_traffic_match", "strategy ab_test needs the requests that go to the candidate, "
     "such as [{headers: {x-canary: {exact: insider}}}]"),
    ({"strategy": "ab_test", "match": ["x-canary"]}, "shift_traffic_match[0]",
     "must be an Istio HTTPMatchRequest (a non-empty dict), got 'x-canary'"),
    ({"strategy": "ab_test", "match": [{}]}, "shift_traffic_match[0]",
     "must be an Istio HTTPMatchRequest (a non-empty dict), got {}"),
    ({"iterations": 0}, "shift_traffic_iterations", "must be an integer of at least 1, got 0"),
    ({"iterations": 2.5}, "shift_traffic_iterations", "must be an integer of at least 1, got 2.5"),
    ({"threshold": 0}, "shift_traffic_threshold", "must be an integer of at least 1, got 0"),
    ({"interval": "1 minute"}, "shift_traffic_interval",
     "'1 minute' is not a duration such as 30s, 1m, 1m30s or 500ms"),
    ({"interval": "0s"}, "shift_traffic_interval", "must be longer than 0s, got '0s'"),
    ({"finalise_delay": "soon"}, "shift_traffic_finalise_delay",
     "'soon' is not a duration such as 30s, 1m, 1m30s or 500ms"),
    ({"metrics": [{"name": "request-duration", "min": 600, "max": 500}]}, "shift_traffic_metrics[0].min",
     "metric 'request-duration' has min 600 above max 500, so every value would fail it"),
    ({"metrics": [{"name": "latency", "max": 5}]}, "shift_traffic_metrics[0].query",
     "metric 'latency' is not built in (request-duration, request-success-rate), so it needs a query"),
    ({"metrics": [{"name": "request-duration"}]}, "shift_traffic_metrics[0]",
     "metric 'request-duration' has neither min nor max, so no value could fail it"),
    ({"metrics": [{"name": "x", "query": 'q{t="${team}"}', "max": 1}]}, "shift_traffic_metrics[0].query",
     "the query of metric 'x' uses ${team}, which is not set: add team to vars"),
    ({"metrics": []}, "shift_traffic_metrics", "is empty: a gate needs at least one metric; set "
     "shift_traffic_allow_no_metrics to gate on the probe and assertions alone"),
    ({"metrics": ["request-duration"]}, "shift_traffic_metrics[0]",
     "must be a dict such as {name: request-success-rate, min: 99}, got 'request-duration'"),
    ({"app": ""}, "shift_traffic_app", "give the app name (such as my-app), got ''"),
    ({"app": "Podinfo"}, "shift_traffic_app", "'Podinfo' is not a valid app name: use at most 63 lower-case letters, "
     "digits and '-', starting and ending with a letter or digit (it has upper-case letters)"),
    ({"namespace": "my_ns"}, "shift_traffic_namespace", "'my_ns' is not a valid namespace: use at most 63 lower-case "
     "letters, digits and '-', starting and ending with a letter or digit"),
    ({"name": "-x"}, "shift_traffic_name", "'-x' is not a valid rollout name: use at most 63 lower-case letters, "
     "digits and '-', starting and ending with a letter or digit"),
    ({"service": "a.b"}, "shift_traffic_service", "'a.b' is not a valid Service name: use at most 63 lower-case "
     "letters, digits and '-', starting and ending with a letter or digit"),
    ({"stable": "V1"}, "shift_traffic_stable", "'V1' is not a valid stable version: use at most 63 lower-case "
     "letters, digits and '-', starting and ending with a letter or digit (it has upper-case letters)"),
    ({"candidate": "v2.0"}, "shift_traffic_candidate", "'v2.0' is not a valid candidate version: use at most 63 "
     "lower-case letters, digits and '-', starting and ending with a letter or digit"),
    ({"candidate": ""}, "shift_traffic_candidate", "give the candidate version (such as my-app), got ''"),
    ({"candidate": "v1"}, "shift_traffic_candidate",
     "the candidate version 'v1' is the stable version; name a new version"),
    ({"virtual_services": [{"namespace": "demo"}]}, "shift_traffic_virtual_services[0].name",
     "every VirtualService entry needs the VirtualService's name"),
    ({"virtual_services": [{"name": "a"}, {"name": "b", "namespace": "Bad"}]},
     "shift_traffic_virtual_services[1].namespace", "'Bad' is not a valid namespace: use at most 63 lower-case "
     "letters, digits and '-', starting and ending with a letter or digit (it has upper-case letters)"),
    ({"virtual_services": [{"name": "a"}, {"name": "a", "namespace": "demo"}]}, "shift_traffic_virtual_services[1]",
     "lists demo/a a second time; every VirtualService moves once"),
    ({"virtual_services": [{"name": "a", "routes": "x"}]}, "shift_traffic_virtual_services[0]",
     "has 'routes'; an entry takes name, namespace and route"),
    ({"virtual_services": [{"name": "a", "route": ""}]}, "shift_traffic_virtual_services[0].route",
     "must be the name of an HTTP route, got ''"),
    ({"prometheus_url": "prometheus:9090"}, "shift_traffic_prometheus_url",
     "Prometheus' URL must start with http:// or https:// and name a host, got 'prometheus:9090'"),
    ({"prometheus_url": None}, "shift_traffic_prometheus_url",
     "give Prometheus' URL, such as http://localhost:9090 (or set PROMETHEUS_URL), for the gate's metrics"),
    ({"probe": {"url": "localhost:8080"}}, "shift_traffic_probe.url",
     "the probe's URL must start with http:// or https:// and name a host, got 'localhost:8080'"),
    ({"probe": {"host": "app.example.com"}}, "shift_traffic_probe.url",
     "give the URL the probe sends its requests to, such as http://localhost:8080, or leave shift_traffic_probe empty"),
    ({"probe": {"url": "http://gw", "requests": 0}}, "shift_traffic_probe.requests", "must be at least 1, got 0"),
    ({"probe": {"url": "http://gw", "qps": 5}}, "shift_traffic_probe", "has 'qps', which traffic_probe does not take "
     "(url, host, path, method, headers, body, requests, concurrency, timeout, validate_certs, version_header, "
     "version_regex, test, confidence, tolerance_pp, max_error_pct)"),
    ({"probe": "http://gw"}, "shift_traffic_probe",
     "must be a dict such as {url: http://gateway, host: app.example.com}, got 'http://gw'"),
    ({"mirror_percent": 101}, "shift_traffic_mirror_percent", "must be at most 100, got 101"),
    ({"mirror_percent": -1}, "shift_traffic_mirror_percent", "must be at least 0, got -1"),
    ({"mirror_percent": float("nan")}, "shift_traffic_mirror_percent", "must be a finite number, got nan"),
    ({"approval": "always"}, "shift_traffic_approval",
     "must be one of none, before_promotion, every_step, got 'always'"),
    ({"approval_mode": "wait"}, "shift_traffic_approval_mode", "must be one of pause, split, got 'wait'"),
    ({"on_failure": "ignore"}, "shift_traffic_on_failure", "must be one of rollback, freeze, gradual, got 'ignore'"),
    ({"finalise": "drop"}, "shift_traffic_finalise", "must be one of scale_down, delete, keep, got 'drop'"),
    ({"analyze": "maybe"}, "shift_traffic_analyze", "must be auto, true or false, got 'maybe'"),
])
def test_bad_input_is_refused_naming_the_role_variable(changes, param, message):
    err = refusal(**changes)
    assert (err.param, str(err)) == (param, "%s: %s" % (param, message))


def test_the_prefix_is_the_callers():
    err = refusal(param_prefix="", steps=[50, 40])
    assert str(err) == "steps[1]: must be above the step before (50), got 40"
    err = refusal(param_prefix="release_", candidate="v1")
    assert err.param == "release_candidate"


@pytest.mark.parametrize("match,param,message", [
    ([{"header": {"x": {"exact": "y"}}}], "m[0]", "'header' is not a field of an Istio HTTPMatchRequest"),
    ([{"headers": {"x": "y"}}], "m[0].headers.x", "must be an Istio StringMatch"),
    ([{"headers": {"x": {"exactly": "y"}}}], "m[0].headers.x", "must be an Istio StringMatch"),
    ([{"headers": {"x": {"exact": "y", "prefix": "z"}}}], "m[0].headers.x", "must be an Istio StringMatch"),
    ([{"headers": {"x": {"exact": 5}}}], "m[0].headers.x.exact", "must be a string, got 5"),
    ([{"headers": {}}], "m[0].headers", "must map names to StringMatches"),
    ([AB_MATCH[0], {"uri": "/api"}], "m[1].uri", "must be an Istio StringMatch"),
    ([], "m", "give the requests that go to the candidate"),
    ({"headers": {}}, "m", "give the requests that go to the candidate"),
])
def test_match_fields_and_string_matches_are_checked(match, param, message):
    with pytest.raises(ParameterError) as err:
        check_match(match, "m")
    assert err.value.param == param and message in str(err.value)


def test_a_full_match_passes():
    match = [{"uri": {"prefix": "/api"}, "method": {"exact": "GET"}, "queryParams": {"beta": {"exact": "1"}},
              "withoutHeaders": {"x-old": {"regex": ".+"}}, "sourceLabels": {"app": "web"}, "port": 80,
              "ignoreUriCase": True}]
    assert check_match(match, "m") == match


# ---------------------------------------------------------------- the summary

def test_the_summary_says_each_step_and_its_gate():
    summary = plan(params(iterations=1, threshold=2, analyze=False))["summary"]
    assert summary == [
        "step 1: stable v1 90 % / candidate v2 10 %; gate: request-success-rate >= 99, request-duration <= 500 ms, "
        "1 check every 1m (failed checks over the rollout: limit 2)",
        "step 2: stable v1 50 % / candidate v2 50 %; gate: request-success-rate >= 99, request-duration <= 500 ms, "
        "1 check every 1m (failed checks over the rollout: limit 2)",
        "promote: stable v1 0 % / candidate v2 100 %",
        "finalise: scale the stable Deployment podinfo-v1 down",
        "on a failed gate: roll back: stable v1 100 % on every VirtualService",
    ]


def test_the_summary_of_a_blue_green_with_approval_and_a_delay():
    summary = plan(params(strategy="blue_green", iterations=5, interval="30s", approval="before_promotion",
                          finalise="keep", finalise_delay="10m", on_failure="freeze", analyze="auto"))["summary"]
    assert summary[0] == (
        'step 1: stable v1 100 % / candidate v2 0 %, requests matching [{"headers":{"x-rollouts-istio-preview":'
        '{"exact":"v2"}}}] to the candidate; gate: request-success-rate >= 99, request-duration <= 500 ms, '
        "5 checks every 30s (failed checks over the rollout: limit 2), istioctl analyze (when istioctl is found)")
    assert summary[1:] == ["promote (after approval): stable v1 0 % / candidate v2 100 %",
                           "finalise: keep the stable Deployment podinfo-v1 running after 10m",
                           "on a failed gate: freeze: keep the weights where they are and stop"]


def test_the_summary_of_a_mirror_and_of_both_bounds():
    metric = {"name": "errors", "query": "sum(x)", "min": 0, "max": 2.5}
    line = plan(params(strategy="blue_green", mirror_percent=12.5, metrics=[metric]))["summary"][0]
    assert "a copy of 12.5 % of the traffic mirrored to the candidate" in line
    assert "gate: errors between 0 and 2.5, 1 check every 1m" in line


# ---------------------------------------------------------------- properties

@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=12, unique=True))
def test_any_increasing_canary_gates_each_step_below_100_once(steps):
    steps = sorted(steps)
    if steps == [100]:
        assert refusal(steps=steps).param == "shift_traffic_steps"
        return
    p = planned(steps=steps)
    assert p["step_weights"] == [w for w in steps if w < 100]
    for number, step in enumerate(p["steps"], 1):
        assert step["step"] == number
        assert step["weights"]["stable"] + step["weights"]["candidate"] == 100
        assert 0 < step["weight"] < 100


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=100), min_size=2, max_size=12))
def test_a_canary_that_does_not_increase_is_refused_at_the_first_offending_step(steps):
    first = next((i for i in range(1, len(steps)) if steps[i] <= steps[i - 1]), None)
    if first is None:
        return
    err = refusal(steps=steps)
    assert err.param == "shift_traffic_steps[%d]" % first
    assert str(err).endswith("must be above the step before (%d), got %d" % (steps[first - 1], steps[first]))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=99), st.integers(min_value=1, max_value=100))
def test_step_weight_makes_multiples_up_to_max_weight(step_weight, max_weight):
    if step_weight > max_weight:
        assert refusal(step_weight=step_weight, max_weight=max_weight).param == "shift_traffic_step_weight"
        return
    weights = planned(step_weight=step_weight, max_weight=max_weight)["step_weights"]
    assert weights == [w for w in range(step_weight, max_weight + 1, step_weight) if w < 100]
    assert all(w % step_weight == 0 for w in weights)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-5, max_value=105), min_size=1, max_size=8))
def test_strategy_weights_accepts_exactly_0_to_100_with_100_only_last(weights):
    valid = (all(0 <= w <= 100 for w in weights) and 100 not in weights[:-1] and any(w < 100 for w in weights))
    if valid:
        assert planned(strategy="weights", weights=weights)["step_weights"] == [w for w in weights if w < 100]
    else:
        assert refusal(strategy="weights", weights=weights).param.startswith("shift_traffic_weights")


def test_the_plan_is_a_pure_function_of_its_options():
    assert plan(params(steps=[5, 25])) == plan(params(steps=[5, 25]))


def test_a_check_needs_ten_requests_to_the_candidate_by_default_and_a_metric_may_say_otherwise():
    metrics = planned()["steps"][0]["analysis"]["metrics"]
    assert [m["min_requests"] for m in metrics] == [10, 10]
    own = planned(metrics=[{"name": "request-success-rate", "min": 99, "min_requests": 50}], min_requests=5)
    assert own["steps"][0]["analysis"]["metrics"][0]["min_requests"] == 50
    assert refusal(min_requests=-1).param == "shift_traffic_min_requests"


def test_the_first_check_waits_for_the_longest_metric_window():
    short = planned(interval="2s", metrics=[{"name": "request-success-rate", "min": 99, "interval": "10s"}])
    assert short["steps"][0]["analysis"]["initial_delay"] == "10s"
    assert short["steps"][0]["analysis"]["initial_delay_seconds"] == 10
    same = planned(interval="1m")
    assert same["steps"][0]["analysis"]["initial_delay"] == "1m"
