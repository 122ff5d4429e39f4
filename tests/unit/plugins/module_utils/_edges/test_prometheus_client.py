"""The Prometheus HTTP edge against a local fake server: answers, auth, TLS, retries, and every error."""

import base64
import os
import shutil
import socket
import subprocess
import time

import pytest
from support.fake_prometheus import OK, FakePrometheus, api

from ansible_collections.rollouts.istio.plugins.module_utils._edges.prometheus_client import PrometheusClient, PrometheusError


@pytest.fixture
def fake():
    servers = []

    def start(*script, **kwargs):
        server = FakePrometheus(script, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def client(url, **kwargs):
    kwargs.setdefault("sleep", Sleeps())
    kwargs.setdefault("timeout", 5)
    return PrometheusClient(url, **kwargs)


def error_of(call):
    with pytest.raises(PrometheusError) as err:
        call()
    return err.value


# ---------------------------------------------------------------- answers

def test_instant_query_posts_the_form_and_returns_data(fake):
    prom = fake(api(OK))
    c = client(prom.url + "/")
    assert c.query('sum(rate(x{a="b"}[1m]))') == OK["data"]
    req = prom.requests[0]
    assert req["path"] == "/api/v1/query"
    assert req["form"] == {"query": ['sum(rate(x{a="b"}[1m]))']}
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in req["headers"]
    assert (c.queries, c.requests) == (1, 1)


def test_instant_query_at_a_time_and_range_query(fake):
    prom = fake(api(OK), api({"status": "success", "data": {"resultType": "matrix", "result": []}}))
    c = client(prom.url)
    c.query("up", at="1700000000")
    assert c.query_range("up", "1700000000", "1700000600", "15s") == {"resultType": "matrix", "result": []}
    assert prom.requests[0]["form"]["time"] == ["1700000000"]
    assert prom.requests[1]["path"] == "/api/v1/query_range"
    assert prom.requests[1]["form"] == {"query": ["up"], "start": ["1700000000"], "end": ["1700000600"],
                                        "step": ["15s"]}


def test_a_path_prefix_is_kept(fake):
    prom = fake(api(OK))
    client(prom.url + "/prometheus/").query("up")
    assert prom.requests[0]["path"] == "/prometheus/api/v1/query"


def test_warnings_are_kept(fake):
    prom = fake(api(dict(OK, warnings=["results truncated"])))
    c = client(prom.url)
    c.query("up")
    assert c.warnings == ["results truncated"]


# ---------------------------------------------------------------- auth

def test_bearer_token(fake):
    prom = fake(api(OK))
    client(prom.url, token="s3cret-token").query("up")
    assert prom.requests[0]["headers"]["Authorization"] == "Bearer s3cret-token"


def test_basic_auth(fake):
    prom = fake(api(OK))
    client(prom.url, username="ops", password="pa:ss").query("up")
    assert prom.requests[0]["headers"]["Authorization"] == "Basic " + base64.b64encode(b"ops:pa:ss").decode()


def test_credentials_in_the_url_are_basic_auth_and_never_shown(fake):
    prom = fake(api({"status": "error", "errorType": "bad_data", "error": "parse error"}, status=400))
    url = prom.url.replace("://", "://ops:top%40secret@")
    err = error_of(lambda: client(url).query("up{"))
    assert prom.requests[0]["headers"]["Authorization"] == "Basic " + base64.b64encode(b"ops:top@secret").decode()
    assert "secret" not in str(err) and "ops:" not in str(err)


@pytest.mark.parametrize("status", [401, 403])
def test_wrong_credentials_are_said_so_and_not_retried(fake, status):
    prom = fake((status, "text/plain", b"Unauthorized\n", 0))
    c = client(prom.url, token="s3cret-token", retries=3)
    err = error_of(lambda: c.query("up"))
    assert err.kind == "auth"
    assert str(err) == ("Prometheus at %s refused the request (HTTP %d): wrong credentials (sent: a bearer token); "
                        "check token, username and password" % (prom.url, status))
    assert "s3cret" not in str(err)
    assert len(prom.requests) == 1 and c.sleep == []


def test_missing_credentials_are_named(fake):
    prom = fake((401, "text/plain", b"", 0))
    assert "(sent: no credentials)" in str(error_of(lambda: client(prom.url).query("up")))


def test_basic_auth_user_is_named_but_not_the_password(fake):
    prom = fake((401, "text/plain", b"", 0))
    err = str(error_of(lambda: client(prom.url, username="ops", password="hunter2").query("up")))
    assert "(sent: basic auth for user 'ops')" in err and "hunter2" not in err


# ---------------------------------------------------------------- Prometheus' own errors

def test_invalid_promql_carries_prometheus_message(fake):
    prom = fake(api({"status": "error", "errorType": "bad_data",
                     "error": "invalid parameter \"query\": 1:4: parse error: unexpected \"}\""}, status=400))
    c = client(prom.url)
    err = error_of(lambda: c.query("up}"))
    assert err.kind == "bad_query"
    assert str(err) == 'invalid PromQL: invalid parameter "query": 1:4: parse error: unexpected "}"'
    assert len(prom.requests) == 1


def test_execution_error(fake):
    prom = fake(api({"status": "error", "errorType": "execution",
                     "error": "found duplicate series for the match group"}, status=422))
    err = error_of(lambda: client(prom.url).query("a / b"))
    assert (err.kind, str(err)) == ("execution", "Prometheus could not run the query: found duplicate series "
                                                 "for the match group")


def test_5xx_then_ok_is_retried_with_backoff(fake):
    prom = fake(api({"status": "error", "errorType": "unavailable", "error": "starting"}, status=503),
                (502, "text/html", b"<html>bad gateway</html>", 0), api(OK))
    c = client(prom.url, retries=3)
    assert c.query("up") == OK["data"]
    assert c.sleep == [0.5, 1.0]
    assert (c.queries, c.requests) == (1, 3)


def test_5xx_every_time_gives_up_after_the_retries(fake):
    prom = fake(api({"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"},
                    status=503))
    c = client(prom.url, retries=2)
    err = error_of(lambda: c.query("up"))
    assert err.kind == "server"
    assert str(err) == ("Prometheus at %s answered HTTP 503: query timed out in expression evaluation (3 attempts)"
                        % prom.url)
    assert len(prom.requests) == 3 and c.sleep == [0.5, 1.0]


def test_backoff_is_capped(fake):
    prom = fake((500, "text/plain", b"boom", 0))
    c = client(prom.url, retries=6)
    error_of(lambda: c.query("up"))
    assert c.sleep == [0.5, 1, 2, 4, 8, 8]


# ---------------------------------------------------------------- not Prometheus

def test_garbage_is_not_taken_for_an_answer(fake):
    prom = fake((200, "text/html; charset=utf-8", b"<!doctype html>\n<html><body>Welcome to nginx!</body></html>", 0))
    err = error_of(lambda: client(prom.url).query("up"))
    assert err.kind == "bad_response"
    assert str(err) == ("Prometheus at %s answered with something that is not its JSON API (HTTP 200, Content-Type "
                        "text/html; charset=utf-8): <!doctype html> <html><body>Welcome to nginx!</body></html>"
                        % prom.url)
    assert len(prom.requests) == 1


@pytest.mark.parametrize("body", [b'{"hello": "world"}', b"[1, 2]", b"", b'{"status": "success"}', b"\xff\xfe"])
def test_json_that_is_not_the_api_is_garbage_too(fake, body):
    prom = fake((200, "application/json", body, 0))
    assert error_of(lambda: client(prom.url).query("up")).kind == "bad_response"


def test_a_long_garbage_answer_is_cut(fake):
    prom = fake((200, "text/plain", b"x" * 5000, 0))
    msg = str(error_of(lambda: client(prom.url).query("up")))
    assert msg.endswith("x" * 200 + "...") and len(msg) < 400


def test_a_wrong_path_says_where_the_api_should_be(fake):
    prom = fake((404, "text/plain", b"404 page not found", 0))
    err = error_of(lambda: client(prom.url + "/graph").query("up"))
    assert err.kind == "not_found"
    assert "no Prometheus query API at %s/graph (HTTP 404)" % prom.url in str(err)


# ---------------------------------------------------------------- the network

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_is_retried_then_said_so():
    url = "http://127.0.0.1:%d" % _free_port()
    c = client(url, retries=2)
    err = error_of(lambda: c.query("up"))
    assert err.kind == "unreachable"
    assert str(err).startswith("Prometheus at %s is unreachable: " % url)
    assert "refused" in str(err).lower() and str(err).endswith("(3 attempts)")
    assert c.requests == 3 and c.sleep == [0.5, 1.0]


def test_a_slow_answer_times_out(fake):
    prom = fake(api(OK, delay=1.0))
    c = client(prom.url, timeout=0.2, retries=1)
    start = time.time()
    err = error_of(lambda: c.query("up"))
    assert err.kind == "timeout"
    assert str(err) == "Prometheus at %s did not answer within 0.2s (timeout) (2 attempts)" % prom.url
    assert time.time() - start < 1.5


def test_a_slow_answer_then_a_fast_one(fake):
    prom = fake(api(OK, delay=1.0), api(OK))
    c = client(prom.url, timeout=0.3, retries=1)
    assert c.query("up") == OK["data"] and c.requests == 2


def test_a_dropped_connection_is_retried(fake):
    prom = fake("close", api(OK))
    c = client(prom.url, retries=1)
    assert c.query("up") == OK["data"] and c.requests == 2


@pytest.mark.parametrize("url", ["", "prometheus:9090", "ftp://host/x", "http://"])
def test_a_url_that_is_no_http_url(url):
    with pytest.raises(PrometheusError, match="no Prometheus URL|is not an http"):
        PrometheusClient(url)


# ---------------------------------------------------------------- TLS

@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    tmp = tmp_path_factory.mktemp("tls")
    key, cert = str(tmp / "key.pem"), str(tmp / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def test_tls_is_verified_by_default_and_not_retried(fake, certificate):
    prom = fake(api(OK), tls=certificate)
    c = client(prom.url, retries=3)
    err = error_of(lambda: c.query("up"))
    assert err.kind == "tls"
    assert str(err).startswith("TLS verification of %s failed: " % prom.url)
    assert "set ca_path to the CA that signed its certificate, or validate_certs to false" in str(err)
    assert c.requests == 1


def test_tls_with_the_ca_and_without_verification(fake, certificate):
    prom = fake(api(OK), tls=certificate)
    assert client(prom.url, ca_path=certificate[0]).query("up") == OK["data"]
    assert client(prom.url, validate_certs=False).query("up") == OK["data"]


def test_a_ca_path_that_is_no_ca(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(PrometheusError, match="cannot be used as a CA bundle"):
        PrometheusClient("https://127.0.0.1:1", ca_path=str(bad))
    with pytest.raises(PrometheusError, match="cannot be used as a CA bundle"):
        PrometheusClient("https://127.0.0.1:1", ca_path=os.path.join(str(tmp_path), "missing.pem"))


@pytest.mark.parametrize("kwargs,message", [
    ({"timeout": float("nan")}, "timeout: must be a finite number, got nan"),
    ({"timeout": float("inf")}, "timeout: must be a finite number, got inf"),
    ({"timeout": 0}, "timeout: must be more than 0, got 0"),
    ({"retries": -2}, "retries: must be at least 0, got -2"),
    ({"retries": 1.5}, "retries: must be an integer, got 1.5"),
])
def test_a_timeout_or_retries_that_cannot_work_is_refused_not_clamped(kwargs, message):
    # retries -2 used to become 0 silently, a NaN timeout reached the socket.
    from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
    with pytest.raises(ParameterError) as err:
        PrometheusClient("http://127.0.0.1:9", **kwargs)
    assert str(err.value) == message
