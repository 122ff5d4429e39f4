# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A workload's revision: what a rollout releases, as a short hash. Pure.

A revision is the pod template's ``spec`` (image, command, ports, env, resources, volumes ...) and
the data of every ConfigMap and Secret that spec references: a change of any of them is a new
revision and is released through a rollout; the same revision again is nothing to do.

The template's ``metadata`` is left out on purpose: other controllers add annotations there
(kubectl rollout restart's restartedAt, sidecar injectors, policy engines), and such an
annotation is no change of what runs. Labels are left out for the same reason; the version label
that selects a subset is the version's name, which a rollout already compares.

Secrets: only a hash of their data enters the revision; their data is never kept or returned.
"""

from __future__ import annotations

import hashlib
import json

REVISION_LENGTH = 16
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def _canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _sha(value):
    return hashlib.sha256(_canonical(value).encode("utf-8")).hexdigest()


def references(pod_spec):
    """(ConfigMap names, Secret names) the pod spec references, each sorted, without repeats.

    Volumes (configMap, secret, projected sources), envFrom and env valueFrom of every container,
    init and ephemeral containers included. imagePullSecrets are not data the pods run with, so
    they do not count.
    """
    configmaps, secrets = set(), set()
    spec = pod_spec or {}
    for volume in spec.get("volumes") or []:
        if (volume.get("configMap") or {}).get("name"):
            configmaps.add(volume["configMap"]["name"])
        if (volume.get("secret") or {}).get("secretName"):
            secrets.add(volume["secret"]["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("configMap") or {}).get("name"):
                configmaps.add(source["configMap"]["name"])
            if (source.get("secret") or {}).get("name"):
                secrets.add(source["secret"]["name"])
    for key in CONTAINER_LISTS:
        for container in spec.get(key) or []:
            for source in container.get("envFrom") or []:
                if (source.get("configMapRef") or {}).get("name"):
                    configmaps.add(source["configMapRef"]["name"])
                if (source.get("secretRef") or {}).get("name"):
                    secrets.add(source["secretRef"]["name"])
            for env in container.get("env") or []:
                value_from = env.get("valueFrom") or {}
                if (value_from.get("configMapKeyRef") or {}).get("name"):
                    configmaps.add(value_from["configMapKeyRef"]["name"])
                if (value_from.get("secretKeyRef") or {}).get("name"):
                    secrets.add(value_from["secretKeyRef"]["name"])
    return sorted(configmaps), sorted(secrets)


def _data(obj):
    """What of a ConfigMap or Secret the pods see: data and binaryData; None for one that does not exist."""
    if obj is None:
        return None
    return {"data": obj.get("data") or {}, "binaryData": obj.get("binaryData") or {}}


def revision(pod_template, configmaps=None, secrets=None):
    """The short sha256 hex of the pod template's spec and the data it references.

    ``configmaps`` and ``secrets`` map each name ``references`` gives to the object read (None
    when it does not exist, as an optional reference may not). Keys not referenced are ignored,
    so a caller may pass more. The order of keys anywhere does not matter.
    """
    spec = (pod_template or {}).get("spec") or {}
    names_cm, names_secret = references(spec)
    configmaps, secrets = configmaps or {}, secrets or {}
    material = {
        "spec": spec,
        "configmaps": dict((n, _data(configmaps.get(n))) for n in names_cm),
        # A Secret's data enters only through its own hash: nothing here can show it.
        "secrets": dict((n, None if secrets.get(n) is None else _sha(_data(secrets[n]))) for n in names_secret),
    }
    return _sha(material)[:REVISION_LENGTH]


def describe(kind, namespace, name, rev, configmaps, secrets):
    """What the record keeps about the candidate's workload: names and the revision, never data."""
    return {"kind": kind, "namespace": namespace, "name": name, "revision": rev,
            "configmaps": list(configmaps), "secrets": list(secrets)}
