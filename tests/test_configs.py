"""Every shipped config under configs/ runs (seed defect: most of its configs crashed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import mega_data_factory as mdf
from conftest import REPO

# The model recipes need weights: tests/test_seed_configs.py runs them in an offline sandbox of
# tiny models (scripts/make_model_sample.py).
MODEL_CONFIGS = {"z_image", "laion", "datacomp"}
CONFIGS = sorted(c for c in (REPO / "configs").glob("*.yaml") if c.stem not in MODEL_CONFIGS)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_shipped_config_runs(config: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # configs use paths relative to the repository root
    out = tmp_path / config.stem
    stats = mdf.run(
        config,
        max_samples=300,
        set=[f"data_writer.params.output_path={out}"],
        progress="off",
    )
    assert stats["input_records"] > 0
    assert stats["rejected_records"] == 0, out / "_mdf" / "rejects"
    assert (out / "_mdf" / "stats.json").is_file()
