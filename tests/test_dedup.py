"""Dedup through the Python front: `mdf dedup-plan`, exact dedup keeping the first copy with 1
and 2 workers, and a SIGKILL in a dedup phase followed by a resume."""

from __future__ import annotations

import json
import os
import signal
import time

import pyarrow.parquet as pq
import pytest
from test_cli import mdf
from test_kill_resume import _run_cli

import mega_data_factory as api
from conftest import REPO, config, output_files, stats_of, write_jsonl


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


@pytest.mark.parametrize("where", ["keys", "final"])
def test_sigkill_in_a_dedup_phase_then_resume_gives_identical_output(tmp_path, where):
    """Killed while the shards' keys are extracted (slow operator before the dedup) or while the
    output is written (slow operator after it): the resumed run keeps exactly the same rows."""
    for f in range(8):
        recs = [{"id": f"d{f}-{i}", "text": f"Text {(f * 150 + i) % 700} here"} for i in range(150)]
        write_jsonl(tmp_path / "in" / f"{f:02d}.jsonl", recs)
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests"), "MDF_TEST_SLEEP": "0.1"}
    dedup = {"name": "text_exact_deduplicator", "params": {"num_partitions": 4}}
    ops = [{"name": "slow_pass"}, dedup] if where == "keys" else [dedup, {"name": "slow_pass"}]
    cfgs = {}
    for name in ("reference", "killed"):
        cfg = config(
            tmp_path / "in",
            tmp_path / name,
            operators=ops,
            imports=["user_ops.my_filters"],
            executor={"batch_size": 50},
        )
        cfgs[name] = tmp_path / f"{name}.json"
        cfgs[name].write_text(json.dumps(cfg))
    ref = _run_cli(cfgs["reference"], env)
    assert ref.wait(timeout=600) == 0, ref.stderr.read()

    marker_dir = tmp_path / "killed" / "_mdf" / ("global/g00/done" if where == "keys" else "done")
    proc = _run_cli(cfgs["killed"], env)

    def markers() -> int:
        return sum(1 for p in marker_dir.glob("*") if not p.name.startswith("."))

    deadline = time.time() + 300
    while time.time() < deadline and markers() < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < markers() < 8, f"kill landed at {markers()} tasks: not mid-phase"

    resumed = _run_cli(cfgs["killed"], env)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert output_files(tmp_path / "killed") == output_files(tmp_path / "reference")
    assert stats_of(tmp_path / "killed")["output_records"] == 700
