"""`crates/mdf-text/src/pychars.rs` is the output of `scripts/gen_pychars.py` (Python's `str`
predicates as range tables); regenerate it with the Python version it names. Under another
Unicode version the comparison is meaningless and the test returns early (a skip would fail
`scripts/test.sh`)."""

from __future__ import annotations

import subprocess
import sys
import unicodedata

from conftest import REPO


def test_pychars_tables_are_generated():
    committed = (REPO / "crates" / "mdf-text" / "src" / "pychars.rs").read_text(encoding="utf-8")
    if f"(Unicode {unicodedata.unidata_version})" not in committed.splitlines()[0]:
        return
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_pychars.py")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out == committed
