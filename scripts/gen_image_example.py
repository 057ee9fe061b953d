"""Generates the bundled image sample: examples/data/images-000{0,1}.tar, two WebDataset shards
(img2dataset layout: KEY.jpg/.png + KEY.txt caption + KEY.json metadata) of small generated
photo-like images, some of them near duplicates (re-encodes, resizes, crops) of others.

    python scripts/gen_image_example.py    # needs Pillow and numpy; output is deterministic
"""

from __future__ import annotations

import io
import json
import random
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent.parent / "examples" / "data"
WORDS = "a red house by the lake at dusk with trees and a small boat under clouds".split()


def photo(rng: random.Random, w: int, h: int) -> Image.Image:
    field = np.array(
        [[[rng.randrange(256) for _ in range(3)] for _ in range(5)] for _ in range(4)], np.uint8
    )
    img = Image.fromarray(field, "RGB").resize((w, h), Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(5):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        box = [x0, y0, x0 + rng.randint(10, w // 2), y0 + rng.randint(10, h // 2)]
        draw.ellipse(box, fill=tuple(rng.randrange(256) for _ in range(3)))
    img = img.filter(ImageFilter.GaussianBlur(1.0))
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 4, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img) + noise, 0, 255).astype(np.uint8), "RGB")


def jpeg(img: Image.Image, q: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=q)
    return buf.getvalue()


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def main() -> None:
    rng = random.Random(7)
    samples = []
    for i in range(24):
        w, h = rng.choice([(256, 192), (192, 256), (300, 200), (224, 224), (480, 150)])
        img = photo(rng, w, h)
        caption = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))
        samples.append((img, jpeg(img, rng.randint(50, 85)), caption, "jpg"))
        if i % 6 == 0:  # a near duplicate: re-encoded at low quality and resized
            dup = img.resize((w * 3 // 4, h * 3 // 4), Image.LANCZOS)
            samples.append((dup, jpeg(dup, 30), caption + " (copy)", "jpg"))
        if i % 9 == 4:  # a lossless copy with a 4 % crop
            crop = img.crop((w // 50, h // 50, w - w // 50, h - h // 50))
            buf = io.BytesIO()
            crop.quantize(colors=48).convert("RGB").save(buf, "PNG", optimize=True)
            samples.append((crop, buf.getvalue(), caption, "png"))
    half = (len(samples) + 1) // 2
    for shard, chunk in enumerate([samples[:half], samples[half:]]):
        path = OUT / f"images-{shard:04d}.tar"
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
            for k, (img, data, caption, ext) in enumerate(chunk):
                key = f"{shard:04d}{k:05d}"
                meta = {"key": key, "caption": caption, "width": img.width, "height": img.height}
                add(tar, f"{key}.{ext}", data)
                add(tar, f"{key}.txt", caption.encode())
                add(tar, f"{key}.json", json.dumps(meta).encode())
        print(path, path.stat().st_size)


if __name__ == "__main__":
    main()
