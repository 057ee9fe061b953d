"""Dedup through the Python front: `mdf dedup-plan`, and exact dedup via `mdf.run` keeping the
first copy with 1 and 2 workers."""

from __future__ import annotations

import pyarrow.parquet as pq
from test_cli import mdf

import mega_data_factory as api
from conftest import write_jsonl


def test_dedup_plan_prints_the_s_curve_and_phase_sizes():
    out = mdf("dedup-plan", "--docs", "10000000", "--partitions", "64")
    assert out.returncode == 0, out.stderr
    assert "0.80    0.9235" in out.stdout  # 1 - (1 - 0.8^8)^14
    for phase in ("keys", "group", "merge", "filter"):
        assert phase in out.stdout
    exact = mdf("dedup-plan", "--docs", "100000000", "--method", "exact")
    assert exact.returncode == 0 and "merge" not in exact.stdout


def test_exact_dedup_keeps_first_copy_whatever_the_worker_count(tmp_path):
    records = [
        {"id": f"d{i}", "text": f"Text  number {i % 37}" if i % 2 else f"text number {i % 37}"}
        for i in range(300)
    ]
    for i in range(3):
        write_jsonl(tmp_path / "in" / f"{i}.jsonl", records[i * 100 : (i + 1) * 100])
    kept = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        cfg = {
            "data_loader": {"type": "JsonlLoader", "params": {"paths": str(tmp_path / "in")}},
            "stages": [{"name": "d", "operators": [{"name": "text_exact_deduplicator"}]}],
            "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
        }
        stats = api.run(cfg, workers=workers, progress="off")
        assert stats["output_records"] == 37
        kept.append(
            [
                r["id"]
                for f in sorted(out.glob("part-*.parquet"))
                for r in pq.read_table(f).to_pylist()
            ]
        )
    assert kept[0] == kept[1] == [f"d{i}" for i in range(37)]
