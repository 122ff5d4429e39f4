"""Finding the networking.istio.io version from what the server serves, and the errors when it serves none."""

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._edges import istio_api as A
from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_client import Forbidden, NotFound


class Server(object):
    """Answers like an API server that serves some versions of the group and holds some objects."""

    def __init__(self, served, objects=()):
        self.served = served
        self.objects = set(objects)
        self.paths = []

    def get(self, path, query=None):
        self.paths.append(path)
        parts = path.split("/")
        version = parts[3]
        if version not in self.served:
            raise NotFound("404 page not found", status=404, body={"message": "404 page not found"})
        if len(parts) == 8:
            name = parts[7]
            if name not in self.objects:
                raise NotFound('virtualservices "%s" not found' % name, status=404,
                               body={"reason": "NotFound", "details": {"name": name, "kind": "virtualservices"}})
            return {"apiVersion": "networking.istio.io/" + version, "metadata": {"name": name}}
        return {"items": [{"metadata": {"name": n}} for n in sorted(self.objects)]}


def test_newest_served_version_is_used_with_no_extra_request():
    server = Server(["v1", "v1beta1"], ["r"])
    api = A.IstioApi(server)
    assert api.get("VirtualService", "ns", "r")["apiVersion"] == "networking.istio.io/v1"
    assert server.paths == ["/apis/networking.istio.io/v1/namespaces/ns/virtualservices/r"]
    assert api.api_version == "networking.istio.io/v1"


def test_older_istio_falls_back_to_v1beta1_then_remembers_it():
    server = Server(["v1beta1", "v1alpha3"], ["r"])
    api = A.IstioApi(server)
    assert api.get("VirtualService", "ns", "r")["apiVersion"] == "networking.istio.io/v1beta1"
    assert api.list("DestinationRule", "ns") is not None
    assert [p.split("/")[3] for p in server.paths] == ["v1", "v1beta1", "v1beta1"]


def test_missing_object_settles_the_version_too():
    api = A.IstioApi(Server(["v1alpha3"]))
    assert api.get("Gateway", "ns", "gw") is None
    assert api.version == "v1alpha3"


def test_no_istio_crds():
    with pytest.raises(A.IstioError) as err:
        A.IstioApi(Server([])).get("VirtualService", "ns", "r")
    assert "are Istio's CRDs installed" in err.value.msg and "v1, v1beta1, v1alpha3" in err.value.msg
    with pytest.raises(A.IstioError, match="CRDs installed"):
        A.IstioApi(Server([])).list("VirtualService", "ns")


def test_forced_version():
    server = Server(["v1", "v1beta1"], ["r"])
    api = A.IstioApi(server, "networking.istio.io/v1beta1")
    assert api.get("VirtualService", "ns", "r")["apiVersion"] == "networking.istio.io/v1beta1"
    assert len(server.paths) == 1
    with pytest.raises(A.IstioError, match="does not serve networking.istio.io/v1alpha3"):
        A.IstioApi(Server(["v1"]), "v1alpha3").get("VirtualService", "ns", "r")


@pytest.mark.parametrize("value", ["v2", "apps/v1", "networking.istio.io/v1beta2"])
def test_invalid_forced_version(value):
    with pytest.raises(A.IstioError) as err:
        A.parse_api_version(value)
    assert err.value.msg.startswith("api_version:")


def test_forbidden_read_names_verb_and_resource():
    class Denied(object):
        def get(self, path, query=None):
            raise Forbidden('virtualservices.networking.istio.io "r" is forbidden: User "u" cannot get resource',
                            status=403, body={"message": "cannot get resource"}, method="GET", path=path)

    with pytest.raises(A.IstioError) as err:
        A.IstioApi(Denied()).get("VirtualService", "shop", "r")
    assert err.value.msg.startswith("forbidden:")
    assert "get on virtualservices.networking.istio.io in namespace shop" in err.value.msg


def test_service_entries_are_listed_in_the_served_version():
    server = Server(["v1beta1"], ["se"])
    assert [o["metadata"]["name"] for o in A.IstioApi(server).list(A.SERVICE_ENTRY, "ns")] == ["se"]
    assert server.paths[-1] == "/apis/networking.istio.io/v1beta1/namespaces/ns/serviceentries"
    assert A.resource_name(A.SERVICE_ENTRY) == "serviceentries.networking.istio.io"


class CoreServer(object):
    """Answers core/v1 Service reads."""

    def __init__(self, services=(), deny=False):
        self.services = set(services)
        self.deny = deny
        self.paths = []

    def get(self, path, query=None):
        self.paths.append(path)
        if self.deny:
            raise Forbidden('services "x" is forbidden', status=403, body={"message": "cannot get resource"},
                            method="GET", path=path)
        name = path.rsplit("/", 1)[1]
        if name not in self.services:
            raise NotFound('services "%s" not found' % name, status=404,
                           body={"reason": "NotFound", "details": {"name": name, "kind": "services"}})
        return {"kind": "Service", "metadata": {"name": name}}


def test_service_is_read_from_core_v1_and_missing_is_none():
    server = CoreServer(["reviews"])
    api = A.IstioApi(server)
    assert api.service("shop", "reviews")["metadata"]["name"] == "reviews"
    assert api.service("shop", "reveiws") is None
    assert server.paths == ["/api/v1/namespaces/shop/services/reviews", "/api/v1/namespaces/shop/services/reveiws"]


def test_service_read_forbidden_names_the_verb_and_resource():
    with pytest.raises(A.IstioError) as err:
        A.IstioApi(CoreServer(deny=True)).service("shop", "reviews")
    assert "get on services in namespace shop" in err.value.msg and "grant the verb 'get' on 'services'" in err.value.msg
