"""Shared by the image tests: real photos (scikit-image's bundled data, when installed) and
running mdf's hash refiner over a list of encoded images."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import mega_data_factory as mdf


def real_photo_files() -> list[Path]:
    """The PNG/JPEG photos shipped in scikit-image's wheel; [] when it is not installed."""
    try:
        import skimage
    except ImportError:
        return []
    data = Path(skimage.__file__).parent / "data"
    return sorted(p for p in data.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def jpeg_bytes(img, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def run_hashes(
    tmp_path: Path, images: list[tuple[str, bytes]], hash_size: int, hashes: list[str]
) -> dict[str, dict]:
    """Runs image_phash_refiner over (id, bytes) pairs; returns the output rows by id."""
    src = tmp_path / f"in-{hash_size}" / "images.parquet"
    src.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {"id": [i for i, _ in images], "image": pa.array([b for _, b in images], pa.binary())}
    )
    pq.write_table(table, src, row_group_size=200)
    out = tmp_path / f"out-{hash_size}"
    params = {"hashes": hashes, "hash_size": hash_size}
    stats = mdf.run(
        {
            "data_loader": {"type": "ParquetLoader", "params": {"paths": str(src)}},
            "stages": [
                {"name": "hash", "operators": [{"name": "image_phash_refiner", "params": params}]}
            ],
            "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
            "executor": {"batch_size": 200},
        },
        progress="off",
    )
    assert stats["rejected_records"] == 0
    rows = [
        r
        for f in sorted(out.glob("part-*.parquet"))
        for r in pq.read_table(f, columns=["id", *hashes]).to_pylist()
    ]
    return {r["id"]: r for r in rows}
