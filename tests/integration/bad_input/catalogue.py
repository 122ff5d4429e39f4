"""docs/bad-input.md from the rows and what a run of them printed.

    ROLLOUTS_BAD_INPUT_KEEP=/tmp/bad-input.json python -m pytest -q -p no:cacheprovider tests/integration/bad_input
    python tests/integration/bad_input/catalogue.py /tmp/bad-input.json > docs/bad-input.md

The run's names (its namespaces, ports, paths, ServiceAccount) are written as placeholders, so the table does not
change from one run to the next. test_catalogue.py checks that the table's ids are the rows' ids.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable-next=import-error,wrong-import-position
from rows import ROWS  # noqa: E402

LIMIT = 240

INTRO = """# Bad input, catalogued

What a user sees when an option, a role variable or a playbook variable cannot work. Every row is a
test (`tests/integration/bad_input/`, one row of `rows.py` each) that asserts, on the test bed:

- the run fails, and the message names the parameter as the user wrote it (the module option, such as
  `destinations[0].weight`, or the variable, such as `shift_traffic_steps[2]`);
- the API server's audit log shows **zero write requests** (create, update, patch, delete, dry runs
  included) in the window of the batch that ran the row, both in the namespaces the rows name and by
  the batch's own ServiceAccount anywhere.

The rows run in batches (all module rows as the tasks of one play, the role rows as block/rescue
around `include_role` in a few plays, the playbook rows side by side), so the whole catalogue takes a
few minutes. A row marked *pending* does not hold yet: the last column says what has to change, and its
test fails as soon as the row holds, so the mark comes off then. The one row that wrote before it
failed until preflight learnt to refuse it (`shift-traffic-approval-without-terminal`) runs beside the batches in a namespace and as a
ServiceAccount of its own, so its writes cannot hide the others'. No row needs the mesh simulator: none
gets as far as traffic. In a message, `<ns>` is the test's
namespace and `http://127.0.0.1:<port>` a local server (a port nobody listens on, or a fake Prometheus
that demands a token). The table is written by `tests/integration/bad_input/catalogue.py` from a run
of the tests (`ROLLOUTS_BAD_INPUT_KEEP=<file>`); `test_catalogue.py` checks that its ids are the rows'.

| id | where | bad input | the message the user sees |
| --- | --- | --- | --- |
"""


_RUN_NAMES = [
    (re.compile(r"system:serviceaccount:bad-input(-alone)?-[0-9a-f]{6}:bad-input"), "<serviceaccount>"),
    (re.compile(r"/\S*/no-such-kubeconfig"), "<missing file>"),
    (re.compile(r"/\S*/bad-input(-alone)?-[0-9a-f]{6}\.kubeconfig"), "<kubeconfig>"),
    (re.compile(r"bad-input(-alone)?-[0-9a-f]{6}"), "<ns>"),
    (re.compile(r"http://127\.0\.0\.1:\d+"), "http://127.0.0.1:<port>"),
]


def _clean(message):
    text = " ".join(str(message).split())
    for pattern, placeholder in _RUN_NAMES:
        text = pattern.sub(placeholder, text)
    text = re.sub(r"^(Task failed: )?Validation of arguments failed: ", "", text)
    if len(text) > LIMIT:
        text = text[:LIMIT].rstrip() + " ..."
    return text.replace("|", "\\|")


def render(kept):
    lines = [INTRO.rstrip("\n")]
    for row in ROWS:
        outcome = kept["outcomes"].get(row.id) or {}
        message = "`%s`" % _clean(outcome.get("message") or "(not run)").replace("`", "'")
        if row.pending:
            message += " *pending: %s*" % row.pending.replace("|", "\\|")
        lines.append("| %s | %s | %s | %s |" % (row.id, row.where, row.given.replace("|", "\\|"), message))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        sys.stdout.write(render(json.load(fh)))
