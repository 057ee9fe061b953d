"""Image profiling throughput: mdf (decode once -> metadata + technical quality + pHash) against
Python (Pillow decode + metadata + imagehash.phash + numpy quality measures) on the same JPEGs.

Generates N photo-like JPEGs of realistic size once (default 5,000, 640x480 to 1280x960 crops of
generated photo-like images, quality 70-95) into a Parquet file (id, image bytes), then runs,
each in its own process:
  * mdf with 1 worker: ParquetLoader -> image_metadata_refiner -> image_technical_quality_refiner
    -> image_phash_refiner -> Parquet (the measures, as the reference writes them; with
    --write-images the image bytes too), three times (--mdf-runs); the median by CPU time is
    compared, since a ~20 s run is short enough for a transient slowdown of a shared machine to
    move it by 20 %,
  * the Python reference, single process: every output mdf writes (metadata, JPEG quality,
    blockiness, noise, entropy, sharpness, colourfulness and colour cast, flat and clipped
    fractions, compression ratio and artifact score, pHash), as mdf defines them, in vectorised
    numpy, from one decode per image,
and prints wall time, images/s, images per CPU-second (per core), peak RSS and the ratio, then
how far the two sides' values are apart (pHash equality, largest relative difference per
measure), so a change on either side that computes something else shows.

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
import io, json, sys
import numpy as np
import pyarrow.parquet as pq
import imagehash
from PIL import Image

# libjpeg's standard luminance table; the quality whose scaled table is nearest (mdf's
# definition), all 100 candidate tables built once.
STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.int64)
QS = np.arange(1, 101)
TABLES = np.clip(
    (STD_LUMA[None, :] * np.where(QS < 50, 5000 // QS, 200 - 2 * QS)[:, None] + 50) // 100, 1, 255)

def jpeg_quality(im):
    tables = getattr(im, "quantization", None)
    if not tables:
        return None
    err = np.abs(TABLES - np.asarray(tables[0], np.int64)[None, :]).sum(axis=1)
    return float(QS[len(QS) - 1 - np.argmin(err[::-1])])  # the highest of equal errors

def quality(rgb, im, size):
    a = np.asarray(rgb)
    ent = 0.0
    for c in range(3):
        h = np.bincount(a[..., c].ravel(), minlength=256) / a[..., c].size
        h = h[h > 0]
        ent += float(-(h * np.log2(h)).sum()) / 3
    grey = rgb.convert("L")
    g = np.asarray(grey, dtype=np.int32)
    dh = np.abs(np.diff(g, axis=1)); dv = np.abs(np.diff(g, axis=0))
    edge = (dh[:, 7::8].sum() + dv[7::8, :].sum()) / max(1, dh[:, 7::8].size + dv[7::8, :].size)
    inner = (dh.sum() + dv.sum() - dh[:, 7::8].sum() - dv[7::8, :].sum()) / max(
        1, dh.size + dv.size - dh[:, 7::8].size - dv[7::8, :].size)
    block = max(0.0, (edge - inner) / (inner + 2))
    n = (g[:-2, :-2] - 2 * g[:-2, 1:-1] + g[:-2, 2:] - 2 * g[1:-1, :-2] + 4 * g[1:-1, 1:-1]
         - 2 * g[1:-1, 2:] + g[2:, :-2] - 2 * g[2:, 1:-1] + g[2:, 2:])
    noise = np.sqrt(np.pi / 2) * np.abs(n).sum() / (6 * n.size)
    # The analysis downscale (box filter to 512 px on the long side) of the grey image.
    small = grey
    if max(rgb.size) > 512:
        s = 512 / max(rgb.size)
        small = grey.resize((round(rgb.width * s), round(rgb.height * s)), Image.BOX)
    sg = np.asarray(small, dtype=np.int32)
    lap = 4 * sg[1:-1, 1:-1] - sg[:-2, 1:-1] - sg[2:, 1:-1] - sg[1:-1, :-2] - sg[1:-1, 2:]
    sharp = lap.var()
    h4, w4 = sg.shape[0] // 4 * 4, sg.shape[1] // 4 * 4
    blocks = sg[:h4, :w4].reshape(h4 // 4, 4, w4 // 4, 4)
    flat = float(((blocks.max(axis=(1, 3)) - blocks.min(axis=(1, 3))) <= 2).mean())
    clipped = float(((sg <= 2) | (sg >= 253)).mean())
    # Colourfulness (Hasler-Suesstrunk) and colour cast over every pixel, as mdf defines them.
    a16 = a.astype(np.int16)
    rg = a16[..., 0] - a16[..., 1]
    yb2 = a16[..., 0] + a16[..., 1] - 2 * a16[..., 2]
    mrg, myb = rg.mean(), yb2.mean() / 2
    spread = np.sqrt(rg.var() + yb2.var() / 4)
    chroma = np.sqrt(mrg ** 2 + myb ** 2)
    colourful, cast = spread + 0.3 * chroma, chroma / max(spread, 1.0)
    q = jpeg_quality(im)
    artifacts = min(1.0, max(0.0, (90 - q) / 80 if q is not None else 0.0, block / 1.5))
    ratio = rgb.width * rgb.height * 3 / max(1, size)
    return dict(entropy=ent, blockiness=block, noise=noise, sharpness=sharp, flat=flat,
                clipped=clipped, colourfulness=colourful, colour_cast=cast, jpeg_quality=q,
                artifacts=artifacts, compression_ratio=ratio)

table = pq.read_table(sys.argv[1])
out = []
for b in table.column("image").to_pylist():
    im = Image.open(io.BytesIO(b))
    meta = (im.width, im.height, im.format, im.mode, len(b), getattr(im, "is_animated", False),
            im.getexif().get(0x0112, 1))
    im.load()                      # the one decode
    rgb = im.convert("RGB")
    ph = str(imagehash.phash(im))  # imagehash converts the decoded image itself
    out.append(dict(meta=meta, phash=ph, **quality(rgb, im, len(b))))
json.dump(out, open(sys.argv[2], "w"))
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


# (mdf column, reference key): measures both sides define the same way.
SAME_MEASURES = [
    ("image_information_entropy", "entropy"),
    ("image_blockiness", "blockiness"),
    ("image_noise_sigma", "noise"),
    ("image_colourfulness", "colourfulness"),
    ("image_colour_cast", "colour_cast"),
    ("image_jpeg_quality", "jpeg_quality"),
    ("image_compression_artifacts", "artifacts"),
    # Downscaled in another pass order (mdf: vertical first), so close but not equal.
    ("image_sharpness", "sharpness"),
    ("image_flat_fraction", "flat"),
    ("image_clipped_fraction", "clipped"),
]


def compare(mdf_out: Path, reference: Path) -> None:
    """Prints how far mdf's outputs are from the reference's, so the two are known to compute
    the same things."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(mdf_out.glob("*.parquet"))
    cols = ["id", "phash"] + [c for c, _ in SAME_MEASURES]
    ours = pa.concat_tables(pq.read_table(f, columns=cols) for f in files).sort_by("id")
    ref = json.loads(reference.read_text())
    if ours.num_rows != len(ref):
        print(f"row counts differ: mdf {ours.num_rows}, reference {len(ref)}")
        return
    hashes = ours.column("phash").to_pylist()
    same_phash = sum(a == r["phash"] for a, r in zip(hashes, ref, strict=True))
    print(
        f"pHash equal on {same_phash}/{len(ref)} images; largest difference per measure "
        "(relative where the reference is above 1, absolute below):"
    )
    for col, key in SAME_MEASURES:
        worst = max(
            abs(a - r[key]) / max(abs(r[key]), 1.0)
            for a, r in zip(ours.column(col).to_pylist(), ref, strict=True)
        )
        print(f"  {col:32} {worst:.2e}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/mdf-bench-image"))
    ap.add_argument(
        "--mdf-runs",
        type=int,
        default=3,
        help="mdf runs (the median by CPU time is compared): mdf's run is ~20 s, short enough "
        "for a transient slowdown of the machine to move it by 20 %%; Python's ~3 min run "
        "averages such phases out",
    )
    ap.add_argument(
        "--write-images",
        action="store_true",
        help="mdf writes the image bytes back with the measures (by default it writes what "
        "the reference writes: the measures, with `exclude_columns: [image]`)",
    )
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
        "data_writer": {
            "type": "ParquetDataWriter",
            "params": {
                "output_path": str(out),
                # The reference writes the measures only; so does mdf unless asked.
                "exclude_columns": [] if args.write_images else ["image"],
            },
        },
        "executor": {"batch_size": 256},
    }
    cfg_path = args.work / "bench_image.json"
    cfg_path.write_text(json.dumps(cfg))
    mdf_bin = [sys.executable, "-m", "mega_data_factory.cli"]
    mdf_cmd = [
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
    mdf_runs = sorted(
        (measure(mdf_cmd) for _ in range(max(1, args.mdf_runs))), key=lambda r: r["cpu"]
    )
    if len(mdf_runs) > 1:
        print(
            "mdf runs, images per CPU-second: "
            + ", ".join(f"{args.images / r['cpu']:.1f}" for r in mdf_runs)
            + " (the median is compared)"
        )
    print(
        "mdf writes the measures and the image bytes"
        if args.write_images
        else "both sides write the measures, not the images (--write-images: mdf writes them too)"
    )
    runs = {
        "mdf (1 worker)": mdf_runs[len(mdf_runs) // 2],
        "Python: Pillow + imagehash + numpy": measure(
            [sys.executable, "-c", PYTHON_REFERENCE, str(data), str(args.work / "python.json")]
        ),
    }
    print(f"{'run':40} {'wall s':>8} {'images/s':>9} {'img/CPU-s':>10} {'RSS MiB':>8}")
    for name, r in runs.items():
        print(
            f"{name:40} {r['wall']:8.1f} {args.images / r['wall']:9.0f} "
            f"{args.images / r['cpu']:10.1f} {r['rss_mib']:8.0f}"
        )
    compare(out, args.work / "python.json")
    ours, ref = runs["mdf (1 worker)"], runs["Python: Pillow + imagehash + numpy"]
    print(
        f"ratio per core (images per CPU-second): {ref['cpu'] / ours['cpu']:.2f}x; "
        f"wall-clock: {ref['wall'] / ours['wall']:.2f}x"
    )


if __name__ == "__main__":
    main()
