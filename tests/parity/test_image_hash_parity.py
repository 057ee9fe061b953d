"""Parity of mdf's perceptual hashes with the Python `imagehash` package (Pillow decoding):
phash, dhash and average_hash over >= 1,000 generated images of varied size, content, mode and
format, plus the real photos shipped in scikit-image's wheel when it is installed. Target
(image-video-recipes.md §0.5): >= 99 % identical, Hamming distance <= 2 for the rest. Met: mdf
decodes JPEG with libjpeg-turbo's decoder set up as Pillow sets it, so JPEG and lossless input
alike give Pillow's pixels and identical hashes; only images whose DCT block has an exact tie at
the median (reported as their own group) can differ. The figures per group are printed and
documented in docs/image.md."""

from __future__ import annotations

import io
import random
from collections import Counter

import pytest
from image_helpers import jpeg_bytes, real_photo_files, run_hashes

imagehash = pytest.importorskip("imagehash")
np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")
ImageDraw = pytest.importorskip("PIL.ImageDraw")
ImageFilter = pytest.importorskip("PIL.ImageFilter")

REFERENCE = {
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
    "ahash": imagehash.average_hash,
}


def generated_image(rng: random.Random) -> Image.Image:
    """A photo-like RGB image: a bicubic-upscaled random field, shapes, optional blur/noise."""
    w, h = rng.randint(8, 640), rng.randint(8, 640)
    fw, fh = rng.randint(2, 9), rng.randint(2, 9)
    field = np.array(
        [[[rng.randrange(256) for _ in range(3)] for _ in range(fw)] for _ in range(fh)],
        dtype=np.uint8,
    )
    img = Image.fromarray(field, "RGB").resize((w, h), Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(0, 6)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randint(1, w), y0 + rng.randint(1, h)
        fill = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=fill)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 3)))
    if rng.random() < 0.3:
        noise = np.random.default_rng(rng.randrange(1 << 30)).normal(
            0, rng.uniform(2, 20), (h, w, 3)
        )
        img = Image.fromarray(np.clip(np.asarray(img) + noise, 0, 255).astype(np.uint8), "RGB")
    return img


def encode(img: Image.Image, rng: random.Random) -> bytes:
    """Encodes in a random mode and format (JPEG, PNG, WebP, GIF)."""
    buf = io.BytesIO()
    kind = rng.choices(
        ["jpeg", "jpeg_l", "png", "png_l", "png_rgba", "png_p", "webp", "gif"],
        [40, 8, 15, 8, 8, 7, 7, 7],
    )[0]
    if kind == "jpeg":
        img.save(buf, "JPEG", quality=rng.randint(20, 95), subsampling=rng.choice([0, 1, 2]))
    elif kind == "jpeg_l":
        img.convert("L").save(buf, "JPEG", quality=rng.randint(20, 95))
    elif kind == "png":
        img.save(buf, "PNG")
    elif kind == "png_l":
        img.convert("L").save(buf, "PNG")
    elif kind == "png_rgba":
        rgba = img.convert("RGBA")
        rgba.putalpha(rng.randint(0, 255))
        rgba.save(buf, "PNG")
    elif kind == "png_p":
        img.quantize(colors=rng.choice([16, 64, 256])).save(buf, "PNG")
    elif kind == "webp":
        img.save(buf, "WEBP", lossless=True)
    else:
        img.convert("P").save(buf, "GIF")
    return buf.getvalue()


def real_photos() -> list[tuple[str, bytes]]:
    """scikit-image's photos as they are and re-encoded as JPEG at three qualities."""
    out = []
    for p in real_photo_files():
        raw = p.read_bytes()
        try:
            img = Image.open(io.BytesIO(raw))
            img.load()
        except Exception:  # noqa: BLE001 - files Pillow cannot read are not comparable
            continue
        out.append((f"skimage/{p.name}", raw))
        rgb = img.convert("RGB")
        for q in (30, 75, 95):
            out.append((f"skimage/{p.stem}@q{q}.jpg", jpeg_bytes(rgb, q)))
    return out


def dct_tie(img, hash_size: int) -> bool:
    """True when imagehash's own pHash has an exact tie at the median: the two middle DCT
    values are equal up to floating-point noise (symmetric synthetic patterns such as a
    chessboard), so which bits are set depends on the rounding of scipy's FFT."""
    n, m = hash_size * 4, hash_size * hash_size
    px = np.asarray(img.convert("L").resize((n, n), Image.LANCZOS), dtype=np.float64)
    fft = pytest.importorskip("scipy.fftpack")
    s = np.sort(fft.dct(fft.dct(px, axis=0), axis=1)[:hash_size, :hash_size].ravel())
    return abs(s[m // 2] - s[m // 2 - 1]) < 1e-6 * max(1.0, abs(s[-1]))


def compare(images, ours, hash_size: int, hashes: list[str]) -> dict[str, dict[str, Counter]]:
    """Hamming distances to imagehash per hash and image group (jpeg = JPEG input; other =
    lossless formats; tie = degenerate pHash inputs whose bits no other DCT can reproduce)."""
    dist: dict[str, dict[str, Counter]] = {h: {} for h in hashes}
    worst = []
    for key, raw in images:
        img = Image.open(io.BytesIO(raw))
        group = "jpeg" if img.format == "JPEG" else "other"
        if "phash" in hashes and dct_tie(img, hash_size):
            group = "tie"
        for h in hashes:
            theirs = REFERENCE[h](img, hash_size=hash_size)
            d = theirs - imagehash.hex_to_hash(ours[key][h])
            dist[h].setdefault(group, Counter())[d] += 1
            dist[h].setdefault("all", Counter())[d] += 1
            if d > 2:
                worst.append((key, group, h, d))
    for h, groups in dist.items():
        for group, c in sorted(groups.items()):
            n = sum(c.values())
            print(
                f"{h} hash_size={hash_size} {group:5}: {c[0]}/{n} identical ({c[0] / n:.2%}); "
                f"distance histogram {sorted((int(k), v) for k, v in c.items())}"
            )
    for w in worst[:20]:
        print("  distance > 2:", w)
    return dist


def rate(c: Counter) -> float:
    return c[0] / max(1, sum(c.values()))


def test_hashes_match_imagehash(tmp_path):
    rng = random.Random(20261127)
    images = [(f"gen{i:05d}", encode(generated_image(rng), rng)) for i in range(1000)]
    images += real_photos()
    hashes = ["phash", "dhash", "ahash"]
    ours = run_hashes(tmp_path, images, 8, hashes)
    dist = compare(images, ours, 8, hashes)
    for h, groups in dist.items():
        # Lossless and JPEG input decode to Pillow's pixels, and the hash arithmetic is exact:
        # measured 100 % identical in both groups (566 JPEGs, 521 lossless images). Before mdf
        # decoded JPEG with libjpeg-turbo (zune-jpeg: ±1 level in some pixels) pHash on JPEG
        # was 97.35 %, which this bound catches.
        for group in ("other", "jpeg"):
            c = groups[group]
            assert rate(c) >= 0.995 and max(c) <= 2, (h, group, sorted(c.items()))
        # Everything, median ties included (measured 99.28 % for pHash, 100 % for the others).
        assert rate(groups["all"]) >= 0.99, (h, sorted(groups["all"].items()))

    # 256-bit pHash (the seed deduplicator's hash_size 16) on a subset: measured 100 % on
    # lossless and JPEG input (a tie at the median of the 16x16 block is more common: 39 images).
    subset = images[::4]
    ours16 = run_hashes(tmp_path, subset, 16, ["phash"])
    groups = compare(subset, ours16, 16, ["phash"])["phash"]
    for group in ("other", "jpeg"):
        assert rate(groups[group]) >= 0.99, (group, sorted(groups[group].items()))
