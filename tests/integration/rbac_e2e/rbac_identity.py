"""Least-privilege helpers: an identity bound to shipped Roles only, and the requests it made as the audit
log recorded them.

An identity here is a fresh ServiceAccount of the test's namespace with a token kubeconfig (no client
certificate, no cluster-admin), bound by RoleBindings to Roles applied from docs/rbac/ exactly as a
user applies them; nothing else grants it anything beyond what every authenticated identity has
(discovery).
"""

import os
import subprocess

import yaml

from support.istio_objects import REPO
from support.kube import kubectl, wait_for
from support.release import token_kubeconfig

RBAC = os.path.join(REPO, "docs", "rbac")
ROOT_NAMESPACE = "istio-system"


def role_name(path):
    with open(path) as fh:
        return yaml.safe_load(fh)["metadata"]["name"]


class BoundIdentity(object):
    """A ServiceAccount bound to shipped Roles: bindings is [(namespace the Role is bound in, Role file)]."""

    def __init__(self, cluster, namespace, name, bindings, path):
        self.namespace, self.name = namespace, name
        self.user = "system:serviceaccount:%s:%s" % (namespace, name)
        self.bindings = []
        kubectl("-n", namespace, "create", "serviceaccount", name)
        for where, role_file in bindings:
            kubectl("-n", where, "apply", "-f", role_file)
            binding = ("%s-%s" % (namespace, name))[:63]
            kubectl("-n", where, "create", "rolebinding", binding, "--role", role_name(role_file),
                    "--serviceaccount", "%s:%s" % (namespace, name))
            self.bindings.append((where, binding, role_file))
        self.token = kubectl("-n", namespace, "create", "token", name).stdout.strip()
        self.kubeconfig = token_kubeconfig(cluster, namespace, name, self.token, path)
        # The authorizer learns of new RoleBindings through a watch: wait until it has every one.
        for where, dummy, role_file in self.bindings:
            with open(role_file) as fh:
                rule = yaml.safe_load(fh)["rules"][0]
            resource = rule["resources"][0] + ("." + rule["apiGroups"][0] if rule["apiGroups"][0] else "")
            assert wait_for(lambda: self.can(rule["verbs"][0], resource, where), timeout=30, step=0.2), \
                "%s was not granted %s %s in %s within 30 s" % (self.user, rule["verbs"][0], resource, where)

    def can(self, verb, resource, namespace):
        proc = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, "auth", "can-i", verb, resource,
                               "-n", namespace], capture_output=True, text=True, check=False)
        return proc.stdout.strip() == "yes"

    def close(self):
        for where, binding, dummy in self.bindings:
            if where != self.namespace:  # the namespace's own go with it
                kubectl("-n", where, "delete", "rolebinding", binding, "--ignore-not-found", check=False)


def granted(role_file):
    """{(apiGroup, resource, verb)} a shipped Role grants."""
    with open(role_file) as fh:
        role = yaml.safe_load(fh)
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def needed(events):
    """{(apiGroup, resource, verb)} the requests needed, by the RBAC verbs the API server checked: a
    server-side apply that created its object (a patch answered 201) is authorized as create too."""
    out = set()
    for e in events:
        resource = e.resource + ("/" + e.subresource if e.subresource else "")
        out.add((e.group or "", resource, e.verb))
        if e.verb == "patch" and e.code == 201:
            out.add((e.group or "", resource, "create"))
    return out
