# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout's report as a flow: read the record from the cluster, let the core render it, write the files.

The record is read as rollout_info reads it (the VirtualService through set_split's reader, the record
through rollout_record). Each file is written only when its bytes differ from what is there, through
a temporary file in the same directory and a rename, so a reader never sees half a report and a
second run over the same record changes nothing.
"""

from __future__ import annotations

import os
import tempfile

from ansible_collections.rollouts.istio.plugins.module_utils._core import report as REPORT
from ansible_collections.rollouts.istio.plugins.module_utils._core import rollout_record as REC
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError, RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._flows.set_split import read_virtual_service


class LocalFiles(object):
    """The report's files on this host (a fake in unit tests)."""

    def check_dir(self, path):
        """An error message when ``path`` cannot hold the report, else None (a missing one is made)."""
        if os.path.exists(path) and not os.path.isdir(path):
            return "%s is not a directory" % path
        parent = path
        while not os.path.exists(parent):
            parent = os.path.dirname(parent) or "."
        if not os.access(parent, os.W_OK | os.X_OK):
            return "%s cannot be written by this user" % parent
        return None

    def read(self, path):
        try:
            with open(path, "rb") as fh:
                return fh.read().decode("utf-8", "replace")
        except (IOError, OSError):
            return None

    def write(self, path, text):
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".report-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(text.encode("utf-8"))
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise


def read_report(api, name, namespace, virtual_service):
    """The report's data from the record on ``namespace/virtual_service``; a missing record is an error."""
    param = "virtual_service" if virtual_service != name else "name"
    carrier = read_virtual_service(api, namespace, virtual_service, param=param)
    record = REC.read_record(carrier, name)
    if record is None:
        raise ParameterError(param, "VirtualService %s/%s carries no record of rollout %s: there is nothing to "
                                    "report (a rollout is recorded by its first run)" % (namespace, virtual_service, name))
    return REPORT.build(record, namespace=namespace, virtual_service=virtual_service)


def write_report(connect, name, namespace, virtual_service, dest, formats, check_mode=False, files=None):
    """Render ``formats`` of the rollout's report into ``dest``; returns (the module's result, the JSON's diff).

    ``connect()`` gives the Istio API; it is called once ``dest`` and ``formats`` are known to be good.
    Nothing is written in check mode, or before every format has been rendered: bad input and a record
    that cannot be read fail before any file changes.
    """
    files = files or LocalFiles()
    if not dest:
        raise ParameterError("dest", "give the directory to write the report into")
    unknown = [f for f in formats if f not in REPORT.FORMATS]
    if unknown or not formats:
        raise ParameterError("formats", "must be one or more of %s, got %s"
                             % (", ".join(REPORT.FORMATS), ", ".join(map(str, formats)) or "none"))
    dest = os.path.abspath(dest)
    problem = files.check_dir(dest)
    if problem:
        raise ParameterError("dest", problem)
    report = read_report(connect(), name, namespace, virtual_service)
    names = REPORT.file_names(name)
    texts = dict((fmt, REPORT.render(report, fmt)) for fmt in formats)
    paths = dict((fmt, os.path.join(dest, names[fmt])) for fmt in formats)
    before = dict((fmt, files.read(paths[fmt])) for fmt in formats)
    written = [paths[fmt] for fmt in formats if before[fmt] != texts[fmt]]
    if not check_mode:
        for fmt in formats:
            if before[fmt] != texts[fmt]:
                try:
                    files.write(paths[fmt], texts[fmt])
                except (IOError, OSError) as exc:
                    raise RolloutsError("cannot write %s: %s" % (paths[fmt], exc), param="dest")
    result = {"changed": bool(written), "paths": paths, "written": written, "phase": report["phase"],
              "outcome": report["outcome"], "gates": len(report["gates"]),
              "failed_gates": len([g for g in report["gates"] if g["verdict"] == "fail"])}
    diff = None
    if "json" in formats:
        diff = {"before": before["json"] or "", "after": texts["json"],
                "before_header": paths["json"] + (" (absent)" if before["json"] is None else ""),
                "after_header": paths["json"]}
    return result, diff
