"""rollouts.istio.traffic_split's action plugin: where it runs the change, and that it returns the module's result.

The change runs against the in-memory API (tests/support/fake_istio.py); against the real API server,
through ansible-playbook, in tests/integration/istio_resources/test_traffic_split.py.
"""

import os
import subprocess
import sys
from unittest import mock

import pytest
from ansible.playbook.task import Task

from support.fake_istio import FakeApi, service

from ansible_collections.rollouts.istio.plugins.action import traffic_split as TS
from ansible_collections.rollouts.istio.plugins.module_utils._runner import split_task

SECRET = "s3cret-tok3n-77"


def vs():
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews", "namespace": "shop"},
            "spec": {"hosts": ["reviews"], "http": [
                {"name": "primary", "route": [
                    {"destination": {"host": "reviews", "subset": "stable"}, "weight": 100},
                    {"destination": {"host": "reviews", "subset": "candidate"}, "weight": 0}]}]}}


def dr():
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "reviews", "namespace": "shop"},
            "spec": {"host": "reviews", "subsets": [{"name": "stable"}, {"name": "candidate"}]}}


SPLIT = [{"subset": "stable", "weight": 90}, {"subset": "candidate", "weight": 10}]


def action(transport="local", become=False, async_val=0):
    task = Task()
    task.args = {}
    task.async_val = async_val
    connection = mock.MagicMock()
    connection.transport = transport
    play_context = mock.MagicMock()
    play_context.become = become
    plugin = TS.ActionModule(task, connection=connection, play_context=play_context, loader=None, templar=None,
                             shared_loader_obj=None)
    plugin._load_name = "rollouts.istio.traffic_split"
    return plugin


def args(**more):
    out = dict(name="reviews", namespace="shop", destinations=SPLIT, host="https://127.0.0.1:1", api_key=SECRET)
    out.update(more)
    return out


@pytest.mark.parametrize("transport,become,async_val,here", [
    ("local", False, 0, True),
    ("ssh", False, 0, False),
    ("local", True, 0, False),   # become: the module would run as another user
    ("local", False, 30, False),  # async: the module runs in the background, as asked
])
def test_the_change_runs_here_only_on_the_controller_as_its_user(transport, become, async_val, here):
    assert action(transport, become, async_val)._runs_on_controller() is here


def test_elsewhere_the_module_runs_as_a_module():
    plugin = action("ssh")
    plugin._task.args = args()
    with mock.patch.object(TS.ActionBase, "run", return_value={}), \
            mock.patch.object(plugin, "_execute_module", return_value={"changed": True}) as execute:
        assert plugin.run(task_vars={}) == {"changed": True}
    assert execute.call_args.kwargs["module_name"] == "rollouts.istio.traffic_split"
    assert execute.call_args.kwargs["module_args"] == plugin._task.args


def test_the_result_is_the_flows_with_the_invocation_and_no_secret():
    api = FakeApi([vs(), dr(), service()])
    out = action().split(args(), connect=lambda params: api)
    assert api.calls == [("get", "VirtualService"), ("get", "Service"), ("list", "DestinationRule"),
                         ("patch", "VirtualService")]
    assert out["changed"] is True and "failed" not in out
    assert out["before"] == {"stable": 100, "candidate": 0} and out["after"] == {"stable": 90, "candidate": 10}
    assert out["route"] == "primary" and out["attempts"] == 1 and "diff" not in out
    assert out["invocation"]["module_args"]["validate_destinations"] is True
    assert SECRET not in repr(out)


def test_the_same_again_writes_nothing():
    api = FakeApi([vs(), dr(), service()])
    action().split(args(), connect=lambda params: api)
    api.calls = []
    out = action().split(args(), connect=lambda params: api)
    assert out["changed"] is False
    assert [c for c in api.calls if c[0].startswith("patch")] == []


def test_check_mode_dry_runs_and_diff_shows_the_route():
    api = FakeApi([vs(), dr(), service()])
    out = action().split(args(), check_mode=True, diff=True, connect=lambda params: api)
    assert ("patch-dry", "VirtualService") in api.calls
    assert api.objects[("VirtualService", "shop", "reviews")]["metadata"]["resourceVersion"] == "1"
    assert out["changed"] is True and {"before", "after"} <= set(out["diff"])


@pytest.mark.parametrize("bad,option", [
    (dict(destinations=[{"subset": "stable", "weight": 90}]), "destinations"),
    (dict(name="Not_A_Name"), "name"),
    (dict(max_conflict_retries=-1), "max_conflict_retries"),
    (dict(root_namespace="Bad_NS"), "root_namespace"),
    (dict(destinations=[{"subset": "nope", "weight": 100}]), "destinations"),
])
def test_bad_input_names_the_option_and_writes_nothing(bad, option):
    api = FakeApi([vs(), dr(), service()])
    out = action().split(args(**bad), connect=lambda params: api)
    assert out["failed"] is True and out["changed"] is False and option in out["msg"]
    assert [c for c in api.calls if c[0].startswith("patch")] == []


def test_an_option_of_the_wrong_type_or_unknown_fails_before_connecting():
    connect = mock.Mock()
    out = action().split(args(bogus=1), connect=connect)
    assert out["failed"] and out["msg"].startswith("Unsupported parameters for (rollouts.istio.traffic_split) module")
    assert "bogus" in out["msg"]
    out = action().split(args(max_conflict_retries="many"), connect=connect)
    assert out["failed"] and "max_conflict_retries" in out["msg"]
    connect.assert_not_called()


def test_the_alias_warns_like_the_module():
    api = FakeApi([vs(), dr(), service()])
    out = action().split(args(validate_destinations=True, validate_subsets=True), connect=lambda params: api)
    assert out["warnings"] == ["Both option validate_destinations and its alias validate_subsets are set."]


def test_loop_items_share_one_connection_until_a_setting_changes(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(split_task, "client_from_params", lambda params, field_manager: made.append(1) or object())
    monkeypatch.setattr(split_task, "_CONNECTIONS", {})
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("a")
    params = dict(kubeconfig=str(kubeconfig), context="one")
    environ = {}
    first = split_task.shared_connection(params, environ)
    second = split_task.shared_connection(dict(params), environ)
    assert len(made) == 1 and first.client is second.client and first is not second
    split_task.shared_connection(dict(params, context="two"), environ)
    assert len(made) == 2
    split_task.shared_connection(dict(params, context="two"), {"K8S_AUTH_API_KEY": "x"})
    assert len(made) == 3
    kubeconfig.write_text("a longer kubeconfig")
    split_task.shared_connection(dict(params, context="two"), {"K8S_AUTH_API_KEY": "x"})
    assert len(made) == 4


def test_direct_credentials_do_not_import_the_kubernetes_library():
    code = ("import sys\n"
            "from ansible_collections.rollouts.istio.plugins.module_utils._runner import split_task\n"
            "split_task.shared_connection(dict(host='https://127.0.0.1:1', api_key='t', validate_certs=False), {})\n"
            "from ansible_collections.rollouts.istio.plugins.action import traffic_split\n"
            "print('kubernetes' in sys.modules)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


def batch_args(**more):
    out = dict(namespace="shop", host="https://127.0.0.1:1", api_key=SECRET,
               virtual_services=[dict(name="reviews", route="primary", destinations=SPLIT)])
    out.update(more)
    return out


def test_virtual_services_changes_each_and_returns_a_result_per_item():
    api = FakeApi([vs(), dr(), service()])
    out = action().split(batch_args(), diff=True, connect=lambda params: api)
    assert out["changed"] is True and "failed" not in out
    (one,) = out["results"]
    assert (one["name"], one["namespace"], one["after"]) == ("reviews", "shop", {"stable": 90, "candidate": 10})
    assert out["diff"][0]["before_header"] == "shop/reviews" and {"before", "after"} <= set(out["diff"][0])


@pytest.mark.parametrize("bad,message", [
    (dict(name="reviews"), "parameters are mutually exclusive: name|virtual_services"),
    (dict(virtual_services=[dict(name="reviews")]), "destinations"),
    (dict(virtual_services=[dict(name="reviews", destinations=SPLIT)], namespace=None),
     "virtual_services[0].namespace: required"),
    (dict(virtual_services=[dict(name="Reviews", destinations=SPLIT)]), "virtual_services[0].name: "),
    (dict(virtual_services=[]), "virtual_services: give at least one VirtualService"),
])
def test_bad_virtual_services_are_refused_naming_the_item_before_any_write(bad, message):
    api = FakeApi([vs(), dr(), service()])
    out = action().split(batch_args(**bad), connect=lambda params: api)
    assert out["failed"] is True and message in out["msg"]
    assert [c for c in api.calls if c[0].startswith("patch")] == []


def test_a_virtual_service_or_a_list_of_them_is_required():
    out = action().split(dict(namespace="shop", destinations=SPLIT, host="https://127.0.0.1:1"), connect=mock.Mock())
    assert out["failed"] and out["msg"] == "one of the following is required: name, virtual_services"


def test_one_virtual_service_still_needs_its_namespace_and_destinations():
    out = action().split(dict(name="reviews", host="https://127.0.0.1:1"), connect=mock.Mock())
    assert out["failed"] and "namespace" in out["msg"] and "destinations" in out["msg"]
