"""The one rule of a valid split (_core/split.py), by example and by property."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.split import (
    TOTAL_WEIGHT,
    check_split,
    check_weight_map,
    effective_weights,
)

settings.register_profile("rollouts", deadline=None, max_examples=200)
settings.load_profile("rollouts")


@st.composite
def valid_splits(draw):
    """Integers 0..100 adding up to exactly 100, of any length; a lone one is 100 or unset."""
    count = draw(st.integers(min_value=1, max_value=8))
    if count == 1:
        return [draw(st.sampled_from([TOTAL_WEIGHT, None]))]
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=TOTAL_WEIGHT), min_size=count - 1,
                                max_size=count - 1)))
    bounds = [0] + cuts + [TOTAL_WEIGHT]
    return [bounds[i + 1] - bounds[i] for i in range(count)]


weights_of_any_kind = st.one_of(st.integers(min_value=-300, max_value=300), st.none(), st.booleans(),
                                st.floats(allow_nan=True), st.text(max_size=3))


def _is_valid(weights):
    if not weights:
        return False
    if len(weights) == 1:
        return weights[0] is None or (_is_int(weights[0]) and weights[0] == TOTAL_WEIGHT)
    return all(_is_int(w) and 0 <= w <= TOTAL_WEIGHT for w in weights) and sum(weights) == TOTAL_WEIGHT


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


@given(valid_splits())
def test_every_valid_split_is_accepted_as_istio_reads_it(weights):
    out = check_split(weights, "destinations")
    assert sum(out) == TOTAL_WEIGHT and out == effective_weights(weights)


@given(st.lists(weights_of_any_kind, max_size=6))
def test_every_split_is_accepted_exactly_when_the_rule_holds_and_else_names_the_parameter(weights):
    if _is_valid(weights):
        assert sum(check_split(weights, "steps[2].weights")) == TOTAL_WEIGHT
        return
    with pytest.raises(ParameterError) as err:
        check_split(weights, "steps[2].weights")
    assert err.value.param.startswith("steps[2].weights")
    assert str(err.value).startswith(err.value.param + ": ")


@given(valid_splits().filter(lambda w: len(w) > 1), st.integers(min_value=1, max_value=50))
def test_moving_any_total_off_100_is_refused_naming_the_sum(weights, delta):
    broken = list(weights)
    if broken[0] + delta <= TOTAL_WEIGHT:
        broken[0] += delta
        with pytest.raises(ParameterError) as err:
            check_split(broken, "destinations")
        assert err.value.param == "destinations" and "add up to %d" % (TOTAL_WEIGHT + delta) in err.value.msg


def test_a_lone_destination_gets_everything_whatever_its_weight_says():
    assert effective_weights([0]) == [100]
    assert effective_weights([None]) == [100]
    assert effective_weights([None, 100]) == [0, 100]


def test_a_lone_written_weight_must_be_100():
    with pytest.raises(ParameterError) as err:
        check_split([0], "destinations")
    assert err.value.param == "destinations[0].weight" and "gets all the traffic" in err.value.msg


def test_weight_map_names_the_version():
    assert check_weight_map({"stable": 90, "candidate": 10.0}, "expected") == {"stable": 90, "candidate": 10}
    with pytest.raises(ParameterError) as err:
        check_weight_map({"stable": 90, "candidate": None}, "expected")
    assert err.value.param == "expected.candidate"
    with pytest.raises(ParameterError) as err:
        check_weight_map({"stable": 95, "candidate": 10}, "expected")
    assert err.value.param == "expected" and "add up to 105" in err.value.msg
