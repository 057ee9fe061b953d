"""The seed system's README configs run unchanged apart from their data paths (issue #10).

`configs/example_commoncrawl.yaml` is the seed's text example verbatim. Here it reads a local
copy of a crawl tree (its loader gets a `base_url`, the writer an output path: the only edits)
through the `mdf` command, and its output must equal the same pipeline spelled out with
`WarcLoader` and an explicit `html_extractor`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq

import mega_data_factory as mdf
from conftest import REPO, local_crawl_tree, stats_of

MDF = shutil.which("mdf") or "mdf"
SAMPLE = REPO / "examples" / "data" / "sample.warc.gz"
SEED_TEXT = REPO / "configs" / "example_commoncrawl.yaml"


def rows(run_dir: Path) -> list[tuple[str, str]]:
    out = []
    for p in sorted(run_dir.glob("part-*.parquet")):
        t = pq.read_table(p, columns=["url", "text"])
        out.extend(zip(t.column("url").to_pylist(), t.column("text").to_pylist(), strict=True))
    return out


def with_data_paths(text: str, base_url: Path, output: Path) -> str:
    """The seed config with only its data locations changed."""
    crawl = '    crawl_id: "CC-MAIN-2024-51"\n'
    assert crawl in text and './output/commoncrawl"' in text
    text = text.replace(crawl, crawl + f'    base_url: "{base_url}"\n')
    return text.replace('"./output/commoncrawl"', f'"{output}"')


def test_seed_commoncrawl_config_runs_unchanged(tmp_path):
    # Two crawl files holding the same pages: every page of the second is a URL+content
    # duplicate that the config's text_exact_deduplicator (include_url: true) must remove.
    copy = tmp_path / "copy" / "sample-2.warc.gz"
    copy.parent.mkdir()
    shutil.copy(SAMPLE, copy)
    tree = local_crawl_tree(tmp_path / "crawl", "CC-MAIN-2024-51", [SAMPLE, copy])
    out = tmp_path / "seed_out"
    cfg = tmp_path / "example_commoncrawl.yaml"
    cfg.write_text(with_data_paths(SEED_TEXT.read_text(), tree, out))

    r = subprocess.run(
        [MDF, "run", "-c", str(cfg), "--progress", "off"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr

    stats = stats_of(out)
    ops = {(o["stage"], o["name"]): o for o in stats["operators"]}
    assert ("data_loader", "html_extractor") in ops
    for name in ("url_filter", "text_length_filter", "text_exact_deduplicator"):
        assert ("content_filtering", name) in ops
    kept = rows(out)
    assert kept, "nothing kept"
    assert all(100 <= len(text) <= 100_000 for _, text in kept)
    assert len(set(kept)) == len(kept)
    dedup = ops[("content_filtering", "text_exact_deduplicator")]
    assert dedup["out"] * 2 == dedup["in"]

    # The same pipeline spelled out: WarcLoader, then the extraction the loader implies.
    explicit = tmp_path / "explicit_out"
    seed_ops = [
        {"name": "url_filter", "params": {"score_threshold": 0.5, "exclude_quality_sources": True}},
        {"name": "text_length_filter", "params": {"min_length": 100, "max_length": 100000}},
        {"name": "text_exact_deduplicator", "params": {"include_url": True}},
    ]
    mdf.run(
        {
            "data_loader": {"type": "WarcLoader", "params": {"paths": [str(SAMPLE), str(copy)]}},
            "stages": [
                {"name": "extraction", "operators": [{"name": "html_extractor"}]},
                {"name": "content_filtering", "operators": seed_ops},
            ],
            "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(explicit)}},
        },
        progress="off",
    )
    assert rows(explicit) == kept


def test_commoncrawl_loader_without_extraction_gives_html(tmp_path):
    tree = local_crawl_tree(tmp_path / "crawl", "CC-MAIN-2024-51", [SAMPLE])
    out = tmp_path / "out"
    stats = mdf.run(
        {
            "data_loader": {
                "type": "CommonCrawlLoader",
                "params": {
                    "crawl_id": "CC-MAIN-2024-51",
                    "base_url": str(tree),
                    "extract_text": False,
                },
            },
            "stages": [],
            "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
        },
        progress="off",
    )
    assert not stats["operators"]
    table = pq.read_table(sorted(out.glob("part-*.parquet"))[0])
    assert table.column("html").null_count == 0
    assert table.column("text").null_count == table.num_rows  # WarcLoader's WET-only column
