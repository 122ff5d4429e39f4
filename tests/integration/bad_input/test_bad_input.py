"""Every row of docs/bad-input.md: the bad input is refused with a message that names the option or
variable the user set, and the API server's audit log shows no write request (dry runs included) in
the window of the batch that ran it, neither in the namespaces the rows name nor by the batch's own
ServiceAccount anywhere. The batches are conftest.py's; this file reads their outcomes."""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable-next=import-error,wrong-import-position
from rows import ROWS  # noqa: E402


def names(message, param):
    """Whether the message names the parameter as a word of its own: `name` is not in `namespace`."""
    return re.search(r"(?<![\w.-])%s(?![\w-])" % re.escape(param), message) is not None


def _holds(row, outcome, batches):
    """(whether the row holds, why not)."""
    writes, own_writes = batches.writes(row)
    problems = []
    if outcome is None:
        problems.append("the row did not run")
    elif not outcome.failed:
        problems.append("the bad input was accepted")
    else:
        missing = [text for text in row.expect if not names(outcome.message, text)]
        if missing:
            problems.append("the message does not name %s: %r" % (", ".join(missing), outcome.message[:1500]))
    if writes:
        problems.append("write requests in the row's namespaces: %s" % writes)
    if own_writes:
        problems.append("write requests by the row's ServiceAccount: %s" % own_writes)
    return not problems, "; ".join(problems)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_is_refused_naming_it_and_writes_nothing(row, batches):
    outcome = batches.outcomes.get(row.id)
    holds, why = _holds(row, outcome, batches)
    if row.pending:
        # A pending row's writes are excused only when the row runs alone (family "alone"): in a batch they
        # would hide the other rows' writes.
        assert row.family == "alone" or batches.writes(row) == ([], []), why
        assert not holds, "%s holds now: take its pending mark off (%s)" % (row.id, row.pending)
        pytest.xfail("pending: %s (%s)" % (row.pending, why))
    assert holds, "%s (%s): %s\n%r" % (row.id, row.given, why, outcome)
