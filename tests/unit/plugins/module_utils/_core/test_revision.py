"""The revision hash: what counts as a change of a release, and what does not."""

import copy
import json

from ansible_collections.rollouts.istio.plugins.module_utils._core import revision as REV


def template(**spec):
    base = {"containers": [{"name": "app", "image": "podinfo:6.0", "env": [{"name": "A", "value": "1"}]}]}
    base.update(spec)
    return {"metadata": {"labels": {"app": "podinfo", "version": "v2"}}, "spec": base}


def cm(data, kind="ConfigMap"):
    return {"kind": kind, "metadata": {"name": "x", "resourceVersion": "7", "annotations": {"a": "b"}},
            "data": dict(data)}


def test_the_order_of_keys_does_not_count():
    one = template()
    other = json.loads(json.dumps(one, sort_keys=True))
    other["spec"] = dict(reversed(list(other["spec"].items())))
    other["spec"]["containers"][0] = dict(reversed(list(other["spec"]["containers"][0].items())))
    assert REV.revision(one) == REV.revision(other)
    assert len(REV.revision(one)) == REV.REVISION_LENGTH


def test_metadata_other_controllers_add_does_not_count():
    one = template()
    other = copy.deepcopy(one)
    other["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": "2026-12-02T10:00:00Z",
                                        "sidecar.istio.io/status": "{}"}
    other["metadata"]["labels"]["pod-template-hash"] = "abc"
    assert REV.revision(one) == REV.revision(other)


def test_image_command_env_and_resources_count():
    base = REV.revision(template())
    for change in ({"image": "podinfo:6.1"}, {"command": ["serve"]}, {"env": [{"name": "A", "value": "2"}]},
                   {"resources": {"limits": {"cpu": "1"}}}, {"ports": [{"containerPort": 9898}]}):
        changed = template()
        changed["spec"]["containers"][0].update(change)
        assert REV.revision(changed) != base, change


def test_references_from_volumes_projected_env_from_and_value_from():
    spec = template(
        volumes=[{"name": "c", "configMap": {"name": "cfg"}}, {"name": "s", "secret": {"secretName": "tls"}},
                 {"name": "p", "projected": {"sources": [{"configMap": {"name": "proj-cm"}},
                                                         {"secret": {"name": "proj-s"}}]}}],
        initContainers=[{"name": "init", "image": "busybox", "envFrom": [{"configMapRef": {"name": "init-cm"}},
                                                                         {"secretRef": {"name": "init-s"}}]}],
    )["spec"]
    spec["containers"][0]["env"] += [
        {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "key-cm", "key": "k"}}},
        {"name": "P", "valueFrom": {"secretKeyRef": {"name": "key-s", "key": "p", "optional": True}}},
        {"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    spec["imagePullSecrets"] = [{"name": "registry"}]
    assert REV.references(spec) == (["cfg", "init-cm", "key-cm", "proj-cm"],
                                    ["init-s", "key-s", "proj-s", "tls"])


def test_referenced_data_counts_and_its_metadata_does_not():
    tpl = template(volumes=[{"name": "c", "configMap": {"name": "cfg"}}])
    base = REV.revision(tpl, {"cfg": cm({"a": "1"})})
    relabelled = cm({"a": "1"})
    relabelled["metadata"]["resourceVersion"] = "8"
    assert REV.revision(tpl, {"cfg": relabelled}) == base
    assert REV.revision(tpl, {"cfg": cm({"a": "2"})}) != base
    binary = cm({"a": "1"})
    binary["binaryData"] = {"b": "AA=="}
    assert REV.revision(tpl, {"cfg": binary}) != base
    # An unreferenced ConfigMap passed in does not count; a missing referenced one is absent, not an error.
    assert REV.revision(tpl, {"cfg": cm({"a": "1"}), "other": cm({"z": "9"})}) == base
    assert REV.revision(tpl, {}) == REV.revision(tpl, {"cfg": None}) != base


def test_a_secret_counts_by_hash_only():
    tpl = template(volumes=[{"name": "s", "secret": {"secretName": "tls"}}])
    secret = cm({"password": "c2VjcmV0LXZhbHVl"}, kind="Secret")
    rev = REV.revision(tpl, secrets={"tls": secret})
    assert rev != REV.revision(tpl, secrets={"tls": cm({"password": "b3RoZXI="}, kind="Secret")})
    described = REV.describe("Deployment", "shop", "podinfo-v2", rev, [], ["tls"])
    assert "c2VjcmV0LXZhbHVl" not in json.dumps(described)
    assert described == {"kind": "Deployment", "namespace": "shop", "name": "podinfo-v2", "revision": rev,
                         "configmaps": [], "secrets": ["tls"]}
