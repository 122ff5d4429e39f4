"""The audit-log reader that integration tests rely on to prove "no writes"."""

import json

from support.audit import AuditLog


def event(verb, resource, ns="ns1", name="x", stage="ResponseComplete", uri="/api", user="admin", code=200):
    return json.dumps({
        "stage": stage, "verb": verb, "requestURI": uri, "user": {"username": user},
        "objectRef": {"resource": resource, "namespace": ns, "name": name, "apiGroup": "networking.istio.io"},
        "responseStatus": {"code": code},
    }) + "\n"


def test_events_after_a_mark_only(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(event("create", "virtualservices", name="before"))
    audit = AuditLog(str(log))
    mark = audit.mark()
    with log.open("a") as fh:
        fh.write(event("get", "virtualservices", name="after"))
        fh.write(event("patch", "virtualservices", name="after"))
    assert [(e.verb, e.name) for e in audit.events(mark)] == [("get", "after"), ("patch", "after")]
    assert [(e.verb, e.name) for e in audit.writes(mark)] == [("patch", "after")]


def test_request_received_stage_and_partial_lines_are_ignored(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(event("update", "virtualservices", stage="RequestReceived")
                   + event("update", "virtualservices") + '{"stage": "Respon')
    events = AuditLog(str(log)).events(0)
    assert len(events) == 1 and events[0].verb == "update"


def test_dry_runs_are_events_but_not_writes(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(event("patch", "virtualservices", uri="/apis/networking.istio.io/v1/x?dryRun=All")
                   + event("delete", "destinationrules", ns="ns2"))
    audit = AuditLog(str(log))
    assert [e.dry_run for e in audit.events(0)] == [True, False]
    assert [(e.verb, e.namespace) for e in audit.writes(0)] == [("delete", "ns2")]
    assert audit.writes(0, namespace="ns1") == []


def test_filters_match_every_field_given(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(event("get", "virtualservices", user="system:serviceaccount:ns1:reader", code=403)
                   + event("get", "virtualservices", user="admin"))
    forbidden = AuditLog(str(log)).events(0, user="system:serviceaccount:ns1:reader", code=403)
    assert len(forbidden) == 1 and forbidden[0].resource == "virtualservices"


def test_a_refused_write_still_counts_as_a_write_attempt(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(event("patch", "virtualservices", user="system:serviceaccount:ns1:reader", code=403))
    assert [(e.verb, e.code) for e in AuditLog(str(log)).writes(0)] == [("patch", 403)]
