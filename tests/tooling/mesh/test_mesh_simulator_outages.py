"""The simulator's outages: an app that stops answering (its sidecar answers 503 UF) and an ingress
gateway that refuses connections or accepts them and never answers, each set and cleared at run time."""

import http.client
import socket
import urllib.error
import urllib.request

import pytest

from support.mesh import create_tutorial, set_stopped


def _count(text, **labels):
    total = 0
    for line in text.splitlines():
        if line.startswith("istio_requests_total{") and all('%s="%s"' % kv in line for kv in labels.items()):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_a_stopped_app_is_answered_by_its_sidecar_with_503_uf(k8s, namespace, mesh_simulator):
    create_tutorial(k8s, namespace, weights={"v1": 0, "v2": 100})
    mesh_simulator.wait_synced(k8s)
    mesh_simulator.wait_seen(set_stopped(k8s, namespace, "podinfo-v2").to_dict())
    status, headers, body = mesh_simulator.get("/")
    assert status == 503 and "x-version" not in headers
    assert body.startswith("upstream connect error or disconnect/reset before headers")
    assert mesh_simulator.versions(10) == {503: 10}
    text = mesh_simulator.metrics()
    assert _count(text, reporter="destination", destination_workload="podinfo-v2", response_code="503",
                  response_flags="UF") == 11
    assert _count(text, reporter="source", destination_workload="podinfo-v2", response_code="503",
                  response_flags="UF") == 11
    mesh_simulator.wait_seen(set_stopped(k8s, namespace, "podinfo-v2", stopped=False).to_dict())
    assert mesh_simulator.versions(5) == {"v2": 5}


def test_the_ingress_refuses_then_serves_again_on_the_same_port(k8s, namespace, mesh_simulator):
    create_tutorial(k8s, namespace, weights={"v1": 100, "v2": 0})
    mesh_simulator.wait_synced(k8s)
    # A keep-alive connection opened before the outage is reset with it, as the gateway's would be.
    host, port = mesh_simulator.ingress_url[len("http://"):].split(":")
    kept = http.client.HTTPConnection(host, int(port), timeout=5)
    kept.request("GET", "/", headers={"Host": "app.example.com"})
    assert kept.getresponse().status == 200
    assert mesh_simulator.set_ingress("refusing") == {"state": "refusing", "address": "%s:%s" % (host, port)}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5).close()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        kept.request("GET", "/", headers={"Host": "app.example.com"})
        kept.getresponse()
    assert mesh_simulator.set_ingress("serving")["state"] == "serving"
    assert mesh_simulator.versions(5) == {"v1": 5}


def test_a_hanging_ingress_accepts_and_never_answers(k8s, namespace, mesh_simulator):
    create_tutorial(k8s, namespace, weights={"v1": 100, "v2": 0})
    mesh_simulator.wait_synced(k8s)
    mesh_simulator.set_ingress("hanging")
    with pytest.raises((socket.timeout, TimeoutError, urllib.error.URLError)):
        mesh_simulator.get("/", timeout=1)
    mesh_simulator.set_ingress("serving")
    assert mesh_simulator.versions(5) == {"v1": 5}


def test_an_unknown_ingress_state_is_refused_naming_the_states(mesh_simulator):
    req = urllib.request.Request(mesh_simulator.metrics_url + "/debug/ingress", data=b'{"state": "off"}',
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 400 and "serving, refusing, hanging" in err.value.read().decode()
