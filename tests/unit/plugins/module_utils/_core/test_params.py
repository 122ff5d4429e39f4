"""Shared option checks (_core/params.py): finite numbers in range, DNS-1123 names."""

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.params import (
    check_dns_label,
    check_dns_subdomain,
    check_number,
)

LABEL = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")


@given(LABEL)
def test_every_dns_label_is_accepted_as_label_and_subdomain(name):
    assert check_dns_label(name, "namespace") == name
    assert check_dns_subdomain(name, "name") == name


@given(st.text(max_size=70).filter(lambda s: not re.match(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z", s) or len(s) > 63))
def test_anything_else_is_refused_as_a_label_naming_the_option(value):
    with pytest.raises(ParameterError) as err:
        check_dns_label(value, "namespace")
    assert err.value.param == "namespace"


@pytest.mark.parametrize("value,fragment", [
    ("", "give the name"), (None, "give the name"), ("Reviews", "upper-case"), ("-a", "starting and ending"),
    ("a" * 254, "at most 253"),
])
def test_bad_object_names(value, fragment):
    with pytest.raises(ParameterError) as err:
        check_dns_subdomain(value, "name")
    assert err.value.param == "name" and fragment in err.value.msg


def test_subdomains_may_have_dots_labels_may_not():
    assert check_dns_subdomain("reviews.v2", "name") == "reviews.v2"
    with pytest.raises(ParameterError):
        check_dns_label("reviews.v2", "namespace")


@pytest.mark.parametrize("value,kwargs,fragment", [
    (math.nan, {}, "finite"), (math.inf, {}, "finite"), (-1, {"minimum": 0}, "at least 0"),
    (0, {"above": 0}, "more than 0"), (1.5, {"integer": True}, "an integer"), (True, {}, "a number"),
    ("3", {}, "a number"), (11, {"maximum": 10}, "at most 10"), (10, {"below": 10}, "less than 10"),
])
def test_bad_numbers_name_the_option(value, kwargs, fragment):
    with pytest.raises(ParameterError) as err:
        check_number(value, "max_conflict_retries", **kwargs)
    assert err.value.param == "max_conflict_retries" and fragment in err.value.msg


def test_good_numbers_and_unset():
    assert check_number(5, "n", minimum=0, integer=True) == 5
    assert check_number(None, "n", minimum=0) is None
    assert check_number(0.5, "n", above=0, below=1) == 0.5
