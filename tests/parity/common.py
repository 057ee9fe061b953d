"""Shared set-up of the parity tests: the real article texts of ``shared/data/article-extraction``
(read in place next to the repo, never copied into it; the tests skip when they are missing) and
running one mdf pipeline with rejected samples on, collecting what it kept and what it dropped."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf
from conftest import write_jsonl

__all__ = [
    "GROUND_TRUTH",
    "compare_decisions",
    "compare_rewrites",
    "ground_truth_texts",
    "read_rejects",
    "run_mdf",
    "url_filter_decisions",
    "write_jsonl",
]

GROUND_TRUTH = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "article-extraction"
    / "ground-truth.json"
)


def ground_truth_texts() -> list[str]:
    """The non-empty main texts of the ground truth, by page key; skips the test when missing."""
    if not GROUND_TRUTH.exists():
        pytest.skip(f"real texts not found at {GROUND_TRUTH} (the shared/ folder beside the repo)")
    data = json.loads(GROUND_TRUTH.read_text(encoding="utf-8"))
    return [v["articleBody"] for _, v in sorted(data.items()) if v.get("articleBody")]


def read_rejects(out: Path) -> dict[str, dict]:
    """The rejects of a run directory by record id (each with `record` and `reason`)."""
    dropped: dict[str, dict] = {}
    for p in sorted((out / "_mdf" / "rejects").glob("*.jsonl")):
        # split("\n"), not splitlines(): JSON text may hold a raw U+2028.
        for line in p.read_text(encoding="utf-8").split("\n"):
            if line:
                rec = json.loads(line)
                dropped[rec["record"]["id"]] = rec
    return dropped


def run_mdf(
    src: Path,
    out: Path,
    operators: list[dict],
    *,
    stage: str = "main",
    batch_size: int = 500,
    workers: int | None = None,
    columns: list[str] | None = None,
) -> tuple[dict[str, dict], dict[str, dict]]:
    """Runs `operators` on the JSONL at `src` (a file or a folder) into `out`, with rejected
    samples on; returns (kept rows by id, rejects by id). `columns` limits the kept rows."""
    cfg = {
        "data_loader": {"type": "JsonlLoader", "params": {"paths": str(src)}},
        "stages": [{"name": stage, "operators": operators}],
        "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
        "executor": {"batch_size": batch_size, "rejected_samples": {"enabled": True}},
    }
    if workers is None:
        mdf.run(cfg, progress="off")
    else:
        mdf.run(cfg, workers=workers, progress="off")
    kept = {
        r["id"]: r
        for f in sorted(out.glob("part-*.parquet"))
        for r in pq.read_table(f, columns=columns).to_pylist()
    }
    dropped = read_rejects(out)
    for i in kept:
        assert i not in dropped, f"{i} is both kept and dropped"
    return kept, dropped


def compare_rewrites(
    name: str, docs: list[dict], kept: dict, dropped: dict, reference
) -> tuple[float, list, Counter]:
    """Compares our (decision, rewritten text or reason) with `reference(text)`'s, which returns
    ("keep", text) or ("drop", reason); prints the agreement and the first disagreements.
    Returns (agreement rate, disagreements, reference outcome counts)."""
    agree, diffs, stats = 0, [], Counter()
    for d in docs:
        decision, value = reference(d["text"])
        stats[value if decision == "drop" else "keep"] += 1
        if d["id"] in kept:
            ours = ("keep", kept[d["id"]]["text"])
        elif d["id"] in dropped:
            ours = ("drop", dropped[d["id"]]["reason"])
        else:
            ours = ("missing", None)
        if ours == (decision, value):
            agree += 1
        else:
            diffs.append((d["id"], ours, (decision, value)))
    rate = agree / len(docs)
    print(f"{name}: {agree}/{len(docs)} agree ({rate:.4%}); reference: {stats}")
    for i, ours, theirs in diffs[:20]:
        print(f"  {i}: ours={ours!r:.300} reference={theirs!r:.300}")
    return rate, diffs, stats


def compare_decisions(
    urls: list, ours: list[str], theirs: list[str], who: str
) -> tuple[float, list, dict[str, int]]:
    """Compares per-URL decisions; prints the agreement, `who`'s decision counts and the first
    disagreements. Returns (agreement, disagreements, counts of `theirs`)."""
    diffs = [
        (i, urls[i], o, t) for i, (o, t) in enumerate(zip(ours, theirs, strict=True)) if o != t
    ]
    agree = 1 - len(diffs) / len(urls)
    counts: dict[str, int] = {}
    for t in theirs:
        counts[t] = counts.get(t, 0) + 1
    print(f"agreement {agree:.4%} on {len(urls)} URLs; {who} decisions: {counts}")
    for d in diffs[:50]:
        print("DIFF", d)
    return agree, diffs, counts


def url_filter_decisions(
    urls: list[str | None],
    tmp_path: Path,
    params: dict,
    omit_url,
    error_reasons: tuple[str, ...],
) -> list[str]:
    """Runs `url_filter` with `params` on one record per URL (id `u000000`..., text "x"; the
    `url` field left out where `omit_url(i, url)`); returns per URL "keep", the drop reason, or
    "error" for the rejects whose reason starts with one of `error_reasons`."""
    recs = []
    for i, url in enumerate(urls):
        rec = {"id": f"u{i:06d}", "text": "x"}
        if not omit_url(i, url):
            rec["url"] = url
        recs.append(rec)
    src = write_jsonl(tmp_path / "in.jsonl", recs)
    ops = [{"name": "url_filter", "params": params}]
    kept, dropped = run_mdf(src, tmp_path / "out", ops, stage="s", columns=["id"])
    got = {}
    for rid, rej in dropped.items():
        reason = rej["reason"]
        got[rid] = "error" if reason.startswith(error_reasons) else reason
    for rid in kept:
        got[rid] = "keep"
    return [got.get(f"u{i:06d}", "?") for i in range(len(urls))]
