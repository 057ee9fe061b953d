"""The `mdf` command as a user meets it: help, listings, validation errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from conftest import REPO, docs, write_jsonl

MDF = shutil.which("mdf") or "mdf"


def mdf(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([MDF, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_help_and_version():
    r = mdf("--help")
    assert r.returncode == 0
    for word in ("run", "validate", "ops"):
        assert word in r.stdout
    r = mdf("run", "--help")
    assert "--max-samples" in r.stdout and "--overwrite" in r.stdout and "--set" in r.stdout
    r = mdf("-V")
    assert r.returncode == 0 and r.stdout.startswith("mdf ")
    assert mdf().returncode == 0  # no command: help, exit 0


def test_ops_list_names_every_builtin():
    r = mdf("ops", "list")
    assert r.returncode == 0, r.stderr
    for name in (
        "text_length_filter",
        "JsonlLoader",
        "ParquetLoader",
        "ParquetDataWriter",
        "JsonlDataWriter",
    ):
        assert name in r.stdout


def test_ops_describe_shows_params_defaults_and_docs():
    r = mdf("ops", "describe", "text_length_filter")
    assert r.returncode == 0, r.stderr
    assert "min_length" in r.stdout and "max_length" in r.stdout and "text_field" in r.stdout
    assert '"text"' in r.stdout  # default of text_field
    assert "code points" in r.stdout
    r = mdf("ops", "describe", "text_lenght_filter")
    assert r.returncode == 1 and "did you mean `text_length_filter`" in r.stderr


def test_config_typo_points_at_the_line(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", docs(5))
    cfg = tmp_path / "pipe.yaml"
    cfg.write_text(
        f"""data_loader:
  type: JsonlLoader
  params:
    paths: {tmp_path}/in.jsonl
stages:
  - name: s
    operators:
      - name: text_length_filter
        params:
          min_lenght: 10
data_writer:
  type: ParquetDataWriter
  params:
    output_path: {tmp_path}/out
"""
    )
    r = mdf("validate", "-c", str(cfg))
    assert r.returncode == 1
    assert f"{cfg}:10:" in r.stderr
    assert "unknown field `min_lenght`" in r.stderr
    assert "did you mean `min_length`" in r.stderr
    assert not (tmp_path / "out").exists()  # nothing ran
    r = mdf("run", "-c", str(cfg))
    assert r.returncode == 1 and f"{cfg}:10:" in r.stderr
    assert not (tmp_path / "out").exists()


def test_run_prints_summary_and_json(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", docs(50))
    cfg = tmp_path / "pipe.json"
    cfg.write_text(
        json.dumps(
            {
                "data_loader": {
                    "type": "JsonlLoader",
                    "params": {"paths": str(tmp_path / "in.jsonl")},
                },
                "stages": [
                    {
                        "name": "s",
                        "operators": [
                            {"name": "text_length_filter", "params": {"min_length": 100}}
                        ],
                    }
                ],
                "data_writer": {
                    "type": "ParquetDataWriter",
                    "params": {"output_path": str(tmp_path / "out")},
                },
            }
        )
    )
    r = mdf(
        "run",
        "-c",
        str(cfg),
        "--json",
        "--workers",
        "2",
        "--set",
        "stages.0.operators.0.params.min_length=200",
    )
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    assert stats["input_records"] == 50
    assert "text_length_filter" in r.stderr and "Done:" in r.stderr
    op = stats["operators"][0]
    assert op["dropped"]["too_short"] == 50 - stats["output_records"]
    # the override took effect: every kept doc has >= 200 characters
    kept = [d for d in docs(50) if len(d["text"]) >= 200]
    assert stats["output_records"] == len(kept)


def test_missing_config_file_is_a_clear_error(tmp_path):
    r = mdf("run", "-c", str(tmp_path / "nope.yaml"))
    assert r.returncode == 1 and "config file not found" in r.stderr


def test_operator_docs_are_generated_from_the_registry():
    import sys

    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_operator_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
