"""A run killed with SIGKILL and rerun gives exactly the output of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, config, docs, output_files, stats_of, write_jsonl


def _run_cli(cfg: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mega_data_factory.cli",
            "run",
            "-c",
            str(cfg),
            "--workers",
            "2",
            "--progress",
            "off",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigkill_mid_run_then_resume_gives_identical_output(tmp_path):
    for f in range(12):
        write_jsonl(tmp_path / "in" / f"{f:02d}.jsonl.gz", docs(200, start=f * 200))
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests"), "MDF_TEST_SLEEP": "0.1"}
    ops = [{"name": "slow_pass"}, {"name": "text_length_filter", "params": {"min_length": 30}}]
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

    proc = _run_cli(cfgs["killed"], env)
    done_dir = tmp_path / "killed" / "_mdf" / "done"

    def markers() -> int:
        # A marker is published by renaming `.NNNNNN.tmp`: count published ones only.
        return sum(1 for p in done_dir.glob("*") if not p.name.startswith("."))

    deadline = time.time() + 300
    while time.time() < deadline and markers() < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = markers()
    assert 0 < done < 12, f"kill landed at {done} shards: not mid-run"

    resumed = _run_cli(cfgs["killed"], env)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert output_files(tmp_path / "killed") == output_files(tmp_path / "reference")
    stats = stats_of(tmp_path / "killed")
    assert stats["shards_resumed"] == done
    assert stats["input_records"] == stats_of(tmp_path / "reference")["input_records"] == 2400
    assert not list((tmp_path / "killed").glob(".*tmp"))
