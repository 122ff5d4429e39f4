"""The pure VirtualService route model: route choice, weight validation, minimal patches."""

import copy
import json

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import routes as R


def vs(http, ns="shop", rv="42"):
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "reviews", "namespace": ns, "resourceVersion": rv},
        "spec": {"hosts": ["reviews"], "http": http},
    }


def dest(subset, weight=None, host="reviews", **extra):
    entry = {"destination": {"host": host, "subset": subset}}
    if weight is not None:
        entry["weight"] = weight
    entry.update(extra)
    return entry


def candidate_route(stable=100, candidate=0, name="primary", **extra):
    route = {"name": name, "route": [dest("stable", stable), dest("candidate", candidate)]}
    route.update(extra)
    return route


# ---------------------------------------------------------------- hosts

@pytest.mark.parametrize("host,expected", [
    ("reviews", "reviews.shop.svc.cluster.local"),
    ("reviews.shop.svc.cluster.local", "reviews.shop.svc.cluster.local"),
    ("reviews.other", "reviews.other"),  # Istio expands only names without a dot
    ("*", "*"),
    ("*.example.com", "*.example.com"),
])
def test_resolve_host_expands_short_names_only(host, expected):
    assert R.resolve_host(host, "shop") == expected


def test_resolve_host_uses_the_cluster_domain():
    assert R.resolve_host("reviews", "shop", "corp.internal") == "reviews.shop.svc.corp.internal"


def test_host_namespace():
    assert R.host_namespace("reviews.shop.svc.cluster.local") == "shop"
    assert R.host_namespace("reviews.example.com") is None


def dr(host, subsets, ns="shop"):
    return {"metadata": {"name": "dr-" + host, "namespace": ns},
            "spec": {"host": host, "subsets": [{"name": s, "labels": {"version": s}} for s in subsets]}}


def test_subsets_for_host_resolves_the_destination_rule_host_in_its_own_namespace():
    rules = [dr("reviews", ["stable", "candidate"]), dr("ratings", ["v1"])]
    assert R.subsets_for_host(rules, "reviews.shop.svc.cluster.local") == {"stable", "candidate"}
    assert R.subsets_for_host(rules, "reviews.other.svc.cluster.local") is None


def test_subsets_for_host_prefers_exact_over_wildcard():
    rules = [dr("*.shop.svc.cluster.local", ["wild"]), dr("reviews.shop.svc.cluster.local", ["exact"])]
    assert R.subsets_for_host(rules, "reviews.shop.svc.cluster.local") == {"exact"}
    assert R.subsets_for_host(rules, "ratings.shop.svc.cluster.local") == {"wild"}


# ---------------------------------------------------------------- route selection

def test_select_route_by_name():
    http = [{"name": "a", "match": [{"uri": {"prefix": "/a"}}]}, {"name": "b"}]
    assert R.select_route(http, "b") == 1


def test_select_route_unknown_name_lists_the_routes():
    with pytest.raises(R.RouteError) as err:
        R.select_route([{"name": "a"}, {}], "zzz")
    assert err.value.param == "route"
    assert "'zzz'" in err.value.msg and "a, (unnamed route #1)" in err.value.msg


def test_select_route_duplicate_names_are_an_error():
    with pytest.raises(R.RouteError, match="2 HTTP routes are named 'a'"):
        R.select_route([{"name": "a"}, {"name": "a"}], "a")


def test_select_route_only_route():
    assert R.select_route([{"name": "x", "match": [{"uri": {"exact": "/"}}]}]) == 0


def test_select_route_default_route_among_matched_ones():
    http = [{"name": "m", "match": [{"headers": {"x": {"exact": "1"}}}]}, {"name": "d"}]
    assert R.select_route(http) == 1


def test_select_route_ambiguous_without_name():
    with pytest.raises(R.RouteError) as err:
        R.select_route([{"name": "a"}, {"name": "b"}])
    assert err.value.param == "route" and "2 without match" in err.value.msg
    with pytest.raises(R.RouteError, match="no default route"):
        R.select_route([{"match": [{}], "name": "a"}, {"match": [{}], "name": "b"}])


def test_select_route_empty():
    with pytest.raises(R.RouteError, match="no HTTP routes"):
        R.select_route([])


# ---------------------------------------------------------------- weight validation

def split(*pairs):
    return [{"subset": s, "weight": w} for s, w in pairs]


def test_normalize_split_fills_in_the_route_host():
    out = R.normalize_split(split(("stable", 90), ("candidate", 10)), candidate_route(), "shop")
    assert out == [("reviews", "reviews.shop.svc.cluster.local", "stable", 90),
                   ("reviews", "reviews.shop.svc.cluster.local", "candidate", 10)]


@pytest.mark.parametrize("weights,fragment", [
    ([("stable", 100), ("candidate", 10)], "add up to 110"),
    ([("stable", 50), ("candidate", 40)], "add up to 90"),
])
def test_weights_must_add_up_to_100(weights, fragment):
    with pytest.raises(R.RouteError) as err:
        R.normalize_split(split(*weights), candidate_route(), "shop")
    assert err.value.param == "destinations" and fragment in err.value.msg


@pytest.mark.parametrize("weight,fragment", [
    (101, "from 0 to 100, got 101"),
    (-1, "from 0 to 100, got -1"),
    (50.5, "integer"),
    ("50", "integer"),
    (True, "integer"),
    (None, "integer"),
])
def test_each_weight_is_an_integer_0_to_100(weight, fragment):
    with pytest.raises(R.RouteError) as err:
        R.normalize_split([{"subset": "stable", "weight": weight}, {"subset": "candidate", "weight": 0}],
                          candidate_route(), "shop")
    assert err.value.param == "destinations[0].weight"
    assert fragment in err.value.msg


def test_duplicate_destinations_are_an_error_even_when_spelled_differently():
    dup = [{"subset": "stable", "weight": 50},
           {"host": "reviews.shop.svc.cluster.local", "subset": "stable", "weight": 50}]
    with pytest.raises(R.RouteError) as err:
        R.normalize_split(dup, candidate_route(), "shop")
    assert err.value.param == "destinations[1]" and "destinations[0]" in err.value.msg


def test_subset_only_needs_a_single_existing_host():
    route = {"route": [dest("v1", 50, host="a"), dest("v1", 50, host="b")]}
    with pytest.raises(R.RouteError) as err:
        R.normalize_split(split(("v1", 100)), route, "shop")
    assert err.value.param == "destinations[0].host" and "several hosts (a, b)" in err.value.msg


def test_destination_needs_subset_or_host():
    with pytest.raises(R.RouteError, match="give subset, host, or both"):
        R.normalize_split([{"weight": 100}], candidate_route(), "shop")


def test_empty_split_is_an_error():
    with pytest.raises(R.RouteError, match="at least one"):
        R.normalize_split([], candidate_route(), "shop")


def test_redirect_routes_cannot_be_split():
    with pytest.raises(R.RouteError) as err:
        R.normalize_split(split(("stable", 100)), {"name": "r", "redirect": {"uri": "/x"}}, "shop")
    assert err.value.param == "route"


def test_missing_subsets():
    rules = [dr("reviews", ["stable"])]
    norm = R.normalize_split(split(("stable", 90), ("candidate", 10)), candidate_route(), "shop")
    problems = R.destination_problems(norm, lambda fqdn: True, lambda fqdn: R.subsets_for_host(rules, fqdn))
    assert problems == ["subset 'candidate' of reviews.shop.svc.cluster.local: not defined "
                        "(the DestinationRule defines stable)"]
    none = R.destination_problems(norm, lambda fqdn: True, lambda fqdn: None)
    assert len(none) == 2 and "no DestinationRule" in none[0]


def test_host_only_destinations_need_no_subset_but_an_existing_host():
    # Behaviour change: a host-only destination used to pass unchecked; its host must now exist.
    norm = [("a", "a.shop.svc.cluster.local", None, 100)]
    assert R.destination_problems(norm, lambda fqdn: True, lambda fqdn: None) == []
    problems = R.destination_problems(norm, lambda fqdn: False, lambda fqdn: None)
    assert problems == ["destinations[0].host 'a' (a.shop.svc.cluster.local): no such Service, and no ServiceEntry "
                        "for this host visible from the route's namespace"]


def test_a_missing_host_is_reported_once_without_its_subset():
    norm = [("typo", "typo.shop.svc.cluster.local", "stable", 100)]
    problems = R.destination_problems(norm, lambda fqdn: False, lambda fqdn: None)
    assert len(problems) == 1 and problems[0].startswith("destinations[0].host 'typo'")


@pytest.mark.parametrize("export_to,owner,client,visible", [
    (None, "a", "b", True), ([], "a", "b", True), (["*"], "a", "b", True), (["."], "a", "a", True),
    (["."], "a", "b", False), (["b"], "a", "b", True), (["c", "b"], "a", "b", True), (["c"], "a", "b", False),
    (["~"], "a", "a", False),
])
def test_exported_to(export_to, owner, client, visible):
    assert R.exported_to(export_to, owner, client) is visible


def test_lookup_order_is_client_then_service_then_root():
    fqdn = "reviews.backend.svc.cluster.local"
    assert R.lookup_namespaces("shop", fqdn) == ["shop", "backend", "istio-system"]
    assert R.lookup_namespaces("backend", fqdn) == ["backend", "istio-system"]
    assert R.lookup_namespaces("shop", "api.example.com", root_namespace="mesh") == ["shop", "mesh"]


def test_subsets_for_host_leaves_out_rules_not_exported_to_the_client():
    rule = dr("reviews", ["stable"])
    rule["metadata"]["namespace"] = "backend"
    rule["spec"]["host"] = "reviews.shop.svc.cluster.local"
    rule["spec"]["exportTo"] = ["."]
    fqdn = "reviews.shop.svc.cluster.local"
    assert R.subsets_for_host([rule], fqdn) == {"stable"}  # without a client: every rule counts
    assert R.subsets_for_host([rule], fqdn, client_namespace="shop") is None
    rule["spec"]["exportTo"] = ["shop"]
    assert R.subsets_for_host([rule], fqdn, client_namespace="shop") == {"stable"}


def test_service_entry_hosts_and_wildcards():
    entry = {"metadata": {"namespace": "istio-system"}, "spec": {"hosts": ["*.example.com", "db.internal"]}}
    assert R.service_entry_covers([entry], "api.example.com", "shop")
    assert R.service_entry_covers([entry], "db.internal", "shop")
    assert not R.service_entry_covers([entry], "example.org", "shop")
    entry["spec"]["exportTo"] = ["."]
    assert not R.service_entry_covers([entry], "db.internal", "shop")


def test_service_of_and_its_visibility():
    assert R.service_of("reviews.shop.svc.cluster.local") == ("shop", "reviews")
    assert R.service_of("api.example.com") is None
    svc = {"metadata": {"name": "reviews", "namespace": "shop",
                        "annotations": {R.SERVICE_EXPORT_TO_ANNOTATION: "."}}}
    assert R.service_visible(svc, "shop") and not R.service_visible(svc, "other")
    assert R.service_visible({"metadata": {"namespace": "shop"}}, "other")


def test_a_lone_destination_with_weight_0_gets_all_the_traffic_in_every_report():
    route = {"name": "p", "route": [{"destination": {"host": "reviews", "subset": "stable"}, "weight": 0}]}
    assert R.describe_route(route, 0, "shop")["weights"] == {"stable": 100}
    assert R.describe_route(route, 0, "shop")["destinations"][0]["weight"] == 100
    assert R.route_weights(route, "shop") == {"stable": 100}
    obj = vs([route])
    assert R.describe_virtual_service(obj)["routes"][0]["weights"] == {"stable": 100}
    p = plan(obj, [("stable", 50), ("candidate", 50)])
    assert p.before == {"stable": 100} and p.after == {"stable": 50, "candidate": 50}


# ---------------------------------------------------------------- plans and patches

def plan(obj, pairs, route=None):
    http = obj["spec"]["http"]
    index = R.select_route(http, route)
    norm = R.normalize_split(split(*pairs) if isinstance(pairs[0], tuple) else pairs, http[index],
                             obj["metadata"]["namespace"])
    return R.plan_split(obj, index, norm)


def test_plan_changes_only_weights():
    obj = vs([candidate_route()])
    p = plan(obj, [("stable", 90), ("candidate", 10)])
    assert p.ops == [
        {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 90},
        {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 10},
    ]
    assert p.before == {"stable": 100, "candidate": 0}
    assert p.after == {"stable": 90, "candidate": 10}
    assert p.difference.changed


def test_plan_same_weights_is_no_change():
    obj = vs([candidate_route(90, 10)])
    p = plan(obj, [("candidate", 10), ("stable", 90)])
    assert p.ops == [] and not p.difference.changed
    assert p.before == p.after == {"stable": 90, "candidate": 10}


def test_plan_lone_destination_without_weight_counts_as_100():
    obj = vs([{"name": "primary", "route": [{"destination": {"host": "reviews", "subset": "stable"}}]}])
    assert plan(obj, [("stable", 100)]).ops == []
    # With company it needs an explicit weight.
    p = plan(obj, [("stable", 100), ("candidate", 0)])
    assert p.ops == [
        {"op": "add", "path": "/spec/http/0/route/0/weight", "value": 100},
        {"op": "add", "path": "/spec/http/0/route/-",
         "value": {"destination": {"host": "reviews", "subset": "candidate"}, "weight": 0}},
    ]
    assert p.before == {"stable": 100} and p.after == {"stable": 100, "candidate": 0}


def test_plan_removes_unnamed_destinations_highest_index_first():
    obj = vs([{"name": "p", "route": [dest("a", 50), dest("b", 25), dest("c", 25)]}])
    p = plan(obj, [("b", 100)])
    assert p.ops == [
        {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 100},
        {"op": "remove", "path": "/spec/http/0/route/2"},
        {"op": "remove", "path": "/spec/http/0/route/0"},
    ]
    assert p.after_route["route"] == [dest("b", 100)]
    assert p.before == {"a": 50, "b": 25, "c": 25} and p.after == {"b": 100}


def test_plan_keeps_unknown_fields_of_destinations_and_route():
    route = candidate_route(name="primary", retries={"attempts": 3}, x_unknown={"keep": [1, 2]})
    route["route"][0]["headers"] = {"request": {"set": {"x-version": "stable"}}}
    route["route"][0]["destination"]["port"] = {"number": 9080}
    route["route"][1]["futureField"] = "kept"
    obj = vs([{"name": "other", "match": [{"uri": {"prefix": "/admin"}}], "route": [dest("stable")]}, route])
    p = plan(obj, [("stable", 75), ("candidate", 25)], route="primary")
    assert all(op["path"].startswith("/spec/http/1/route/") for op in p.ops)
    after = R.apply_patch(obj, p.ops)
    expected = copy.deepcopy(obj)
    expected["spec"]["http"][1]["route"][0]["weight"] = 75
    expected["spec"]["http"][1]["route"][1]["weight"] = 25
    assert after == expected
    # The other route and everything else are the very same JSON.
    assert json.dumps(after["spec"]["http"][0], sort_keys=True) == json.dumps(obj["spec"]["http"][0], sort_keys=True)


def test_plan_adds_a_route_list_where_there_is_none():
    obj = vs([{"name": "p"}])
    norm = R.normalize_split([{"host": "a", "weight": 100}], obj["spec"]["http"][0], "shop")
    p = R.plan_split(obj, 0, norm)
    assert p.ops == [{"op": "add", "path": "/spec/http/0/route",
                      "value": [{"destination": {"host": "a"}, "weight": 100}]}]


def test_plan_between_hosts_names_destinations_by_host():
    obj = vs([{"name": "p", "route": [{"destination": {"host": "blue"}, "weight": 100}]}])
    p = plan(obj, [{"host": "blue", "weight": 50}, {"host": "green", "weight": 50}])
    assert p.before == {"blue.shop.svc.cluster.local": 100}
    assert p.after == {"blue.shop.svc.cluster.local": 50, "green.shop.svc.cluster.local": 50}


def test_plan_matches_short_and_long_host_spellings():
    obj = vs([{"name": "p", "route": [dest("stable", 100, host="reviews.shop.svc.cluster.local"),
                                      dest("candidate", 0, host="reviews.shop.svc.cluster.local")]}])
    p = plan(obj, [{"host": "reviews", "subset": "stable", "weight": 0},
                   {"host": "reviews", "subset": "candidate", "weight": 100}])
    assert [op["op"] for op in p.ops] == ["replace", "replace"]


def test_guard_ops_test_resource_version_and_route_name():
    obj = vs([{"name": "a"}, {"name": "primary"}], rv="7")
    assert R.guard_ops(obj, 1) == [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": "7"},
        {"op": "test", "path": "/spec/http/1/name", "value": "primary"},
    ]
    obj = vs([{}], rv="7")
    assert R.guard_ops(obj, 0) == [{"op": "replace", "path": "/metadata/resourceVersion", "value": "7"}]


def test_apply_patch_test_op_failure():
    with pytest.raises(ValueError):
        R.apply_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])


def test_apply_patch_escaped_paths():
    doc = {"metadata": {"annotations": {"a/b": "1"}}}
    out = R.apply_patch(doc, [{"op": "replace", "path": "/metadata/annotations/a~1b", "value": "2"}])
    assert out["metadata"]["annotations"]["a/b"] == "2" and doc["metadata"]["annotations"]["a/b"] == "1"


# ---------------------------------------------------------------- description for assert gates

def test_describe_virtual_service():
    obj = vs([{"name": "admin", "match": [{"uri": {"prefix": "/admin"}}],
               "route": [{"destination": {"host": "reviews", "subset": "stable", "port": {"number": 9080}}}]},
              candidate_route(80, 20)])
    info = R.describe_virtual_service(obj)
    assert info["name"] == "reviews" and info["hosts"] == ["reviews"] and info["object"] is obj
    admin, primary = info["routes"]
    assert admin["default"] is False and admin["weights"] == {"stable": 100}
    assert admin["destinations"][0] == {"key": "stable", "host": "reviews", "subset": "stable",
                                        "port": 9080, "weight": 100}
    assert primary["default"] is True and primary["weights"] == {"stable": 80, "candidate": 20}


def test_destination_keys_disambiguate_shared_subset_names():
    keys = R.destination_keys([("a.x", "v1"), ("b.x", "v1"), ("c.x", None), ("a.x", "v2")])
    assert keys == ["a.x/v1", "b.x/v1", "c.x", "v2"]


def test_plan_refuses_a_route_that_names_a_destination_twice():
    obj = vs([{"name": "p", "route": [dest("stable", 50), dest("stable", 50, host="reviews.shop.svc.cluster.local")]}])
    with pytest.raises(R.RouteError) as err:
        plan(obj, [{"host": "reviews", "subset": "stable", "weight": 100}])
    assert err.value.param == "route" and "more than once" in err.value.msg


# ---------------------------------------------------------------- properties of plan_split

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

HOSTS = ["reviews", "ratings", "reviews.backend.svc.cluster.local", "api.example.com"]
SUBSETS = ["stable", "candidate", "v3", None]
# Anything a user may have in an object that traffic_split must keep: arbitrary JSON values.
JSON = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                    max_leaves=6)


@st.composite
def destination_entries(draw):
    identities = draw(st.lists(st.tuples(st.sampled_from(HOSTS), st.sampled_from(SUBSETS)), max_size=4, unique=True))
    entries = []
    for host, subset in identities:
        dest = {"host": host}
        if subset:
            dest["subset"] = subset
        if draw(st.booleans()):
            dest["port"] = {"number": draw(st.integers(1, 65535))}
        entry = {"destination": dest}
        if draw(st.booleans()):
            entry["weight"] = draw(st.integers(0, 100))
        if draw(st.booleans()):
            entry["headers"] = {"response": {"add": {"x-version": draw(st.text(max_size=5))}}}
        if draw(st.booleans()):
            entry["futureField"] = draw(JSON)
        entries.append(entry)
    return entries


@st.composite
def virtual_services(draw):
    count = draw(st.integers(1, 4))
    http = []
    for i in range(count):
        route = {"name": "r%d" % i}
        if draw(st.booleans()):
            route["match"] = [{"headers": {"x-tester": {"exact": draw(st.text(max_size=3))}}}]
        entries = draw(destination_entries())
        if entries or draw(st.booleans()):
            route["route"] = entries
        for key in ("retries", "timeout", "xUnknown"):
            if draw(st.booleans()):
                route[key] = draw(JSON)
        http.append(route)
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews", "namespace": "shop", "resourceVersion": "7",
                         "labels": draw(st.dictionaries(st.sampled_from(["team", "app"]), st.text(max_size=3)))},
            "spec": {"hosts": ["reviews"], "http": http, "extra": draw(JSON)}}


@st.composite
def splits(draw):
    identities = draw(st.lists(st.tuples(st.sampled_from(HOSTS), st.sampled_from(SUBSETS)), min_size=1, max_size=4,
                               unique=True))
    if len(identities) == 1:
        weights = [100]
    else:
        cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=len(identities) - 1, max_size=len(identities) - 1)))
        bounds = [0] + cuts + [100]
        weights = [bounds[i + 1] - bounds[i] for i in range(len(identities))]
    out = []
    for (host, subset), weight in zip(identities, weights):
        d = {"host": host, "weight": weight}
        if subset:
            d["subset"] = subset
        out.append(d)
    return out


def _identity_of(entry):
    dest = entry["destination"]
    return (R.resolve_host(dest["host"], "shop"), dest.get("subset"))


@settings(deadline=None, max_examples=300)
@given(virtual_services(), st.data(), splits())
def test_plan_changes_only_the_chosen_routes_destinations(obj, data, wanted):
    index = data.draw(st.integers(0, len(obj["spec"]["http"]) - 1))
    norm = R.normalize_split(wanted, obj["spec"]["http"][index], "shop")
    p = R.plan_split(obj, index, norm)
    after = R.apply_patch(obj, p.ops)

    # Every byte outside spec.http[index].route is the same.
    outside_before, outside_after = json.loads(json.dumps(obj)), json.loads(json.dumps(after))
    outside_before["spec"]["http"][index].pop("route", None)
    outside_after["spec"]["http"][index].pop("route", None)
    assert json.dumps(outside_after, sort_keys=True) == json.dumps(outside_before, sort_keys=True)
    assert all(op["path"].startswith("/spec/http/%d/route" % index) for op in p.ops)

    # The route sends exactly the requested split, as Istio reads weights.
    entries = after["spec"]["http"][index]["route"]
    got = dict(zip([_identity_of(e) for e in entries], R.effective_weights(entries)))
    assert got == dict(((R.resolve_host(d["host"], "shop"), d.get("subset")), d["weight"]) for d in wanted)

    # Kept destinations keep everything but their weight.
    old = dict((_identity_of(e), e) for e in obj["spec"]["http"][index].get("route") or [])
    for entry in entries:
        before = old.get(_identity_of(entry))
        if before is not None:
            assert dict(entry, weight=None) == dict(before, weight=None)

    # The plan reports what it does, and doing it again is no change.
    assert p.difference.changed is bool(p.ops) is (after != obj)
    # (Keys name a destination among those before and after together, so compare the shares.)
    assert sorted(p.after.values()) == sorted(got.values())
    again = R.plan_split(after, index, R.normalize_split(wanted, after["spec"]["http"][index], "shop"))
    assert again.ops == [] and not again.difference.changed
