# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What to do with a minikube cluster: pure planning, no I/O.

The module rollouts.istio.minikube_cluster reads `minikube profile list -o json`, hands it here
with the settings the user asked for, and runs (or, in check mode, only shows) the command
lines of the plan. Everything that decides lives in this file so that it is unit-tested
without minikube.
"""

from __future__ import annotations

import json
import re
import shlex

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError, RolloutsError

# The profile states of `minikube profile list -o json` (minikube's cluster state names).
RUNNING_STATES = frozenset(("OK", "Running", "HAppy", "Warning", "Degraded", "Starting"))
STOPPED_STATES = frozenset(("Stopped", "Error", "Unknown", "NotFound", "InsufficientStorage"))
PAUSED_STATES = frozenset(("Paused",))

# The settings that identify a cluster, in the order they are reported.
SETTINGS = ("memory_mb", "cpus", "kubernetes_version", "driver", "container_runtime", "extra_config")

_MEMORY = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNIT_MB = {"": 1, "k": 1.0 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
_EXTRA_CONFIG = re.compile(r"^[a-z-]+\.[^=\s]+=.*$")


class PlanError(ParameterError):
    """An option that cannot make a valid minikube command line; the message starts with its name
    ("memory must be a size ...") and ``param`` names it for the result."""

    def __init__(self, param, msg, **result):
        super(PlanError, self).__init__(param, msg, **result)
        self.args = ("%s %s" % (param, msg),)

    def __str__(self):
        return self.args[0]


def parse_memory_mb(value, param="memory"):
    """Memory as minikube takes it (8192, "8192mb", "8g", "8GiB") in MB, or None if unset."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PlanError(param, "must be a size such as 8192 (MB) or 8g, not %r" % (value,))
    if isinstance(value, int):
        mb = value
    else:
        match = _MEMORY.match(str(value))
        if not match:
            raise PlanError(param, "must be a size such as 8192 (MB) or 8g, not %r" % (value,))
        mb = int(int(match.group(1)) * _UNIT_MB[match.group(2).lower()])
    if mb <= 0:
        raise PlanError(param, "must be more than 0 MB (for example 8192 or 8g), not %r" % (value,))
    return mb


def normalize_kubernetes_version(value):
    """'1.34.0' and 'v1.34.0' are the same version; 'stable'/'latest' are passed through."""
    if not value:
        return None
    value = str(value).strip()
    if value in ("stable", "latest"):
        return value
    if not re.match(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$", value):
        raise PlanError("kubernetes_version", "must look like v1.34.0 (or be stable/latest), not %r" % value)
    return value if value.startswith("v") else "v" + value


def normalize_runtime(value):
    if not value:
        return None
    value = str(value).strip().lower()
    return "crio" if value == "cri-o" else value


def desired_settings(memory=None, cpus=None, kubernetes_version=None, driver=None, container_runtime=None,
                     extra_config=None):
    """The settings the user asked for, normalized; None means 'not asked, not compared'."""
    if cpus is not None and (isinstance(cpus, bool) or int(cpus) <= 0):
        raise PlanError("cpus", "must be a positive number, not %r" % (cpus,))
    extras = None
    if extra_config:
        for item in extra_config:
            if not _EXTRA_CONFIG.match(str(item)):
                raise PlanError("extra_config", "entries look like component.key=value (for example "
                                "apiserver.enable-admission-plugins=NamespaceLifecycle), not %r" % (item,))
        extras = sorted(set(str(i) for i in extra_config))
    return {
        "memory_mb": parse_memory_mb(memory),
        "cpus": int(cpus) if cpus is not None else None,
        "kubernetes_version": normalize_kubernetes_version(kubernetes_version),
        "driver": str(driver).strip().lower() if driver else None,
        "container_runtime": normalize_runtime(container_runtime),
        "extra_config": extras,
    }


def find_profile(profile_list, name):
    """The entry for `name` in `minikube profile list -o json`, valid or invalid, or None."""
    for key in ("valid", "invalid"):
        for entry in (profile_list or {}).get(key) or []:
            if entry.get("Name") == name:
                return dict(entry, _valid=(key == "valid"))
    return None


def actual_settings(entry):
    """The settings a profile was created with, from its Config in the profile list."""
    config = (entry or {}).get("Config") or {}
    kube = config.get("KubernetesConfig") or {}
    extras = []
    for opt in kube.get("ExtraOptions") or []:
        extras.append("%s.%s=%s" % (opt.get("Component"), opt.get("Key"), opt.get("Value")))
    version = kube.get("KubernetesVersion")
    return {
        "memory_mb": config.get("Memory"),
        "cpus": config.get("CPUs"),
        "kubernetes_version": normalize_kubernetes_version(version) if version else None,
        "driver": (config.get("Driver") or "").lower() or None,
        "container_runtime": normalize_runtime(kube.get("ContainerRuntime")),
        "extra_config": sorted(extras),
    }


def differences(desired, actual):
    """[{setting, current, desired}] for every setting asked for that the cluster does not have.

    Extra config is compared one way: each option asked for must be set; options that minikube
    or an earlier run added and that were not asked for are not a difference.
    """
    out = []
    for key in SETTINGS:
        want = desired.get(key)
        if want is None or want in ("stable", "latest"):
            continue
        have = actual.get(key)
        if key == "extra_config":
            missing = [e for e in want if e not in (have or [])]
            if missing:
                out.append({"setting": key, "current": have or [], "desired": want})
        elif have != want:
            out.append({"setting": key, "current": have, "desired": want})
    return out


def start_argv(minikube, profile, desired, start_args=None, wait_timeout=None):
    """The `minikube start` command line for these settings."""
    argv = [minikube, "start", "-p", profile]
    if desired.get("driver"):
        argv.append("--driver=%s" % desired["driver"])
    if desired.get("container_runtime"):
        argv.append("--container-runtime=%s" % desired["container_runtime"])
    if desired.get("kubernetes_version"):
        argv.append("--kubernetes-version=%s" % desired["kubernetes_version"])
    if desired.get("memory_mb") is not None:
        argv.append("--memory=%d" % desired["memory_mb"])
    if desired.get("cpus") is not None:
        argv.append("--cpus=%d" % desired["cpus"])
    for extra in desired.get("extra_config") or []:
        argv.append("--extra-config=%s" % extra)
    if wait_timeout:
        argv.append("--wait-timeout=%ss" % int(wait_timeout))
    argv.extend(str(a) for a in (start_args or []))
    return argv


def command_line(argv):
    """One argv as the shell line a person would type."""
    return " ".join(shlex.quote(str(a)) for a in argv)


def status_of(entry):
    """'missing', 'broken', 'running', 'paused' or 'stopped' (what a start has to do with it).

    A profile that minikube lists as invalid without a config (left by a start that failed early)
    is 'broken': there is no cluster to compare, only a profile directory to start over in.
    """
    if entry is None:
        return "missing"
    status = entry.get("Status") or "Unknown"
    if not entry.get("Config"):
        return "broken"
    if not entry.get("_valid", True):
        return "stopped"
    if status in RUNNING_STATES:
        return "running"
    if status in PAUSED_STATES:
        return "paused"
    return "stopped"


def plan(state, profile, desired, entry, minikube="minikube", recreate=False, start_args=None,
         wait_timeout=None):
    """Decide what to do with profile `profile`.

    Returns a dict: action (a word for the report), commands (argv lists, in order), differences
    (settings that differ from what is asked), drift (True when a cluster differs and is left as
    it is), and warnings (sentences for the user).
    """
    if state not in ("started", "stopped", "absent"):
        raise PlanError("state", "must be started, stopped or absent, not %r" % (state,))
    current = status_of(entry)
    diffs = differences(desired, actual_settings(entry)) if current not in ("missing", "broken") else []
    result = {"action": "none", "commands": [], "differences": diffs, "drift": False, "warnings": [],
              "status": current}
    delete = [minikube, "delete", "-p", profile]

    if state == "absent":
        if current != "missing":
            result.update(action="delete", commands=[delete])
        return result

    if state == "stopped":
        if current in ("running", "paused"):
            result.update(action="stop", commands=[[minikube, "stop", "-p", profile]])
        elif current in ("missing", "broken"):
            result["warnings"].append("minikube profile %r does not exist; there is nothing to stop" % profile)
        return result

    start = start_argv(minikube, profile, desired, start_args, wait_timeout)
    if current in ("missing", "broken"):
        if current == "broken":
            result["warnings"].append("minikube profile %r exists without a cluster config (an earlier start "
                                      "failed); starting it with the settings asked for" % profile)
        result.update(action="create", commands=[start])
        return result
    if diffs and recreate:
        result.update(action="recreate", commands=[delete, start])
        return result
    if diffs:
        result["drift"] = True
        result["warnings"].append(
            "minikube profile %r was created with other settings (%s); it is left as it is. Set recreate "
            "(install_minikube_recreate: true) to delete it and start it again with the settings asked for"
            % (profile, describe_differences(diffs)))
    if current == "running":
        update = [minikube, "update-context", "-p", profile]
        if entry.get("ActiveKubeContext") is False:
            result.update(action="set-context", commands=[update])
        return result
    if current == "paused":
        result.update(action="unpause", commands=[[minikube, "unpause", "-p", profile]])
        return result
    # Stopped: start it again. A cluster that differs restarts with the settings it has, since
    # `minikube start` with other settings would try to change (or upgrade) it in place.
    restart = [minikube, "start", "-p", profile] if diffs else start
    result.update(action="start", commands=[restart])
    return result


def describe_differences(diffs):
    def show(value):
        if isinstance(value, list):
            return "[%s]" % ", ".join(value)
        return str(value)
    return "; ".join("%s is %s, asked for %s" % (d["setting"], show(d["current"]), show(d["desired"]))
                     for d in diffs)


def check_resources(desired, host_memory_mb=None, host_cpus=None, need_memory_mb=None, need_cpus=None,
                    workload="the workload"):
    """Messages for settings that cannot work: less than the workload needs, more than the host has."""
    problems = []
    memory = desired.get("memory_mb")
    cpus = desired.get("cpus")
    if need_memory_mb and memory is not None and memory < need_memory_mb:
        problems.append("memory %d MB is less than %s needs (%d MB)" % (memory, workload, need_memory_mb))
    if need_cpus and cpus is not None and cpus < need_cpus:
        problems.append("cpus %d is fewer than %s needs (%d)" % (cpus, workload, need_cpus))
    if host_memory_mb and memory is not None and memory > host_memory_mb:
        problems.append("memory %d MB is more than this host has (%d MB)" % (memory, host_memory_mb))
    if host_cpus and cpus is not None and cpus > host_cpus:
        problems.append("cpus %d is more than this host has (%d)" % (cpus, host_cpus))
    return problems


# minikube's reason codes (exit messages) and what to tell the user about them.
_REASON_HINTS = (
    ("PROVIDER_DOCKER_NOT_RUNNING", "the docker driver needs a running Docker engine on this host"),
    ("PROVIDER_DOCKER_NOT_FOUND", "the docker driver needs Docker installed on this host"),
    ("PROVIDER_", "the driver's provider is not usable on this host; choose another driver"),
    ("DRV_", "the driver cannot be used on this host; choose another driver"),
    ("RSRC_INSUFFICIENT", "the host has fewer resources than asked for; lower memory or cpus"),
    ("K8S_", "minikube could not set up this Kubernetes version"),
    ("INET_", "minikube could not download what it needs; is the network reachable?"),
    ("GUEST_", "minikube could not prepare the cluster's machine"),
)


def explain_failure(output):
    """A one-line reason for a failed minikube command, from its output."""
    output = output or ""
    code = None
    # minikube's own words first ("X Exiting due to CODE: ..."); output also holds names such as
    # MINIKUBE_HOME that look like codes.
    match = re.search(r"Exiting due to ([A-Z][A-Z0-9_]+)", output) or re.search(
        r"\b([A-Z]+_[A-Z0-9_]*(?:NOT_|INSUFFICIENT|UNAVAILABLE|FAILED|ERROR)[A-Z0-9_]*)\b", output)
    if match:
        code = match.group(1)
    for prefix, hint in _REASON_HINTS:
        if code and code.startswith(prefix):
            return "%s (%s)" % (hint, code)
    if code:
        return "minikube exited with %s" % code
    return "minikube failed"


def parse_profile_list(rc, out, err, minikube="minikube"):
    """The answer of ``minikube profile list -o json`` as {valid: [...], invalid: [...]}.

    minikube may print warning lines before the JSON document, and reports "no profile" as a
    non-zero exit, a message or an error object depending on its version: all of those are an
    empty list. Anything else that is not JSON is an error naming the command.
    """
    out, err = out or "", err or ""
    data = None
    for line in reversed(out.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
                break
            except ValueError:
                continue
    if data is None:
        if rc == 0 or "No minikube profile was found" in (out + err) or "MK_USAGE_NO_PROFILE" in (out + err):
            return {"valid": [], "invalid": []}
        raise RolloutsError("`%s profile list -o json` failed: %s" % (minikube, (err or out).strip()[-1000:]), rc=rc)
    if data.get("error") and not data.get("valid"):
        return {"valid": [], "invalid": []}
    return data
