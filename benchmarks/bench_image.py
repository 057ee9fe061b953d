"""Image profiling throughput: mdf (decode once -> metadata + technical quality + pHash) against
Python (Pillow decode + metadata + imagehash.phash + numpy quality measures) on the same JPEGs.

Generates N photo-like JPEGs of realistic size once (default 5,000, 640x480 to 1280x960 crops of
generated photo-like images, quality 70-95) into a Parquet file (id, image bytes), then runs,
each in its own process:
  * mdf with 1 worker: ParquetLoader -> image_metadata_refiner -> image_technical_quality_refiner
    -> image_phash_refiner -> Parquet,
  * the Python reference, single process, same measures from one decode per image,
and prints wall time, images/s, images per CPU-second (per core), peak RSS and the ratio.

    pip install '.[bench]'
    python benchmarks/bench_image.py --images 5000
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import sys
from pathlib import Path

from bench_length_filter import measure

PYTHON_REFERENCE = r"""
import io, sys, time
import numpy as np
import pyarrow.parquet as pq
import imagehash
from PIL import Image

def quality(rgb):
    a = np.asarray(rgb)
    ent = 0.0
    for c in range(3):
        h = np.bincount(a[..., c].ravel(), minlength=256) / a[..., c].size
        h = h[h > 0]
        ent += float(-(h * np.log2(h)).sum()) / 3
    g = np.asarray(rgb.convert("L"), dtype=np.int32)
    dh = np.abs(np.diff(g, axis=1)); dv = np.abs(np.diff(g, axis=0))
    edge = (dh[:, 7::8].sum() + dv[7::8, :].sum()) / max(1, dh[:, 7::8].size + dv[7::8, :].size)
    inner = (dh.sum() + dv.sum() - dh[:, 7::8].sum() - dv[7::8, :].sum()) / max(
        1, dh.size + dv.size - dh[:, 7::8].size - dv[7::8, :].size)
    block = max(0.0, edge / max(inner, 0.1) - 1)
    n = (g[:-2, :-2] - 2 * g[:-2, 1:-1] + g[:-2, 2:] - 2 * g[1:-1, :-2] + 4 * g[1:-1, 1:-1]
         - 2 * g[1:-1, 2:] + g[2:, :-2] - 2 * g[2:, 1:-1] + g[2:, 2:])
    noise = np.sqrt(np.pi / 2) * np.abs(n).sum() / (6 * n.size)
    small = rgb
    if max(rgb.size) > 512:
        s = 512 / max(rgb.size)
        small = rgb.resize((round(rgb.width * s), round(rgb.height * s)), Image.BOX)
    sg = np.asarray(small.convert("L"), dtype=np.int32)
    lap = 4 * sg[1:-1, 1:-1] - sg[:-2, 1:-1] - sg[2:, 1:-1] - sg[1:-1, :-2] - sg[1:-1, 2:]
    sharp = lap.var()
    s = np.asarray(small, dtype=np.float64)
    rg = s[..., 0] - s[..., 1]; yb = 0.5 * (s[..., 0] + s[..., 1]) - s[..., 2]
    colourful = np.sqrt(rg.var() + yb.var()) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return ent, block, noise, sharp, colourful

table = pq.read_table(sys.argv[1])
out = []
for b in table.column("image").to_pylist():
    im = Image.open(io.BytesIO(b))
    meta = (im.width, im.height, im.format, im.mode, len(b))
    im.load()                      # the one decode
    rgb = im.convert("RGB")
    ph = str(imagehash.phash(im))  # imagehash converts the decoded image itself
    out.append((meta, ph, quality(rgb)))
print(len(out))
"""


def generate(path: Path, n: int) -> None:
    """n JPEGs: random crops (640-1280 px wide, 4:3) of 40 photo-like 1280x960 base images,
    each encoded at a random quality, so every file is distinct."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(1)
    bases = []
    for b in range(40):
        field = np.array(
            [[[rng.randrange(256) for _ in range(3)] for _ in range(8)] for _ in range(6)], np.uint8
        )
        img = Image.fromarray(field, "RGB").resize((1280, 960), Image.BICUBIC)
        draw = ImageDraw.Draw(img)
        for _ in range(12):
            x, y = rng.randrange(1280), rng.randrange(960)
            draw.ellipse(
                [x, y, x + rng.randint(20, 420), y + rng.randint(20, 320)],
                fill=tuple(rng.randrange(256) for _ in range(3)),
            )
        img = img.filter(ImageFilter.GaussianBlur(1.2))
        noise = np.random.default_rng(b).normal(0, 6, (960, 1280, 3))
        bases.append(Image.fromarray(np.clip(np.asarray(img) + noise, 0, 255).astype(np.uint8)))
    ids, blobs = [], []
    for i in range(n):
        w = rng.randint(640, 1280)
        h = w * 3 // 4
        x, y = rng.randint(0, 1280 - w), rng.randint(0, 960 - h)
        buf = io.BytesIO()
        bases[i % 40].crop((x, y, x + w, y + h)).save(buf, "JPEG", quality=rng.randint(70, 95))
        ids.append(f"img{i:06d}")
        blobs.append(buf.getvalue())
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table({"id": ids, "image": pa.array(blobs, pa.binary())}), path, row_group_size=500
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/mdf-bench-image"))
    args = ap.parse_args()
    data = args.work / f"jpegs-{args.images}.parquet"
    if not data.exists():
        print(f"generating {args.images} JPEGs into {data} ...", flush=True)
        generate(data, args.images)
    size_mb = data.stat().st_size / 1e6
    print(f"input: {args.images} JPEGs, {size_mb:.0f} MB")

    import json

    out = args.work / "mdf-out"
    shutil.rmtree(out, ignore_errors=True)
    cfg = {
        "data_loader": {"type": "ParquetLoader", "params": {"paths": str(data)}},
        "stages": [
            {
                "name": "profile",
                "operators": [
                    {"name": "image_metadata_refiner"},
                    {"name": "image_technical_quality_refiner"},
                    {"name": "image_phash_refiner"},
                ],
            }
        ],
        "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
        "executor": {"batch_size": 256},
    }
    cfg_path = args.work / "bench_image.json"
    cfg_path.write_text(json.dumps(cfg))
    mdf_bin = [sys.executable, "-m", "mega_data_factory.cli"]
    runs = {
        "mdf (1 worker)": measure(
            [
                *mdf_bin,
                "run",
                "-c",
                str(cfg_path),
                "--workers",
                "1",
                "--overwrite",
                "--progress",
                "off",
            ]
        ),
        "Python: Pillow + imagehash + numpy": measure(
            [sys.executable, "-c", PYTHON_REFERENCE, str(data)]
        ),
    }
    print(f"{'run':40} {'wall s':>8} {'images/s':>9} {'img/CPU-s':>10} {'RSS MiB':>8}")
    for name, r in runs.items():
        print(
            f"{name:40} {r['wall']:8.1f} {args.images / r['wall']:9.0f} "
            f"{args.images / r['cpu']:10.1f} {r['rss_mib']:8.0f}"
        )
    ours, ref = runs["mdf (1 worker)"], runs["Python: Pillow + imagehash + numpy"]
    print(
        f"ratio per core (images per CPU-second): {ref['cpu'] / ours['cpu']:.2f}x; "
        f"wall-clock: {ref['wall'] / ours['wall']:.2f}x"
    )


if __name__ == "__main__":
    main()
