# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a run of the install_istio role does, and the istioctl command lines it runs. Pure.

The role reads the cluster (the record ConfigMap of the last install, the istiod Deployment), hands
what it found here through the module rollouts.istio.istio_install_plan with the settings asked
for, and acts on the answer: install, upgrade, reconfigure, uninstall or nothing.

How "same version and settings" is known: after every install the role records, in the ConfigMap
install-istio[-<revision>] of the Istio namespace, the version and a sha256 of the settings that
shaped the install (profile, namespace, revision, --set values, overrides and the content of override
files, ingress service type). A later run with the same hash, and istiod still there, has nothing to
do; another version upgrades; other settings install again.
"""

from __future__ import annotations

import hashlib
import json
import re

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.params import check_dns_label, check_number

STATES = ("present", "absent")
ACTIONS = ("install", "upgrade", "reconfigure", "uninstall", "none")
SERVICE_TYPES = ("", "NodePort", "LoadBalancer", "ClusterIP")
DEFAULT_NAMESPACE = "istio-system"
# istioctl labels what it applies with its own version.
VERSION_LABEL = "operator.istio.io/version"
# Where the overrides file goes when none was written (check mode writes nothing).
OVERRIDES_PLACEHOLDER = "OVERRIDES.yaml"
_SET_ENTRY = re.compile(r"^[^=\s]+=")
_REMOTE = re.compile(r"^(https?|ftp|file)://")


def set_list(value, param="set"):
    """The --set values in order: a dict becomes sorted path=value (booleans as istioctl spells them)."""
    if isinstance(value, dict):
        return ["%s=%s" % (key, _istio_value(value[key])) for key in sorted(value)]
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ParameterError(param, "give a dict or a list of path=value strings, not %r" % (value,))
    for entry in value:
        if not isinstance(entry, str) or not _SET_ENTRY.match(entry):
            raise ParameterError(param, "entries look like values.global.proxy.privileged=true, not %r" % (entry,))
    return list(value)


def _istio_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def suffix(revision):
    """What a revision adds to the names of istiod and the record: '-<revision>', or ''."""
    return "-" + revision if revision else ""


def settings(version, profile, namespace, revision, sets, overrides, override_files_content, ingress_service_type):
    """The settings that shape an install, as the record keeps them.

    ``override_files_content`` is the base64 content of each override file (as slurp returns it);
    the record keeps the sha256 of that text, so a file whose content changes changes the hash.
    """
    return {
        "version": str(version),
        "profile": profile,
        "namespace": namespace,
        "revision": revision,
        "set": list(sets),
        "overrides": overrides,
        "override_files": [hashlib.sha256(c.encode("utf-8")).hexdigest() for c in override_files_content],
        "ingress_service_type": ingress_service_type,
    }


def settings_hash(values):
    """The sha256 of the settings as sorted JSON (the same text Ansible's to_json(sort_keys=true) makes)."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode("utf-8")).hexdigest()


def installed_version(istiod_labels, record):
    """The version istiod was installed with: istioctl's label, else the record's, else ''."""
    if istiod_labels and istiod_labels.get(VERSION_LABEL):
        return str(istiod_labels[VERSION_LABEL])
    return str((record or {}).get("version") or "")


def decide(state, version, digest, installed, record, current_version):
    """install / upgrade / reconfigure / uninstall / none, from what the cluster has."""
    if state == "absent":
        return "uninstall" if installed or record else "none"
    if not installed:
        return "install"
    if current_version not in ("", str(version)):
        return "upgrade"
    if (record or {}).get("settings_hash", "") == digest:
        return "none"
    return "reconfigure"


def describe(action, state, version, profile, namespace, revision, digest, record, current_version):
    """One sentence for the user: what this run does and why."""
    if action == "none" and state == "present":
        return ("Istio %s (profile %s) is already installed in %s with the same settings (hash %s): "
                "nothing to change." % (version, profile, namespace, digest[:12]))
    if action == "none":
        return "Istio%s is not installed in %s: nothing to uninstall." % (
            " revision " + revision if revision else "", namespace)
    if action == "upgrade":
        return "Upgrading Istio in %s from %s to %s." % (namespace, current_version, version)
    if action == "reconfigure":
        return "Istio in %s was installed with other settings%s: installing again with these." % (
            namespace, "" if record else " (or not by this role)")
    return "%s Istio %s in %s." % (action.capitalize(), version, namespace)


def overrides_document(overrides):
    """The IstioOperator file for the overrides: as given when it has a spec, else wrapped in one."""
    if not overrides:
        return None
    if "spec" in overrides:
        return overrides
    return {"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "spec": overrides}


def kube_args(kubeconfig, context):
    return (["--kubeconfig", kubeconfig] if kubeconfig else []) + (["--context", context] if context else [])


def settings_args(profile, namespace, revision, ingress_service_type, sets, overrides, override_files,
                  overrides_file=None):
    """The istioctl arguments that describe this install, shared by install and upgrade."""
    argv = ["--set", "profile=" + profile]
    if revision:
        argv += ["--revision", revision]
    if namespace != DEFAULT_NAMESPACE:
        argv += ["--set", "namespace=" + namespace, "--set", "values.global.istioNamespace=" + namespace]
    if ingress_service_type:
        argv += ["--set", "values.gateways.istio-ingressgateway.type=" + ingress_service_type]
    if overrides:
        argv += ["-f", overrides_file or OVERRIDES_PLACEHOLDER]
    for path in override_files:
        argv += ["-f", path]
    # The user's --set values come last, so they win over the role's.
    for entry in sets:
        argv += ["--set", entry]
    return argv


def analyze_argv(istioctl, namespace, kubeconfig, context, revision):
    return ([istioctl, "analyze", "--namespace", namespace, "--failure-threshold", "Error"]
            + kube_args(kubeconfig, context) + (["--revision", revision] if revision else []))


def prometheus_manifest(manifest, release_dir, install_dir):
    """Where the Prometheus addon manifest comes from (src), whether it is downloaded, and where it is read.

    The release's samples/addons/prometheus.yaml by default; a URL is saved in the install directory
    under a name made from its hash, so a second URL never overwrites the first.
    """
    remote = bool(manifest and _REMOTE.match(manifest))
    src = manifest or release_dir + "/samples/addons/prometheus.yaml"
    local = ("%s/prometheus-%s.yaml" % (install_dir, hashlib.sha1(manifest.encode("utf-8")).hexdigest()[:12])
             if remote else src)
    return {"src": src, "remote": remote, "local": local}


def release(istioctl_path, install_dir, version):
    """The istioctl that runs and its release directory: the one given (its bin/ directory's parent), or
    the pinned release unpacked as <install_dir>/istio-<version>/bin/istioctl."""
    if istioctl_path:
        return {"istioctl": istioctl_path, "release_dir": _parent(_parent(istioctl_path)), "download": False}
    top = "%s/istio-%s" % (install_dir.rstrip("/") or "", version)
    return {"istioctl": top + "/bin/istioctl", "release_dir": top, "download": True}


def _parent(path):
    head = path.rstrip("/").rpartition("/")[0]
    return head or ("/" if path.startswith("/") else ".")


def check_inputs(p):
    """Every option the plan needs, checked; a ParameterError names the one at fault."""
    if p["state"] not in STATES:
        raise ParameterError("state", "must be present or absent, not %r" % (p["state"],))
    for name in ("version", "profile"):
        if not str(p[name] or ""):
            raise ParameterError(name, "must not be empty")
    check_dns_label(p["namespace"], "namespace", "namespace")
    if p["revision"]:
        check_dns_label(p["revision"], "revision", "revision")
    if p["ingress_service_type"] not in SERVICE_TYPES:
        raise ParameterError("ingress_service_type", "must be one of %s, not %r"
                             % (", ".join(repr(t) for t in SERVICE_TYPES), p["ingress_service_type"]))
    if not isinstance(p["overrides"], dict):
        raise ParameterError("overrides", "must be a dict (an IstioOperator or its spec), not %r" % (p["overrides"],))
    check_number(p["wait_timeout"], "wait_timeout", minimum=1, integer=True)
    if len(p["override_files_content"]) != len(p["override_files"]):
        raise ParameterError("override_files_content", "give one content per entry of override_files (%d), "
                             "got %d" % (len(p["override_files"]), len(p["override_files_content"])))


def plan(p):
    """The whole plan of one run, from the options of istio_install_plan (a dict of them).

    Returns action, message, the istioctl that runs and its release directory, the settings and their hash, the names of the record and istiod, the
    istioctl command lines (argv lists) for the action, for an uninstall with purge and for each
    namespace `istioctl analyze` looks at, the overrides document and the Prometheus manifest paths.
    """
    check_inputs(p)
    sets = set_list(p["set"])
    where = release(p["istioctl_path"], p["install_dir"], p["version"])
    istioctl = where["istioctl"]
    values = settings(p["version"], p["profile"], p["namespace"], p["revision"], sets, p["overrides"],
                      p["override_files_content"], p["ingress_service_type"])
    digest = settings_hash(values)
    record = p["record"] or {}
    installed = bool(p["istiod"])
    current = installed_version((p["istiod"] or {}).get("labels"), record)
    action = decide(p["state"], p["version"], digest, installed, record, current)
    kube = kube_args(p["kubeconfig"], p["context"])
    argv = []
    if action in ("install", "upgrade", "reconfigure"):
        argv = ([istioctl, "upgrade" if action == "upgrade" else "install", "-y"] + kube
                + settings_args(p["profile"], p["namespace"], p["revision"], p["ingress_service_type"], sets,
                                p["overrides"], p["override_files"], p["overrides_file"])
                + ["--readiness-timeout", "%ds" % p["wait_timeout"]])
    analyze = []
    for namespace in p["analyze_namespaces"] or [p["namespace"]] + list(p["injection_namespaces"]):
        if namespace not in [a["namespace"] for a in analyze]:
            analyze.append({"namespace": namespace, "argv": analyze_argv(
                istioctl, namespace, p["kubeconfig"], p["context"], p["revision"])})
    return {
        "action": action,
        "message": describe(action, p["state"], p["version"], p["profile"], p["namespace"], p["revision"], digest,
                            record, current),
        "installed": installed,
        "installed_version": current,
        "settings": values,
        "settings_hash": digest,
        "set": sets,
        "record_name": "install-istio" + suffix(p["revision"]),
        "istiod": "istiod" + suffix(p["revision"]),
        "argv": argv,
        "istioctl": istioctl,
        "release_dir": where["release_dir"],
        "download": where["download"],
        "uninstall_purge_argv": [istioctl, "uninstall", "-y", "--purge"] + kube,
        "analyze": analyze,
        "overrides_document": overrides_document(p["overrides"]),
        "prometheus_manifest": prometheus_manifest(p["prometheus_manifest"], where["release_dir"], p["install_dir"]),
    }
