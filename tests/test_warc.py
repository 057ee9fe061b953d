"""WarcLoader on real archives (pywb 2.10.0's sample WARCs/ARCs, fetched by
scripts/fetch_pywb_samples.sh) and through a whole pipeline run."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf
from conftest import REPO, rejects_of, stats_of

PYWB = Path(os.environ.get("MDF_PYWB_WARCS", REPO / ".cache" / "pywb" / "warcs"))

# file -> (rows with the default selection (HTML responses), rows with every record type and
# media type, loader rejects {reason: count} (the same for both selections)).
# Counts cross-checked by splitting the decompressed files on their WARC version lines:
# iana.warc.gz holds 343 records (1 warcinfo, 171 requests, 48 responses of which 20 are
# text/html, 123 revisits).
EXPECTED = {
    # ARC v1 with a record length of -1: a bad header, then nothing readable.
    "bad.arc": (0, 0, {"bad_arc_header": 1}),
    "dupes.warc.gz": (1, 12, {}),
    # One gzip member holding the whole file: read all the same.
    "example-bad.warc.gz.bad": (2, 3, {}),
    # A response whose status line is `HTTPX/1.1 200 OK`.
    "example-extra.warc": (1, 3, {"bad_http_header": 1}),
    "example-url-agnostic-orig.warc.gz": (1, 1, {}),
    # Revisits without HTTP headers: rows only when revisits are selected.
    "example-url-agnostic-revisit.warc.gz": (0, 1, {}),
    "example-wget-1-14.warc.gz": (1, 4, {}),
    "example-wpull.warc.gz": (1, 2, {}),
    "example.arc": (1, 1, {}),
    "example.arc.gz": (1, 1, {}),
    # Its second request record declares 320 bytes but holds 321.
    "example.warc": (2, 3, {"content_length_mismatch": 1}),
    "example.warc.gz": (2, 3, {}),
    "example2.warc.gz": (1, 1, {}),
    "httpbin-resource.warc.gz": (0, 1, {}),
    "iana.warc.gz": (20, 171, {}),
    # `HTTP/1.0 302 ` (no reason phrase), `\r\r\n` line ends: a redirect, not HTML.
    "missing-status-text.warc": (0, 1, {}),
    "post-test.warc.gz": (0, 3, {}),
}

EVERYTHING = {"record_types": ["response", "resource", "conversion", "revisit"], "mime_types": []}


def run_warc(paths, out: Path, **params) -> tuple[dict, list, list[dict]]:
    cfg = {
        "data_loader": {"type": "WarcLoader", "params": {"paths": paths, **params}},
        "stages": [],
        "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
        "executor": {"batch_size": 50},
    }
    mdf.run(cfg, progress="off")
    rows = []
    for p in sorted(out.glob("part-*.parquet")):
        rows.extend(pq.read_table(p).to_pylist())
    return stats_of(out), rejects_of(out), rows


@pytest.fixture(scope="module")
def pywb() -> Path:
    if not (PYWB / "iana.warc.gz").exists():
        pytest.skip(f"pywb sample archives missing: run scripts/fetch_pywb_samples.sh ({PYWB})")
    return PYWB


def test_every_pywb_sample_reads_or_fails_with_a_counted_reason(pywb, tmp_path):
    assert sorted(p.name for p in pywb.iterdir()) == sorted(EXPECTED)
    for name, (html_rows, all_rows, reasons) in EXPECTED.items():
        for selection, want_rows in (({}, html_rows), (EVERYTHING, all_rows)):
            out = tmp_path / f"{name}-{len(selection)}"
            stats, rejects, rows = run_warc(str(pywb / name), out, **selection)
            assert len(rows) == want_rows, (name, selection)
            got = {}
            for r in rejects:
                got[r["reason"]] = got.get(r["reason"], 0) + 1
                assert r["detail"] and r["source"].endswith(name)
            assert got == reasons, name
            assert stats.get("input_rejects", {}) == reasons, name
            # (example-extra.warc holds the same revisit record twice, at two offsets.)
            keys = [(r["id"], r["_source_offset"]) for r in rows]
            assert len(set(keys)) == len(keys), name
            assert [k[1] for k in keys] == sorted(k[1] for k in keys), name
            for r in rows:
                assert r["_source_file"].endswith(name)
                if not selection:
                    assert r["content_type"].lower().startswith("text/html"), (name, r)
                    assert r["html"] is not None and r["text"] is None


def test_iana_rows_carry_the_documented_columns(pywb, tmp_path):
    _, _, rows = run_warc(str(pywb / "iana.warc.gz"), tmp_path / "out")
    first = rows[0]
    assert first["id"].startswith("<urn:uuid:")
    assert first["url"].startswith("http")
    assert first["date"].startswith("2014-01-")
    assert first["warc_record_type"] == "response"
    assert first["http_status"] == 200
    assert first["payload_digest"].startswith("sha1:")
    # iana.org pages were stored de-chunked under a `Transfer-Encoding: chunked` header.
    ok = [r for r in rows if r["http_status"] == 200]
    assert len(ok) == 16
    assert all(b"<html" in r["html"][:2000].lower() for r in ok)
    # The other four are redirects (two with an empty body).
    redirects = sorted(len(r["html"]) for r in rows if r["http_status"] == 302)
    assert redirects[:2] == [0, 0] and len(redirects) == 4
    # Offsets point at each record's gzip member: re-reading from there gives the record.
    data = (pywb / "iana.warc.gz").read_bytes()
    import zlib

    for r in rows[:5]:
        member = zlib.decompressobj(31).decompress(data[r["_source_offset"] :])
        assert r["id"].encode() in member[:1000]


def test_shards_split_a_big_warc_without_losing_or_repeating_records(pywb, tmp_path):
    _, _, whole = run_warc(str(pywb / "iana.warc.gz"), tmp_path / "whole", **EVERYTHING)
    _, _, split = run_warc(
        str(pywb / "iana.warc.gz"), tmp_path / "split", shard_size_mb=0.05, **EVERYTHING
    )
    assert [r["id"] for r in split] == [r["id"] for r in whole]
    assert len(list((tmp_path / "split").glob("part-*"))) > 10


def test_the_bundled_sample_reads_cleanly(tmp_path):
    stats, rejects, rows = run_warc(str(REPO / "examples" / "data" / "sample.warc.gz"), tmp_path)
    assert not rejects
    assert len(rows) >= 30
    assert all(r["html"].startswith(b"<!DOCTYPE html>") for r in rows)
