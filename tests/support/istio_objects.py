"""Helpers of the Istio resource module tests: plays that find Python, raw reads, a small mesh app."""

import json
import os

import yaml

# The module tests call the shared runner `play`.
from support.ansible_run import run_play as play  # noqa: F401 pylint: disable=unused-import
from support.kube import kubectl

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# What the modules read and write; the cluster's own controllers also write in a test's namespace
# (endpoint slices of the app's Service), which says nothing about the module under test.
MODULE_RESOURCES = ("virtualservices", "destinationrules", "gateways", "serviceentries", "services")


def module_requests(audit, mark, namespace, writes=False):
    """The requests in ``namespace`` since ``mark`` on what the modules touch (writes only with ``writes``)."""
    events = audit.writes(mark, namespace=namespace) if writes else audit.events(mark, namespace=namespace)
    return [e for e in events if e.resource in MODULE_RESOURCES]


def get_raw(namespace, kind, name):
    """The object exactly as the API server returns it, or None."""
    proc = kubectl("-n", namespace, "get", "%s.networking.istio.io" % kind, name, "-o", "json", check=False)
    if proc.returncode != 0:
        if "NotFound" in proc.stderr:
            return None
        raise AssertionError(proc.stderr)
    return json.loads(proc.stdout)


def apply_yaml(namespace, docs):
    kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(docs))


def app_objects(namespace, name="reviews", subsets=(("stable", "v1"), ("candidate", "v2"))):
    """A Service with two versioned Deployments behind it: something real for routes to point at."""
    docs = [{
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 9080}]},
    }]
    for _subset, version in subsets:
        docs.append({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "%s-%s" % (name, version), "namespace": namespace},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name, "version": version}},
                "template": {"metadata": {"labels": {"app": name, "version": version}},
                             "spec": {"containers": [{"name": name, "image": "example.invalid/%s:%s" % (name, version)}]}},
            },
        })
    return docs


def destination_rule(namespace, name="reviews", subsets=(("stable", "v1"), ("candidate", "v2"))):
    return {
        "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"host": name, "subsets": [{"name": s, "labels": {"version": v}} for s, v in subsets]},
    }


def rich_virtual_service(namespace, name="reviews"):
    """A VirtualService with everything a user may have put there that traffic_split must not touch."""
    return {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"team": "shop"}, "annotations": {"owner": "someone-else"}},
        "spec": {
            "hosts": [name],
            "http": [
                {
                    "name": "testers",
                    "match": [{"headers": {"x-tester": {"exact": "yes"}}}],
                    "route": [{"destination": {"host": name, "subset": "candidate"}}],
                    "retries": {"attempts": 5, "perTryTimeout": "1s", "retryOn": "5xx"},
                },
                {
                    "name": "primary",
                    "timeout": "7s",
                    "retries": {"attempts": 3, "perTryTimeout": "2s"},
                    "headers": {"request": {"set": {"x-routed-by": "mesh"}}},
                    "corsPolicy": {"allowOrigins": [{"exact": "https://shop.example"}], "maxAge": "24h"},
                    "mirrorPercentage": {"value": 2.5},
                    "route": [
                        {"destination": {"host": name, "subset": "stable", "port": {"number": 9080}},
                         "weight": 100,
                         "headers": {"response": {"add": {"x-version": "stable"}}}},
                        {"destination": {"host": name, "subset": "candidate", "port": {"number": 9080}},
                         "weight": 0},
                    ],
                },
            ],
        },
    }
