"""Builds a local, offline sandbox in which the model recipes (configs/z_image.yaml,
configs/laion.yaml, configs/datacomp.yaml) run unchanged on a small sample with tiny models:

    python scripts/make_model_sample.py output/model_sample
    eval "$(python scripts/make_model_sample.py output/model_sample --print-env)"
    mdf run -c configs/z_image.yaml

What it writes under DIR (deterministic; needs torch, transformers, safetensors, Pillow, numpy):

* ``hf/`` — a Hugging Face cache (``HF_HOME``) holding
  - the dataset ``jp1924/Laion400m-1`` in the real cache layout
    (``hub/datasets--jp1924--Laion400m-1/snapshots/<commit>/data/train-*.parquet``, the dataset's
    columns: ``id``, ``image`` {bytes, path}, ``caption``, ``caption_ls``, ``category``,
    ``height``, ``width``, ``license``, ``nsfw``, ``similarity``) made of the bundled
    ``examples/data/images-*.tar`` images;
  - tiny **randomly initialised** CLIP and SigLIP2 models of the real architectures, saved under
    the repo ids the configs name (see ``tests/model_helpers.py``);
* ``mdf/`` — ``MDF_HOME`` with ``models/sac+logos+ava1-l14-linearMSE.pth`` (**random** weights
  in the real LAION format: the aesthetic scores mean nothing),
  ``models/clip_autokeras_binary_nsfw.pth`` (random, real format), and heads trained by
  ``mdf train-head`` on generated labelled images (``heads/image_aigc_detector``,
  ``heads/image_watermark``).

Nothing here is a real model: the point is that the configs, operators and weight formats run
end to end offline. For real runs, put the real weights at the same places (docs/models.md).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATASET = "jp1924/Laion400m-1"


def bundled_images() -> list[tuple[str, bytes, str]]:
    """(key, image bytes, caption) of the bundled WebDataset sample, in shard order."""
    out = []
    for tar_path in sorted((REPO / "examples" / "data").glob("images-*.tar")):
        with tarfile.open(tar_path) as tar:
            members = {m.name: m for m in tar.getmembers()}
            for name in sorted(members):
                stem, _, ext = name.rpartition(".")
                if ext not in ("jpg", "png", "webp"):
                    continue
                image = tar.extractfile(members[name]).read()
                caption_member = members.get(f"{stem}.txt")
                caption = tar.extractfile(caption_member).read().decode() if caption_member else ""
                out.append((stem, image, caption))
    return out


def write_hf_dataset(hf_home: Path, name: str = DATASET) -> Path:
    """The bundled images as ``name`` in the Hugging Face cache under ``hf_home``; returns the
    snapshot directory."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    rows = bundled_images()
    commit = hashlib.sha1(f"{name}:{len(rows)}".encode()).hexdigest()
    repo_dir = hf_home / "hub" / f"datasets--{name.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / commit
    (snapshot / "data").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    sizes = [Image.open(io.BytesIO(b)).size for _, b, _ in rows]
    rng = random.Random(0)
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table(
        {
            "id": pa.array([i for i in range(len(rows))], pa.int64()),
            "image": pa.array(
                [{"bytes": b, "path": f"{k}.jpg"} for k, b, _ in rows], type=image_type
            ),
            "caption": [c for _, _, c in rows],
            "caption_ls": [[c] for _, _, c in rows],
            "category": ["photo"] * len(rows),
            "height": pa.array([h for _, h in sizes], pa.int32()),
            "width": pa.array([w for w, _ in sizes], pa.int32()),
            "license": ["?"] * len(rows),
            "nsfw": ["UNLIKELY"] * len(rows),
            "similarity": pa.array([round(rng.uniform(0.28, 0.4), 4) for _ in rows], pa.float32()),
        }
    )
    features = {
        "id": {"dtype": "int64", "_type": "Value"},
        "image": {"_type": "Image"},
        "caption": {"dtype": "string", "_type": "Value"},
        "caption_ls": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "Sequence"},
        "category": {"dtype": "string", "_type": "Value"},
        "height": {"dtype": "int32", "_type": "Value"},
        "width": {"dtype": "int32", "_type": "Value"},
        "license": {"dtype": "string", "_type": "Value"},
        "nsfw": {"dtype": "string", "_type": "Value"},
        "similarity": {"dtype": "float32", "_type": "Value"},
    }
    table = table.replace_schema_metadata(
        {"huggingface": json.dumps({"info": {"features": features}})}
    )
    pq.write_table(table, snapshot / "data" / "train-00000-of-00001.parquet", row_group_size=16)
    return snapshot


def labelled_images(root: Path, n: int = 48, seed: int = 0) -> dict[str, Path]:
    """Two folders of generated images for the heads' demo training: ``clean`` photo-like
    images (smooth colour fields, shapes, sensor noise, JPEG) and ``marked`` copies of other such
    images with a large translucent panel and repeated text (a stock-photo mark) and no noise
    (PNG). A stand-in for real
    labelled data (generated vs real, watermarked vs clean), not a benchmark."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    dirs = {"clean": root / "clean", "marked": root / "marked"}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for i in range(2 * n):
        w, h = rng.choice([(256, 192), (224, 224), (192, 256)])
        field = np.array(
            [[[rng.randrange(256) for _ in range(3)] for _ in range(4)] for _ in range(3)],
            np.uint8,
        )
        img = Image.fromarray(field, "RGB").resize((w, h), Image.BICUBIC)
        draw = ImageDraw.Draw(img)
        for _ in range(4):
            x0, y0 = rng.randrange(w), rng.randrange(h)
            box = [x0, y0, x0 + rng.randint(10, w // 2), y0 + rng.randint(10, h // 2)]
            draw.ellipse(box, fill=tuple(rng.randrange(256) for _ in range(3)))
        img = img.filter(ImageFilter.GaussianBlur(1.0))
        buf = io.BytesIO()
        if i % 2 == 0:
            noise = np.random.default_rng(i).normal(0, 12, (h, w, 3))
            arr = np.clip(np.asarray(img) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(arr, "RGB").save(buf, "JPEG", quality=rng.randint(60, 90))
            (dirs["clean"] / f"{i:04d}.jpg").write_bytes(buf.getvalue())
        else:
            # A stock-photo mark: a large translucent panel with the agency's name repeated.
            overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
            od = ImageDraw.Draw(overlay)
            od.rectangle([w // 6, h // 4, w - w // 6, h - h // 4], fill=(255, 255, 255, 150))
            for y in range(0, h, 24):
                od.text((rng.randrange(8), y), "(c) STOCK PHOTO " * 4, fill=(255, 255, 255, 170))
            img = Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")
            img.save(buf, "PNG")
            (dirs["marked"] / f"{i:04d}.png").write_bytes(buf.getvalue())
    return dirs


def cache_model(hf_home: Path, repo: str, make) -> Path:
    """Saves the model ``make(directory)`` builds as ``repo`` in the Hugging Face cache layout
    (``hub/models--org--name/snapshots/<commit>/`` + ``refs/main``)."""
    repo_dir = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    commit = hashlib.sha1(repo.encode()).hexdigest()
    snapshot = repo_dir / "snapshots" / commit
    make(snapshot)
    for scratch in snapshot.glob("_*"):  # the tokenizer's build files
        if scratch.is_dir():
            for f in scratch.iterdir():
                f.unlink()
            scratch.rmdir()
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return snapshot


def tiny_clip_l14(directory: Path) -> Path:
    """The tiny CLIP of tests/model_helpers.py with ViT-L/14's 768-d projection (the LAION
    heads take 768-d vectors)."""
    import model_helpers
    import torch
    import transformers

    model_helpers.make_tiny_clip(directory)
    config = transformers.CLIPConfig.from_pretrained(str(directory))
    config.projection_dim = 768
    torch.manual_seed(0)
    transformers.CLIPModel(config).eval().save_pretrained(str(directory))
    return directory


def write_random_laion_weights(mdf_home: Path, seed: int = 0) -> None:
    """Random weights in the two LAION formats, at the operators' default paths."""
    import torch

    from mega_data_factory.models import embedding_heads as eh

    torch.manual_seed(seed)
    models = mdf_home / "models"
    models.mkdir(parents=True, exist_ok=True)
    aesthetic = eh.laion_aesthetic_mlp(768)
    with torch.no_grad():  # centre the random head on the scale's middle, like real scores
        aesthetic.layers[7].bias.fill_(5.0)
    torch.save(aesthetic.state_dict(), models / "sac+logos+ava1-l14-linearMSE.pth")
    torch.save(eh.laion_nsfw_mlp(768).state_dict(), models / "clip_autokeras_binary_nsfw.pth")


def env(out: Path) -> dict[str, str]:
    return {
        "HF_HOME": str(out / "hf"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "MDF_HOME": str(out / "mdf"),
    }


def build(out: Path, workers: int | None = None) -> dict[str, str]:
    """Everything above under ``out``; returns the environment variables to run with."""
    import os
    import sys

    variables = env(out)
    os.environ.update(variables)
    write_hf_dataset(out / "hf")
    sys.path.insert(0, str(REPO / "tests"))
    import model_helpers  # the tiny random CLIP/SigLIP models, saved in the real formats

    hf = out / "hf"
    cache_model(hf, "openai/clip-vit-large-patch14", tiny_clip_l14)  # ViT-L-14 / openai
    cache_model(hf, "openai/clip-vit-base-patch32", model_helpers.make_tiny_clip)  # ViT-B-32
    cache_model(hf, "google/siglip2-so400m-patch14-384", model_helpers.make_tiny_siglip)
    write_random_laion_weights(out / "mdf")
    from mega_data_factory.models.train_head import train_head

    dirs = labelled_images(out / "labelled")
    for task in ("aigc", "watermark"):
        train_head(
            task=task,
            classes={"positive": [str(dirs["marked"])], "negative": [str(dirs["clean"])]},
            workers=workers,
            max_iter=100,
        )
    return variables


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="directory to write (e.g. output/model_sample)")
    ap.add_argument("--print-env", action="store_true", help="only print the exports")
    args = ap.parse_args()
    out = args.out.resolve()
    variables = env(out) if args.print_env else build(out)
    for key, value in variables.items():
        print(f"export {key}={value}")


if __name__ == "__main__":
    main()
