"""The image pipeline end to end on the bundled WebDataset sample and on bad input: loaders,
one-decode profiling, the quality filter, near-duplicate removal across shards, and rejects
with reasons for broken images (no crash)."""

from __future__ import annotations

import io
import struct
import tarfile
import zlib

import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf
from conftest import REPO, rejects_of, stats_of

Image = pytest.importorskip("PIL.Image")


def run(tmp_path, loader: dict, operators: list[dict], stages: list[dict] | None = None):
    out = tmp_path / "out"
    cfg = {
        "data_loader": loader,
        "stages": stages or [{"name": "profile", "operators": operators}],
        "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
        "executor": {"batch_size": 16},
    }
    mdf.run(cfg, progress="off", workers=2)
    rows = [r for f in sorted(out.glob("part-*.parquet")) for r in pq.read_table(f).to_pylist()]
    return rows, stats_of(out), rejects_of(out)


def test_near_duplicates_are_removed_across_shards(tmp_path):
    loader = {
        "type": "WebDatasetLoader",
        "params": {"paths": str(REPO / "examples" / "data" / "images-*.tar")},
    }
    rows, stats, rejects = run(
        tmp_path,
        loader,
        [],
        stages=[
            {
                "name": "hash",
                "operators": [{"name": "image_phash_refiner"}],
            },
            {
                "name": "dedup",
                "operators": [
                    {
                        "name": "image_phash_deduplicator",
                        "params": {"hash_field": "phash", "hash_size": 8, "max_distance": 8},
                    }
                ],
            },
        ],
    )
    assert stats["input_records"] == 31 and not rejects
    # The sample holds 24 originals and 7 edited copies (low-quality resized re-encodes and
    # quantised crops): each copy goes, every original stays.
    kept = {r["text"].removesuffix(" (copy)") for r in rows}
    assert len(rows) == 24, sorted(r["id"] for r in rows)
    assert all(not r["text"].endswith("(copy)") for r in rows)
    assert len(kept) == len(rows)


def png_bomb(w: int, h: int) -> bytes:
    """A valid 1-bit PNG of w x h zero pixels: tiny on disk, huge decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    z = zlib.compressobj(9)
    row = b"\0" * (1 + (w + 7) // 8)
    idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_bad_images_are_rejected_with_reasons(tmp_path):
    ok = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(ok, "JPEG")
    good = ok.getvalue()
    png = io.BytesIO()
    Image.new("RGBA", (40, 40), (1, 2, 3, 4)).save(png, "PNG")
    cmyk = io.BytesIO()
    Image.new("CMYK", (32, 32), (10, 20, 30, 40)).save(cmyk, "JPEG")
    grey16 = io.BytesIO()
    Image.new("I;16", (32, 32), 40000).save(grey16, "PNG")
    bomb = png_bomb(30000, 30000)  # ~110 KB file, 900 MP image
    members = {
        "a.jpg": good,  # fine
        "b.jpg": good[: len(good) // 3],  # truncated JPEG
        "c.jpg": b"",  # zero bytes
        "d.jpg": png.getvalue(),  # PNG with a .jpg extension: read as PNG
        "e.png": bomb,  # decompression bomb
        "f.jpg": cmyk.getvalue(),  # CMYK JPEG
        "g.png": grey16.getvalue(),  # 16-bit grey PNG
        "h.jpg": b"<html>not an image</html>",
    }
    tar_path = tmp_path / "bad.tar"
    with tarfile.open(tar_path, "w") as tar:
        for name, data in members.items():
            data = data if isinstance(data, bytes) else data.getvalue()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    loader = {"type": "WebDatasetLoader", "params": {"paths": str(tar_path)}}
    rows, stats, rejects = run(
        tmp_path,
        loader,
        [
            {"name": "image_metadata_refiner"},
            {"name": "image_technical_quality_refiner"},
            {"name": "image_phash_refiner"},
        ],
    )
    reasons = {r["record"]["id"]: r["reason"] for r in rejects}
    kept = {r["id"]: r for r in rows}
    assert set(kept) == {"a", "d", "f", "g"}, (sorted(kept), reasons)
    assert kept["d"]["image_format"] == "PNG" and kept["d"]["image_mode"] == "RGBA"
    assert kept["f"]["image_mode"] == "CMYK" and kept["g"]["image_mode"] == "I;16"
    assert reasons["c"] == "empty"
    assert reasons["h"] == "unsupported_format"
    assert reasons["e"] == "too_many_pixels"
    assert reasons["b"] in ("undecodable", "truncated")
    assert stats["rejected_records"] == 4
