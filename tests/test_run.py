"""End-to-end runs through the Python API: output, stats, determinism, resume, bad input."""

from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf
from conftest import config, docs, output_files, rejects_of, stats_of, write_jsonl


def test_quickstart_config_runs(repo, tmp_path, monkeypatch):
    monkeypatch.chdir(repo)
    out = tmp_path / "qs"
    stats = mdf.run(
        "configs/quickstart.yaml", set=[f"data_writer.params.output_path={out}"], progress="off"
    )
    assert stats["input_records"] == 600
    assert 0 < stats["output_records"] < 600
    table = pq.read_table(list(out.glob("part-*.parquet")))
    assert table.num_rows == stats["output_records"]
    lengths = [len(t) for t in table.column("text").to_pylist()]
    assert min(lengths) >= 100 and max(lengths) <= 20000


def test_stats_json_has_the_documented_shape(tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl.gz", docs(300))
    mdf.run(config(tmp_path / "in", tmp_path / "out"), progress="off")
    stats = stats_of(tmp_path / "out")
    assert stats["input_records"] == 300
    [op] = stats["operators"]
    assert set(op) >= {"stage", "name", "in", "out", "dropped", "errors", "seconds"}
    assert op["stage"] == "main" and op["name"] == "text_length_filter"
    expected_kept = sum(len(d["text"]) >= 50 for d in docs(300))
    assert op["in"] == 300 and op["out"] == expected_kept == stats["output_records"]
    assert op["dropped"] == {"too_short": 300 - expected_kept}
    manifest = (tmp_path / "out" / "_mdf" / "manifest.json").read_text()
    assert '"min_length": 50' in manifest and '"max_length": null' in manifest


@pytest.mark.parametrize("writer", ["ParquetDataWriter", "JsonlDataWriter"])
def test_one_and_two_workers_give_identical_bytes(tmp_path, writer):
    for f in range(6):
        write_jsonl(tmp_path / "in" / f"part{f}.jsonl.gz", docs(400, start=f * 400))
    # a plain file big enough to be split into byte-range shards
    write_jsonl(tmp_path / "in" / "plain.jsonl", docs(3000, start=10_000))
    outs = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        cfg = config(tmp_path / "in", out, writer=writer)
        cfg["data_loader"]["params"]["shard_size_mb"] = 0.1
        mdf.run(cfg, workers=workers, progress="off")
        outs[workers] = output_files(out)
        assert stats_of(out)["workers"] == workers
    assert len(outs[1]) >= 7
    assert outs[1] == outs[2]


def test_max_samples_is_an_exact_global_cap(tmp_path):
    for f in range(3):
        write_jsonl(tmp_path / "in" / f"{f}.jsonl", docs(100, start=f * 100))
    cfg = config(tmp_path / "in", tmp_path / "out", operators=[{"name": "text_length_filter"}])
    stats = mdf.run(cfg, max_samples=150, workers=2, progress="off")
    assert stats["input_records"] == 150 and stats["output_records"] == 150
    ids = pq.read_table(list((tmp_path / "out").glob("part-*"))).column("id").to_pylist()
    assert sorted(ids) == [f"d{i:06d}" for i in range(150)]


def test_corrupt_inputs_are_counted_and_rejected(tmp_path):
    src = tmp_path / "in"
    good = write_jsonl(src / "a_good.jsonl", docs(20))
    # a truncated gzip: the first part decodes, then the stream ends mid-member
    full = gzip.compress(
        ("\n".join(f'{{"id": "t{i}", "text": "{"x" * 80}"}}' for i in range(2000))).encode(),
        mtime=0,
    )
    (src / "b_truncated.jsonl.gz").write_bytes(full[: len(full) // 2])
    write_jsonl(
        src / "c_mixed.jsonl",
        [
            '{"id": "ok1", "text": "' + "y" * 80 + '"}',
            "this line is not json",
            '{"id": "no_text", "url": "https://example.org"}',
            '{"id": "ok2", "text": "' + "z" * 80 + '"}',
        ],
    )
    (src / "d_empty.jsonl").write_bytes(b"")
    assert good.exists()
    stats = mdf.run(config(src, tmp_path / "out"), progress="off")
    rejects = rejects_of(tmp_path / "out")
    reasons = sorted(r["reason"] for r in rejects)
    assert reasons.count("invalid_json") == 1
    assert reasons.count("corrupt_file") == 1
    assert reasons.count("empty_file") == 1
    assert reasons.count("missing_field") == 1
    assert stats["input_rejects"] == {"corrupt_file": 1, "empty_file": 1, "invalid_json": 1}
    [op] = stats["operators"]
    assert op["errors"] == 1
    assert stats["rejected_records"] == len(rejects) == 4
    bad_json = next(r for r in rejects if r["reason"] == "invalid_json")
    assert bad_json["source"].endswith("c_mixed.jsonl") and bad_json["offset"] > 0
    missing = next(r for r in rejects if r["reason"] == "missing_field")
    assert missing["record"]["id"] == "no_text" and missing["operator"] == "main/text_length_filter"
    # the good records of every file made it, including the readable part of the truncated one
    ids = set(pq.read_table(list((tmp_path / "out").glob("part-*"))).column("id").to_pylist())
    assert {"ok1", "ok2"} <= ids and {d["id"] for d in docs(20) if len(d["text"]) >= 50} <= ids
    assert any(i.startswith("t") for i in ids)


def test_rerun_resumes_and_overwrite_restarts(tmp_path):
    for f in range(4):
        write_jsonl(tmp_path / "in" / f"{f}.jsonl.gz", docs(50, start=f * 50))
    cfg = config(tmp_path / "in", tmp_path / "out")
    first = mdf.run(cfg, progress="off")
    files = output_files(tmp_path / "out")
    again = mdf.run(cfg, progress="off")
    assert again["shards_resumed"] == 4 and again["output_records"] == first["output_records"]
    assert output_files(tmp_path / "out") == files
    redo = mdf.run(cfg, overwrite=True, progress="off")
    assert redo["shards_resumed"] == 0 and output_files(tmp_path / "out") == files
    cfg["stages"][0]["operators"][0]["params"]["min_length"] = 10
    with pytest.raises(mdf.ConfigError, match="different config"):
        mdf.run(cfg, progress="off")


def test_bad_config_fails_before_any_work(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", docs(5))
    cfg = config(
        tmp_path / "in.jsonl",
        tmp_path / "out",
        operators=[{"name": "text_length_filter", "params": {"min_length": "ten"}}],
    )
    with pytest.raises(mdf.ConfigError, match="min_length"):
        mdf.run(cfg, progress="off")
    assert not (tmp_path / "out").exists()
    with pytest.raises(mdf.ConfigError, match="matches nothing|no such|not found|No such"):
        mdf.run(config(tmp_path / "missing/*.jsonl", tmp_path / "out"), progress="off")
    with pytest.raises(mdf.ConfigError, match="unknown operator `nope`"):
        mdf.validate(config(tmp_path / "in.jsonl", tmp_path / "out", operators=[{"name": "nope"}]))


def test_parquet_round_trip_and_jsonl_output(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", docs(120))
    mdf.run(config(tmp_path / "in.jsonl", tmp_path / "pq"), progress="off")
    stats = mdf.run(
        config(
            tmp_path / "pq" / "part-*.parquet",
            tmp_path / "js",
            loader="ParquetLoader",
            writer="JsonlDataWriter",
            operators=[{"name": "text_length_filter", "params": {"min_length": 200}}],
        ),
        progress="off",
    )
    expected = [d["id"] for d in docs(120) if len(d["text"]) >= 200]
    lines = [
        ln for p in sorted((tmp_path / "js").glob("part-*")) for ln in p.read_text().splitlines()
    ]
    assert stats["output_records"] == len(expected) == len(lines)
    assert [json.loads(ln)["id"] for ln in lines] == expected
