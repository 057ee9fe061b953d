"""Shared helpers: write JSONL inputs and configs into a temporary directory."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Every Ray session of the test process (the runner's own local Ray, the two-node test
# cluster) runs private, without usage stats or token authentication. Ray reads the auth mode
# once per process, so a session started under one mode makes the actors of a later session
# under another fail to register ("actor creation cancelled"): the mode must not change between
# tests. Without a token, a token left in ~/.ray by another Ray session cannot lock the tests out.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
os.environ.update(RAY_ENV)


def write_jsonl(path: Path, records: list[dict] | list[str], compress: bool | None = None) -> Path:
    """Writes records (dicts, or raw lines as strings) as JSONL; gzip when the name ends .gz."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    data = ("\n".join(lines) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress or (compress is None and path.suffix == ".gz"):
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(data)
    else:
        path.write_bytes(data)
    return path


def docs(n: int, start: int = 0) -> list[dict]:
    """n documents with lengths spread over 0..~400 characters."""
    out = []
    for i in range(start, start + n):
        words = " ".join(f"w{(i * 7 + k) % 97}" for k in range(i % 60))
        out.append({"id": f"d{i:06d}", "url": f"https://example.org/{i}", "text": words})
    return out


def config(
    input_glob: str | Path,
    output: Path,
    operators: list[dict] | None = None,
    writer: str = "ParquetDataWriter",
    loader: str = "JsonlLoader",
    executor: dict | None = None,
    **extra,
) -> dict:
    if operators is None:
        operators = [{"name": "text_length_filter", "params": {"min_length": 50}}]
    cfg = {
        "data_loader": {"type": loader, "params": {"paths": str(input_glob)}},
        "stages": [{"name": "main", "operators": operators}],
        "data_writer": {"type": writer, "params": {"output_path": str(output)}},
        "executor": executor or {"batch_size": 100},
    }
    cfg.update(extra)
    return cfg


def output_files(run_dir: Path) -> dict[str, bytes]:
    """Data files of a run directory by name, with their bytes."""
    return {p.name: p.read_bytes() for p in sorted(run_dir.glob("part-*"))}


def stats_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "_mdf" / "stats.json").read_text())


def rejects_of(run_dir: Path) -> list[dict]:
    out = []
    for p in sorted((run_dir / "_mdf" / "rejects").glob("*.jsonl")):
        out.extend(json.loads(line) for line in p.read_text().splitlines())
    return out


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With MDF_NO_SKIP=1 (set by scripts/test.sh) a skip is a failure, except for the tests that
    are opt-in by design (their reason names the MDF_SLOW_* variable that enables them)."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("MDF_NO_SKIP") == "1" and report.skipped:
        reason = str(report.longrepr)
        if "MDF_SLOW_" not in reason and not hasattr(report, "wasxfail"):
            report.outcome = "failed"
            report.longrepr = f"skipped under MDF_NO_SKIP=1: {reason}"


def local_crawl_tree(root: Path, crawl_id: str, warcs: list[Path]) -> Path:
    """A CommonCrawl `crawl-data/` tree under root (a `warc.paths.gz` listing and the files in
    segment folders), as `CommonCrawlLoader`'s `base_url` expects it."""
    listing = []
    for i, src in enumerate(warcs):
        rel = f"crawl-data/{crawl_id}/segments/1733066035856.{i}/warc/{src.name}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(src.read_bytes())
        listing.append(rel)
    paths = root / "crawl-data" / crawl_id / "warc.paths.gz"
    with open(paths, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(("\n".join(listing) + "\n").encode())
    return root
