"""Reads a run directory's ``_mdf/`` files and derives what the report and ``mdf stats`` show."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

META_DIR = "_mdf"


@dataclass
class RunData:
    run_dir: Path
    stats: dict[str, Any]
    manifest: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, Any] = field(default_factory=dict)


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def load_run(run_dir: str | Path) -> RunData:
    """Loads ``stats.json`` (required), ``manifest.json`` and ``samples.json`` (optional)."""
    root = Path(run_dir)
    meta = root / META_DIR
    stats_path = meta / "stats.json"
    if not stats_path.is_file():
        raise FileNotFoundError(
            f"{stats_path} not found: {root} is not a finished mdf run directory "
            "(give the writer's output_path)"
        )
    data = RunData(run_dir=root, stats=_read_json(stats_path))
    for name, attr in (("manifest.json", "manifest"), ("samples.json", "samples")):
        path = meta / name
        if path.is_file():
            setattr(data, attr, _read_json(path))
    return data


@dataclass
class FunnelStep:
    """Records left after one step of the pipeline."""

    stage: str
    label: str
    records: int
    removed: int
    reasons: dict[str, int]


def funnel(stats: dict[str, Any]) -> list[FunnelStep]:
    """Input, then the records left after each operator (in pipeline order)."""
    steps = [
        FunnelStep(
            stage="",
            label="input",
            records=stats["input_records"],
            removed=0,
            reasons={},
        )
    ]
    for op in stats["operators"]:
        reasons = dict(op["dropped"])
        if op["errors"]:
            reasons["errors"] = op["errors"]
        steps.append(
            FunnelStep(
                stage=op["stage"],
                label=f"{op['stage']}/{op['name']}",
                records=op["out"],
                removed=op["in"] - op["out"],
                reasons=reasons,
            )
        )
    return steps


def pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 100.0


def funnel_table(stats: dict[str, Any]) -> str:
    """The funnel as a plain-text table (``mdf stats``)."""
    steps = funnel(stats)
    first = steps[0].records
    rows = [("step", "records", "% of input", "% of previous", "removed", "reasons")]
    previous = first
    for step in steps:
        reasons = ", ".join(f"{k}={v:,}" for k, v in sorted(step.reasons.items()))
        rows.append(
            (
                step.label,
                f"{step.records:,}",
                f"{pct(step.records, first):.1f}",
                f"{pct(step.records, previous):.1f}",
                f"{step.removed:,}",
                reasons or "-",
            )
        )
        previous = step.records
    rows.append(("output (written)", f"{stats['output_records']:,}", "", "", "", ""))
    if stats.get("input_rejects"):
        bad = ", ".join(f"{k}={v:,}" for k, v in sorted(stats["input_rejects"].items()))
        rows.append(("bad input (not counted above)", "", "", "", "", bad))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    numeric = {1, 2, 3, 4}
    lines = []
    for r in rows:
        cells = [
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def bin_bounds(key: int) -> tuple[float, float]:
    """``[lo, hi)`` of a histogram bin key; mirrors ``Histogram::bin_bounds`` in Rust (the bin
    key is the top 16 bits of the value's IEEE-754 double)."""

    def edge(m: int) -> float:
        return struct.unpack("<d", struct.pack("<Q", m << 48))[0]

    if key >= 0:
        return edge(key), edge(key + 1)
    m = -(key + 1)
    return -edge(m + 1), -edge(m)


def histograms(stats: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every histogram in the stats that counted a value, titled: run-level first, then per
    operator column (a column that was null everywhere has nothing to draw)."""
    titles = {"input.text_bytes": "text length, bytes (input)"}
    titles["output.text_bytes"] = "text length, bytes (output)"
    out = [(titles.get(k, k), h) for k, h in sorted((stats.get("histograms") or {}).items())]
    for op in stats["operators"]:
        for column, h in sorted((op.get("histograms") or {}).items()):
            out.append((f"{column} ({op['stage']}/{op['name']})", h))
    return [(title, h) for title, h in out if h.get("count")]
