"""rollouts.istio.virtual_service_info: routes and weights in a shape assert gates can use."""

from support.istio_objects import apply_yaml, get_raw, module_requests, play, rich_virtual_service


def info(namespace, **args):
    return {"name": "info", "rollouts.istio.virtual_service_info": dict(namespace=namespace, **args)}


def test_one_virtual_service(mesh_app, audit):
    ns = mesh_app
    mark = audit.mark()
    res = play([info(ns, name="reviews")] * 2, check=True)
    for task in res.tasks:
        assert task["changed"] is False and task["exists"] is True
    # Two runs, one read each, nothing written.
    assert module_requests(audit, mark, ns, writes=True) == []
    assert sorted(e.verb for e in module_requests(audit, mark, ns)) == ["get", "get"]
    vs = res[0]["virtual_services"][0]
    assert vs["name"] == "reviews" and vs["namespace"] == ns and vs["hosts"] == ["reviews"]
    assert vs["api_version"] == "networking.istio.io/v1"
    testers, primary = vs["routes"]
    assert testers["name"] == "testers" and testers["default"] is False and testers["weights"] == {"candidate": 100}
    assert testers["match"] == [{"headers": {"x-tester": {"exact": "yes"}}}]
    assert primary["default"] is True and primary["weights"] == {"stable": 100, "candidate": 0}
    assert primary["destinations"][0] == {"key": "stable", "host": "reviews", "subset": "stable", "port": 9080,
                                          "weight": 100}
    assert vs["routes_by_name"]["primary"] == primary
    raw = dict(vs["object"], metadata=dict(vs["object"]["metadata"]))
    raw["metadata"].pop("managedFields")  # kubectl leaves these out
    assert raw == get_raw(ns, "virtualservice", "reviews")


def test_follows_a_traffic_split(mesh_app):
    ns = mesh_app
    res = play([
        {"name": "split", "rollouts.istio.traffic_split": {"name": "reviews", "namespace": ns, "destinations": [
            {"subset": "stable", "weight": 75}, {"subset": "candidate", "weight": 25}]}},
        dict(info(ns, name="reviews"), register="vs"),
        {"name": "gate", "ansible.builtin.assert": {"that": [
            "vs.virtual_services[0].routes_by_name.primary.weights.candidate == 25"]}},
    ])
    assert not res[2].get("failed"), res[2]
    assert res[1]["virtual_services"][0]["routes_by_name"]["primary"]["weights"] == {"stable": 75, "candidate": 25}


def test_missing_and_many(namespace):
    res = play([info(namespace, name="nope"), info(namespace)])
    assert res[0]["exists"] is False and res[0]["virtual_services"] == []
    assert res[1]["exists"] is False and not res[1].get("failed")
    first = rich_virtual_service(namespace, "alpha")
    second = rich_virtual_service(namespace, "beta")
    second["metadata"]["labels"] = {"team": "search"}
    apply_yaml(namespace, [second, first])
    res = play([info(namespace), info(namespace, label_selector=["team=search"])])
    assert [v["name"] for v in res[0]["virtual_services"]] == ["alpha", "beta"]
    assert [v["name"] for v in res[1]["virtual_services"]] == ["beta"]


def test_a_lone_destination_with_weight_0_is_reported_as_all_the_traffic(namespace):
    vs = rich_virtual_service(namespace)
    vs["spec"]["http"][0]["route"][0]["weight"] = 0  # Istio sends this route's traffic to it all the same
    apply_yaml(namespace, [vs])
    testers = play([info(namespace, name="reviews")])[0]["virtual_services"][0]["routes_by_name"]["testers"]
    assert testers["weights"] == {"candidate": 100}
    assert testers["destinations"][0]["weight"] == 100
