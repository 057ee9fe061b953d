"""Every shipped config under configs/ runs (seed defect: most of its configs crashed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import mega_data_factory as mdf
from conftest import REPO, local_crawl_tree

# The model recipes need weights: tests/test_seed_z_image.py runs them in an offline sandbox of
# tiny models (scripts/make_model_sample.py).
MODEL_CONFIGS = {"z_image", "laion", "datacomp"}
CONFIGS = sorted(c for c in (REPO / "configs").glob("*.yaml") if c.stem not in MODEL_CONFIGS)


def data_path_overrides(config: Path, tmp_path: Path) -> list[str]:
    """Configs that read remote data point at a local copy (the only change made to them)."""
    if config.stem == "example_commoncrawl":
        sample = REPO / "examples" / "data" / "sample.warc.gz"
        tree = local_crawl_tree(tmp_path / "crawl", "CC-MAIN-2024-51", [sample])
        return [f"data_loader.params.base_url={tree}"]
    return []


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_shipped_config_runs(config: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # configs use paths relative to the repository root
    out = tmp_path / config.stem
    stats = mdf.run(
        config,
        max_samples=300,
        set=[f"data_writer.params.output_path={out}", *data_path_overrides(config, tmp_path)],
        progress="off",
    )
    assert stats["input_records"] > 0
    assert stats["rejected_records"] == 0, out / "_mdf" / "rejects"
    assert (out / "_mdf" / "stats.json").is_file()
