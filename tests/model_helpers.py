"""Tiny randomly initialised models of the real architectures, saved in the real formats
(``save_pretrained``: config.json + model.safetensors, plus the tokenizer and the PIL image
processor's preprocessor_config.json), so the model operators load them through the same code
path as downloaded weights. Also: small image sets and a parquet writer for them.

Shared by the model-operator tests (embeddings, score heads)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

IMAGE_SIZE = 32  # the tiny vision towers' input side
CLIP_DIM = 16  # projection_dim of the tiny CLIP
SIGLIP_DIM = 32  # hidden size (= embedding size) of the tiny SigLIP


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-level BPE alphabet."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def _tiny_clip_tokenizer(directory: Path):
    """A CLIP BPE tokenizer over single bytes (no merges): real format, tiny vocabulary."""
    import transformers

    chars = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    files = directory / "_tok_src"
    files.mkdir(parents=True, exist_ok=True)
    (files / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (files / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tok = transformers.CLIPTokenizer(str(files / "vocab.json"), str(files / "merges.txt"))
    return tok, vocab


def _pil_processor(name: str):
    import transformers

    # transformers 5 names the PIL-based ("slow") processors *Pil; in 4.x they are the default.
    return getattr(transformers, f"{name}Pil", None) or getattr(transformers, name)


def make_tiny_clip(directory: Path, seed: int = 0, context: int = 77) -> Path:
    """A CLIPModel (ViT 32px/8px patches, 2 layers, projection 16) with its tokenizer and
    image processor, saved to ``directory``."""
    import torch
    import transformers

    directory.mkdir(parents=True, exist_ok=True)
    tok, vocab = _tiny_clip_tokenizer(directory)
    eos, bos = vocab["<|endoftext|>"], vocab["<|startoftext|>"]
    config = transformers.CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": context,
            "eos_token_id": eos,
            "bos_token_id": bos,
            "pad_token_id": eos,
        },
        vision_config={
            "image_size": IMAGE_SIZE,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        },
        projection_dim=CLIP_DIM,
    )
    torch.manual_seed(seed)
    model = transformers.CLIPModel(config).eval()
    model.save_pretrained(str(directory))
    tok.save_pretrained(str(directory))
    processor = _pil_processor("CLIPImageProcessor")(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    processor.save_pretrained(str(directory))
    return directory


def make_tiny_siglip(directory: Path, seed: int = 0) -> Path:
    """A SiglipModel (32px/8px patches, 2 layers, 32-d) with its image processor."""
    import torch
    import transformers

    directory.mkdir(parents=True, exist_ok=True)
    config = transformers.SiglipConfig(
        text_config={
            "vocab_size": 99,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 16,
        },
        vision_config={
            "image_size": IMAGE_SIZE,
            "patch_size": 8,
            "hidden_size": SIGLIP_DIM,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        },
    )
    torch.manual_seed(seed)
    model = transformers.SiglipModel(config).eval()
    model.save_pretrained(str(directory))
    processor = _pil_processor("SiglipImageProcessor")(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    processor.save_pretrained(str(directory))
    return directory


def clip_processor(directory: Path):
    """The reference (PIL-based) CLIP image processor saved with the tiny model."""
    return _pil_processor("CLIPImageProcessor").from_pretrained(str(directory))


def siglip_processor(directory: Path):
    return _pil_processor("SiglipImageProcessor").from_pretrained(str(directory))


def sample_images(n: int = 12, seed: int = 0) -> list[tuple[str, bytes]]:
    """``(id, encoded bytes)`` of varied images: sizes and aspect ratios (both orientations, odd
    crops), PNG RGB / grey / RGBA and JPEG; smooth content plus noise so resizing matters."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    sizes = [(64, 48), (48, 64), (37, 91), (120, 33), (32, 32), (17, 23), (200, 150), (45, 45)]
    out = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack(
            [
                (xx * (3 + i) + yy * 2) % 256,
                (yy * (5 + i) + 40 * i) % 256,
                ((xx + yy) * 7 + 13 * i) % 256,
            ],
            axis=-1,
        ).astype(np.float64)
        pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        img = Image.fromarray(pixels, "RGB")
        buf = io.BytesIO()
        kind = i % 4
        if kind == 0:
            img.save(buf, "PNG")
        elif kind == 1:
            img.convert("L").save(buf, "PNG")
        elif kind == 2:
            img.convert("RGBA").save(buf, "PNG")
        else:
            img.save(buf, "JPEG", quality=90)
        out.append((f"img{i:03d}", buf.getvalue()))
    return out


def captions(n: int) -> list[str]:
    words = ["a", "photo", "of", "the", "red", "cat", "dog", "on", "grass", "at", "night"]
    return [" ".join(words[(i + k) % len(words)] for k in range(3 + i % 5)) for i in range(n)]


def write_parquet(path: Path, images: list[tuple[str, bytes | None]], **columns) -> Path:
    """A parquet file with ``id``, ``image`` (binary) and extra columns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = {
        "id": [i for i, _ in images],
        "image": pa.array([b for _, b in images], pa.binary()),
    }
    table.update(columns)
    pq.write_table(pa.table(table), path)
    return path


def read_rows(run_dir: Path) -> list[dict]:
    return [r for f in sorted(run_dir.glob("part-*.parquet")) for r in pq.read_table(f).to_pylist()]
