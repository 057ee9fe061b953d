"""``score_percentile_filter`` keeps DataComp's top fraction of the whole dataset (every shard),
whatever the worker count, and rejects rows without a score."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf
from conftest import rejects_of, stats_of


def write_shards(root, scores: np.ndarray, shards: int) -> list[str]:
    ids = [f"r{i:05d}" for i in range(len(scores))]
    for k, part in enumerate(np.array_split(np.arange(len(scores)), shards)):
        table = pa.table({"id": [ids[i] for i in part], "score": pa.array(scores[part])})
        pq.write_table(table, root / f"shard-{k:02d}.parquet")
    return ids


def run(tmp_path, name: str, fraction: float, workers: int):
    out = tmp_path / name
    mdf.run(
        {
            "data_loader": {"type": "ParquetLoader", "params": {"paths": str(tmp_path / "in")}},
            "stages": [
                {
                    "name": "top",
                    "operators": [
                        {
                            "name": "score_percentile_filter",
                            "params": {"score_field": "score", "top_fraction": fraction},
                        }
                    ],
                }
            ],
            "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
            "executor": {"batch_size": 50},
        },
        progress="off",
        workers=workers,
    )
    rows = sorted(
        r["id"] for f in sorted(out.glob("part-*.parquet")) for r in pq.read_table(f).to_pylist()
    )
    return rows, stats_of(out), rejects_of(out)


def test_keeps_datacomps_global_top_fraction(tmp_path):
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(0)
    # Shards with different score distributions: a per-shard percentile would keep other rows.
    scores = np.concatenate([rng.normal(m, 0.05, 200) for m in (0.2, 0.25, 0.3, 0.35)])
    scores[17] = scores[18]  # a tie
    ids = write_shards(tmp_path / "in", scores, 4)
    ordered = np.sort(scores)[::-1]
    threshold = ordered[int(len(scores) * 0.3)]
    expected = sorted(ids[i] for i in np.flatnonzero(scores >= threshold))
    one, stats, _ = run(tmp_path, "w1", 0.3, workers=1)
    assert one == expected and len(one) == 241
    two, _, _ = run(tmp_path, "w3", 0.3, workers=3)
    assert two == one
    op = next(o for o in stats["operators"] if o["name"] == "score_percentile_filter")
    assert op["dropped"] == {"below_percentile": 800 - 241}
    everything, _, _ = run(tmp_path, "all", 1.0, workers=2)
    assert len(everything) == 800


def test_rows_without_a_score_are_rejected_before_the_percentile(tmp_path):
    (tmp_path / "in").mkdir()
    table = pa.table(
        {"id": ["a", "b", "c", "d", "e"], "score": [0.1, None, float("nan"), 0.4, 0.3]}
    )
    pq.write_table(table, tmp_path / "in" / "s.parquet")
    rows, stats, rejects = run(tmp_path, "out", 0.5, workers=1)
    # Three finite scores; index int(3 * 0.5) = 1 of (0.4, 0.3, 0.1) → keep >= 0.3.
    assert rows == ["d", "e"]
    assert sorted((r["record"]["id"], r["reason"]) for r in rejects) == [
        ("b", "missing_field"),
        ("c", "not_finite"),
    ]
    assert stats["rejected_records"] == 2


def test_bad_fraction_is_a_config_error(tmp_path):
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"id": ["a"], "score": [1.0]}), tmp_path / "in" / "s.parquet")
    with pytest.raises(mdf.ConfigError, match="top_fraction"):
        run(tmp_path, "bad", 1.5, workers=1)
