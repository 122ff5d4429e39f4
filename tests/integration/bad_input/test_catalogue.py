"""docs/bad-input.md and the rows are one list: no row of the table without a test, no test without a row."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable-next=import-error,wrong-import-position
from rows import ROWS  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DOC = os.path.join(REPO, "docs", "bad-input.md")
ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def table_ids():
    ids = []
    with open(DOC) as fh:
        for line in fh:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if line.startswith("|") and cells and cells[0] not in ("id", "---"):
                ids.append(cells[0])
    return ids


def test_the_table_lists_exactly_the_tested_rows():
    ids = table_ids()
    assert len(ids) == len(set(ids)), "ids listed twice: %s" % sorted(i for i in set(ids) if ids.count(i) > 1)
    tested = [r.id for r in ROWS]
    assert len(tested) == len(set(tested)), "rows with the same id"
    assert set(ids) - set(tested) == set(), "rows of the table without a test"
    assert set(tested) - set(ids) == set(), "tests without a row of the table"
    assert all(ID.match(i) for i in ids), [i for i in ids if not ID.match(i)]
    assert len(ids) >= 45
