"""User operators written in Python, registered from a user module and used from YAML."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf
from conftest import REPO, config, docs, rejects_of, stats_of, write_jsonl

TESTS = REPO / "tests"


def _yaml(tmp_path, operators: list[str]) -> str:
    ops = "\n".join(operators)
    return f"""imports: [user_ops.my_filters]
data_loader:
  type: JsonlLoader
  params:
    paths: {tmp_path}/in.jsonl
stages:
  - name: py
    operators:
{ops}
data_writer:
  type: ParquetDataWriter
  params:
    output_path: {tmp_path}/out
executor:
  batch_size: 7
"""


def test_custom_filter_and_refiner_run_from_yaml_via_the_cli(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", docs(40))
    cfg = tmp_path / "pipe.yaml"
    cfg.write_text(
        _yaml(
            tmp_path,
            [
                "      - name: keep_ids_ending_with",
                "        params: {digits: '13579'}",
                "      - name: word_count",
                "      - name: upper_url",
            ],
        )
    )
    env_path = f"{TESTS}"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mega_data_factory.cli",
            "run",
            "-c",
            str(cfg),
            "--json",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": env_path},
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    table = pq.read_table(list((tmp_path / "out").glob("part-*"))).to_pylist()
    expected = [d for d in docs(40) if d["id"][-1] in "13579"]
    assert [row["id"] for row in table] == [d["id"] for d in expected]
    assert [row["word_count"] for row in table] == [len(d["text"].split()) for d in expected]
    assert all(row["url_upper"] == row["url"].upper() for row in table)
    assert stats["operators"][0]["dropped"] == {"wrong_digit": 40 - len(expected)}


def test_python_api_with_registered_class_and_arrow_filter(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    write_jsonl(tmp_path / "in.jsonl", docs(30))
    cfg = config(
        tmp_path / "in.jsonl",
        tmp_path / "out",
        operators=[{"name": "short_text_arrow", "params": {"max_chars": 60}}],
        imports=["user_ops.my_filters"],
    )
    stats = mdf.run(cfg, progress="off")
    kept = [d for d in docs(30) if len(d["text"]) <= 60]
    assert stats["output_records"] == len(kept)
    assert stats["operators"][0]["dropped"] == {"too_long_arrow": 30 - len(kept)}
    assert "short_text_arrow" in mdf.OperatorRegistry.list_operators()
    assert "text_length_filter" in mdf.OperatorRegistry.list_operators()


def test_operator_exception_rejects_its_batch_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    records = docs(20)
    records[3]["id"] = "boom"
    write_jsonl(tmp_path / "in.jsonl", records)
    cfg = config(
        tmp_path / "in.jsonl",
        tmp_path / "out",
        operators=[{"name": "explodes"}],
        imports=["user_ops.my_filters"],
        executor={"batch_size": 5},
    )
    stats = mdf.run(cfg, progress="off")
    assert stats["output_records"] == 15
    assert stats["operators"][0]["errors"] == 5
    rejects = rejects_of(tmp_path / "out")
    assert len(rejects) == 5 and all(r["reason"] == "operator_error" for r in rejects)
    assert "cannot handle boom" in rejects[0]["detail"]
    assert stats_of(tmp_path / "out")["rejected_records"] == 5


def test_declared_schema_is_enforced(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    write_jsonl(tmp_path / "in.jsonl", docs(5))
    cfg = config(
        tmp_path / "in.jsonl",
        tmp_path / "out",
        operators=[{"name": "wrong_type"}],
        imports=["user_ops.my_filters"],
    )
    stats = mdf.run(cfg, progress="off")
    assert stats["output_records"] == 0 and stats["operators"][0]["errors"] == 5
    assert "int64" in rejects_of(tmp_path / "out")[0]["detail"]


def test_bad_python_params_and_missing_module_are_config_errors(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    write_jsonl(tmp_path / "in.jsonl", docs(5))
    cfg = config(
        tmp_path / "in.jsonl",
        tmp_path / "out",
        operators=[{"name": "keep_ids_ending_with", "params": {"digitz": "1"}}],
        imports=["user_ops.my_filters"],
    )
    with pytest.raises(mdf.ConfigError, match="digitz"):
        mdf.run(cfg, progress="off")
    cfg["imports"] = ["user_ops.does_not_exist"]
    with pytest.raises(mdf.ConfigError, match="cannot import"):
        mdf.validate(cfg)
