"""prometheus_query's pure helpers: the time range and the answer's shape."""

import json

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._core import samples as S
from ansible_collections.rollouts.istio.plugins.module_utils._core.analysis import AnalysisError
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError

NOW = 1795316400.0  # 2026-11-22T03:00:00Z


@pytest.mark.parametrize("text,seconds", [
    ("1795316400", NOW), ("1795316400.5", NOW + 0.5), ("2026-11-22T03:00:00Z", NOW),
    ("2026-11-22T04:00:00+01:00", NOW), ("2026-11-22T03:00:00.250Z", NOW + 0.25),
])
def test_parse_time(text, seconds):
    assert S.parse_time(text, "end") == pytest.approx(seconds)


@pytest.mark.parametrize("text,message", [("yesterday", "is neither a Unix timestamp nor an RFC 3339"),
                                          ("2026-11-22T03:00:00", "has no time zone")])
def test_parse_time_refuses(text, message):
    with pytest.raises(ParameterError, match="end: %r %s" % (text, message)) as err:
        S.parse_time(text, "end")
    assert err.value.param == "end"


def test_time_range_relative_start_and_default_end():
    assert S.time_range("10m", None, "15s", NOW) == (NOW - 600, NOW, 15)
    assert S.time_range("1h", "2026-11-22T03:00:00Z", "60", NOW + 999) == (NOW - 3600, NOW, 60)
    assert S.time_range("2026-11-22T02:00:00Z", "1795316400", "1m", 0) == (NOW - 3600, NOW, 60)


@pytest.mark.parametrize("start,end,step,message", [
    ("10m", None, "0s", "step: must be longer than 0s"),
    ("10m", None, "soon", "step: 'soon' is not a duration"),
    ("10m", None, "nan", "step: must be a finite number of seconds, got 'nan'"),
    ("10m", None, "inf", "step: must be a finite number of seconds"),
    ("2026-11-22T04:00:00Z", "2026-11-22T03:00:00Z", "15s", "start: must be before end"),
    ("tomorrow", None, "15s", "start: 'tomorrow' is neither"),
    ("10m", "nan", "15s", "end: must be a finite Unix timestamp, got 'nan'"),
    ("inf", None, "15s", "start: must be a finite Unix timestamp"),
])
def test_time_range_refuses(start, end, step, message):
    with pytest.raises(ParameterError, match=message) as err:
        S.time_range(start, end, step, NOW)
    assert err.value.param == message.split(":")[0]


def test_samples_of_a_vector_with_nan_and_inf_kept_out_of_the_numbers():
    data = {"resultType": "vector", "result": [
        {"metric": {"response_code": "200"}, "value": [NOW, "9.5"]},
        {"metric": {"response_code": "503"}, "value": [NOW, "NaN"]},
        {"metric": {}, "value": [NOW, "+Inf"]}]}
    kind, shaped = S.samples(data)
    assert kind == "vector"
    assert shaped == [{"labels": {"response_code": "200"}, "time": NOW, "value": 9.5, "raw": "9.5"},
                      {"labels": {"response_code": "503"}, "time": NOW, "value": None, "raw": "NaN"},
                      {"labels": {}, "time": NOW, "value": None, "raw": "+Inf"}]
    json.dumps(shaped, allow_nan=False)
    assert S.single_value(kind, shaped) is None
    assert S.single_value(kind, shaped[:1]) == 9.5


def test_samples_of_a_matrix():
    data = {"resultType": "matrix", "result": [{"metric": {"a": "b"}, "values": [[NOW, "1"], [NOW + 15, "2"]]}]}
    kind, shaped = S.samples(data)
    assert (kind, shaped) == ("matrix", [{"labels": {"a": "b"}, "points": [
        {"time": NOW, "value": 1.0, "raw": "1"}, {"time": NOW + 15, "value": 2.0, "raw": "2"}]}])
    assert S.single_value(kind, shaped) is None


def test_samples_of_a_scalar_and_a_string():
    kind, shaped = S.samples({"resultType": "scalar", "result": [NOW, "42"]})
    assert S.single_value(kind, shaped) == 42.0 and shaped[0]["labels"] == {}
    kind, shaped = S.samples({"resultType": "string", "result": [NOW, "hello"]})
    assert shaped == [{"labels": {}, "time": NOW, "value": None, "raw": "hello"}]
    assert S.single_value(kind, shaped) is None


def test_samples_of_an_unknown_type():
    with pytest.raises(AnalysisError, match="result type 'histogram'"):
        S.samples({"resultType": "histogram", "result": []})
