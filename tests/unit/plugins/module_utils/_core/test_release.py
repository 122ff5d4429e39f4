"""The one mapping of a release to the names each module takes (_core/release.py) and its filters."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.rollouts.istio.plugins.filter.release import release_filter, release_split_filter
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.release import release, release_split


def test_release_names_each_version_for_every_module():
    names = release("reviews", "v1", "v2", "shop")
    assert names["fqdn"] == "reviews.shop.svc.cluster.local"
    assert names["service"] == names["host"] == "reviews"
    assert names["stable"] == {"role": "stable", "version": "v1", "subset": "v1", "workload": "reviews-v1",
                               "labels": {"app": "reviews", "version": "v1"}}
    assert names["candidate"]["subset"] == "v2" and names["candidate"]["workload"] == "reviews-v2"


def test_formats_and_label_are_the_users():
    names = release("web", "blue", "green", "prod", domain="corp.local", version_label="track",
                    workload_format="{app}-{version}-deploy", subset_format="{app}-{version}")
    assert names["fqdn"] == "web.prod.svc.corp.local"
    assert names["candidate"] == {"role": "candidate", "version": "green", "subset": "web-green",
                                  "workload": "web-green-deploy", "labels": {"app": "web", "track": "green"}}


@pytest.mark.parametrize("args,param,fragment", [
    (("", "v1", "v2", "shop"), "app", "give the app name"),
    (("Reviews", "v1", "v2", "shop"), "app", "upper-case"),
    (("reviews", "v1", "v2", "Shop"), "namespace", "upper-case"),
    (("reviews", None, "v2", "shop"), "stable", "give the stable version"),
    (("reviews", "v1", "", "shop"), "candidate", "give the candidate version"),
    (("reviews", "v1", "v1", "shop"), "candidate", "is the stable version"),
    (("reviews", "v1", "V_2", "shop"), "candidate", "not a valid workload name"),
])
def test_bad_release_names_the_parameter(args, param, fragment):
    with pytest.raises(ParameterError) as err:
        release(*args)
    assert err.value.param == param and fragment in err.value.msg


def test_bad_format_names_the_option():
    with pytest.raises(ParameterError) as err:
        release("web", "v1", "v2", "shop", workload_format="{app}-{revision}")
    assert err.value.param == "workload_format"


def test_split_in_the_three_forms():
    names = release("reviews", "v1", "v2", "shop")
    assert release_split(names, 10) == {
        "destinations": [{"subset": "v1", "weight": 90}, {"subset": "v2", "weight": 10}],
        "expected_weights": {"v1": 90, "v2": 10},
        "weights": {"stable": 90, "candidate": 10},
    }
    assert release_split(names, 100)["weights"] == {"stable": 0, "candidate": 100}


@pytest.mark.parametrize("weight", [101, -1, 10.5, True, "10", None])
def test_split_refuses_a_weight_outside_the_rule(weight):
    with pytest.raises(ParameterError) as err:
        release_split(release("reviews", "v1", "v2", "shop"), weight)
    assert err.value.param == "candidate_weight"


def test_filters_wrap_the_core_and_fail_as_filters():
    names = release_filter({"app": "reviews", "stable": "v1", "candidate": "v2", "namespace": "shop"})
    assert names == release("reviews", "v1", "v2", "shop")
    assert release_split_filter(names, 25)["expected_weights"] == {"v1": 75, "v2": 25}
    with pytest.raises(AnsibleFilterError, match="candidate: the candidate version 'v1' is the stable version"):
        release_filter({"app": "reviews", "stable": "v1", "candidate": "v1", "namespace": "shop"})
    with pytest.raises(AnsibleFilterError, match="unknown keys canary"):
        release_filter({"app": "reviews", "stable": "v1", "canary": "v2", "namespace": "shop"})
    with pytest.raises(AnsibleFilterError, match="candidate_weight"):
        release_split_filter(names, 150)
    with pytest.raises(AnsibleFilterError, match="result of rollouts.istio.release"):
        release_split_filter({"app": "reviews"}, 10)
