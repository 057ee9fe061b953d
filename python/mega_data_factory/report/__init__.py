"""The run report: ``report.html`` from a run directory's ``_mdf/stats.json`` and
``_mdf/samples.json`` (written by the engine).

    from mega_data_factory.report import build_report
    build_report("output/run1")            # -> output/run1/report.html

The same as ``mdf report output/run1``; ``mdf run`` writes it at the end of a run when
``executor.metrics.generate_report`` is true.
"""

from __future__ import annotations

import os
from pathlib import Path

from .data import funnel, funnel_table, load_run
from .page import render

__all__ = ["build_report", "funnel", "funnel_table", "load_run", "render"]


def build_report(run_dir: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """Writes the HTML report of a finished run (atomically) and returns its path."""
    data = load_run(run_dir)
    out = Path(output) if output is not None else Path(run_dir) / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render(data), encoding="utf-8")
    os.replace(tmp, out)
    return out
