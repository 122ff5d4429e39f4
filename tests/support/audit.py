"""Read the API server's audit log: which requests a test (or a module run) made.

The test bed runs the API server with a Metadata-level audit policy, so every request leaves
one ResponseComplete event with its verb, resource, namespace, name and user. Tests take a
mark before the code under test runs and read the events after it, which proves for example
that a check-mode run or a rejected input wrote nothing.
"""

import json
import os
import time

WRITE_VERBS = frozenset(("create", "update", "patch", "delete", "deletecollection", "apply"))


class AuditEvent(object):
    __slots__ = ("verb", "resource", "subresource", "group", "namespace", "name", "user", "code", "uri", "dry_run")

    def __init__(self, raw):
        ref = raw.get("objectRef") or {}
        self.verb = raw.get("verb")
        self.resource = ref.get("resource")
        self.subresource = ref.get("subresource")
        self.group = ref.get("apiGroup", "")
        self.namespace = ref.get("namespace")
        self.name = ref.get("name")
        self.user = (raw.get("user") or {}).get("username")
        self.code = (raw.get("responseStatus") or {}).get("code")
        self.uri = raw.get("requestURI", "")
        self.dry_run = "dryRun=All" in self.uri

    @property
    def is_write(self):
        return self.verb in WRITE_VERBS

    def __repr__(self):
        return "<%s %s %s/%s ns=%s user=%s code=%s%s>" % (
            self.verb, self.group or "core", self.resource, self.name, self.namespace, self.user, self.code,
            " dry-run" if self.dry_run else "")


class AuditLog(object):
    # The class each line becomes (a subclass may read more of the line).
    event_class = AuditEvent

    def __init__(self, path):
        self.path = path

    def mark(self):
        """A position in the log; events after it belong to what runs next."""
        self._settle()
        return os.path.getsize(self.path)

    def _settle(self, quiet_for=0.3, limit=5.0):
        # The API server appends events as responses complete; wait until the file stops growing
        # so a mark taken right after a request does not split it.
        deadline = time.time() + limit
        size = os.path.getsize(self.path)
        while time.time() < deadline:
            time.sleep(quiet_for)
            now = os.path.getsize(self.path)
            if now == size:
                return
            size = now

    def events(self, since, **filters):
        """Events after `since` matching filters: verb, resource, group, namespace, name, user,
        writes_only=True for write verbs, and include_dry_run=False to leave dry runs out."""
        self._settle()
        writes_only = filters.pop("writes_only", False)
        include_dry_run = filters.pop("include_dry_run", True)
        out = []
        with open(self.path) as fh:
            fh.seek(since)
            for line in fh:
                try:
                    raw = json.loads(line)
                except ValueError:
                    continue  # a line still being written
                if raw.get("stage") != "ResponseComplete":
                    continue
                ev = self.event_class(raw)
                if writes_only and not ev.is_write:
                    continue
                if not include_dry_run and ev.dry_run:
                    continue
                if all(getattr(ev, k) == v for k, v in filters.items()):
                    out.append(ev)
        return out

    def writes(self, since, **filters):
        """Write requests, whatever their outcome (a refused one counts too: "no writes" means none
        was attempted), except dry runs, which by design never reach storage."""
        return self.events(since, writes_only=True, include_dry_run=False, **filters)
