"""Model operator overhead: images/s of ``image_clip_embedding_refiner`` inside ``mdf`` against a
bare PyTorch loop over the same images, on the same device, same model, same batch size.

The model is a randomly initialised transformers ``CLIPModel`` saved with ``save_pretrained``
(no download): ``--size b32`` has ViT-B/32's shapes (224 px, 32 px patches, 12×768 vision
layers, 512-d projection), ``--size small`` a 4-layer 256-wide ViT at 224 px for slow CPUs.
The images are synthetic photos-like JPEGs (``--width``×``--height``, default 500×375, a typical
web image), encoded once before timing.

- bare loop: per batch, ``PIL.Image.open`` + the model's HF image processor
  (``AutoImageProcessor``: the library default) + ``get_image_features`` + L2 normalisation, under
  ``torch.inference_mode``, in the model's precision (fp16 on CUDA with ``--fp16``);
- mdf: ``mdf.run`` of ParquetLoader → the operator → ParquetDataWriter over the same images in
  one parquet file, one worker (one model). Includes reading and writing the parquet files.

Each is timed ``--rounds`` times, interleaved, after a warm-up round (so nobody counts the model
load), on a fresh thread each (as mdf's worker threads), best of the rounds.

Also times the model alone on pixels prepared before timing (the ceiling of any pipeline).
Prints the rates, the ratio mdf / bare (target ≥ 0.90) and mdf / model-only.

    pip install -e '.[models]'
    maturin build --release -o /tmp/w && pip install --force-reinstall --no-deps /tmp/w/*.whl
    python benchmarks/bench_models.py --size small --images 512 --batch 32      # CPU
    python benchmarks/bench_models.py --size b32 --images 4096 --batch 256 --fp16  # GPU
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path


def make_model(directory: Path, size: str) -> Path:
    import torch
    import transformers

    vision = {"image_size": 224, "patch_size": 32}
    text = {"max_position_embeddings": 77}
    if size == "small":
        layer = {"hidden_size": 256, "intermediate_size": 1024, "num_attention_heads": 4}
        vision |= layer | {"num_hidden_layers": 4}
        text |= layer | {"num_hidden_layers": 2}
        projection = 256
    else:  # ViT-B/32 shapes (transformers' CLIPConfig defaults are B/32's)
        vision |= {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12}
        vision |= {"num_hidden_layers": 12}
        projection = 512
    config = transformers.CLIPConfig(
        text_config=text, vision_config=vision, projection_dim=projection
    )
    torch.manual_seed(0)
    transformers.CLIPModel(config).save_pretrained(str(directory))
    processor = getattr(transformers, "CLIPImageProcessorPil", None) or (
        transformers.CLIPImageProcessor
    )
    processor().save_pretrained(str(directory))
    return directory


def make_images(n: int, width: int, height: int) -> list[bytes]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    out = []
    for i in range(n):
        base = np.stack(
            [(xx * (1 + i % 5) + yy) % 256, (yy * 2 + 9 * i) % 256, (xx + yy * (i % 3)) % 256], -1
        )
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buf, "JPEG", quality=88)
        out.append(buf.getvalue())
    return out


def bare_loop(
    model_dir: Path, images: list[bytes], batch: int, device, dtype
) -> Callable[[], float]:
    import torch
    import transformers
    from PIL import Image

    model = transformers.CLIPModel.from_pretrained(str(model_dir)).to(device=device, dtype=dtype)
    model.eval()
    processor = transformers.AutoImageProcessor.from_pretrained(str(model_dir))
    print(f"bare loop processor: {type(processor).__name__}")

    def once() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(images), batch):
                pil = [Image.open(io.BytesIO(b)) for b in images[i : i + batch]]
                pixels = processor(images=pil, return_tensors="pt")["pixel_values"]
                out = model.get_image_features(pixel_values=pixels.to(device, dtype))
                feats = out if isinstance(out, torch.Tensor) else out.pooler_output
                torch.nn.functional.normalize(feats.float(), dim=-1).cpu()
        return time.perf_counter() - start

    return once


def forward_only(
    model_dir: Path, images: list[bytes], batch: int, device, dtype
) -> Callable[[], float]:
    """The model alone on pixels prepared before timing: the ceiling for any pipeline."""
    import torch
    import transformers
    from PIL import Image

    model = transformers.CLIPModel.from_pretrained(str(model_dir)).to(device=device, dtype=dtype)
    model.eval()
    processor = transformers.AutoImageProcessor.from_pretrained(str(model_dir))
    batches = [
        processor(
            images=[Image.open(io.BytesIO(b)) for b in images[i : i + batch]], return_tensors="pt"
        )["pixel_values"].to(device, dtype)
        for i in range(0, len(images), batch)
    ]

    def once() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for pixels in batches:
                out = model.get_image_features(pixel_values=pixels)
                feats = out if isinstance(out, torch.Tensor) else out.pooler_output
                torch.nn.functional.normalize(feats.float(), dim=-1).cpu()
        return time.perf_counter() - start

    return once


def mdf_run(
    model_dir: Path, images: list[bytes], batch: int, device: str, fp16: bool, tmp: Path
) -> Callable[[], float]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import mega_data_factory as mdf

    src = tmp / "in" / "images.parquet"
    src.parent.mkdir(parents=True, exist_ok=True)
    ids = [f"{i:06d}" for i in range(len(images))]
    pq.write_table(pa.table({"id": ids, "image": pa.array(images, pa.binary())}), src)
    cfg = {
        "data_loader": {"type": "ParquetLoader", "params": {"paths": str(src)}},
        "stages": [
            {
                "name": "embed",
                "operators": [
                    {
                        "name": "image_clip_embedding_refiner",
                        "params": {
                            "model_name": str(model_dir),
                            "inference_batch_size": batch,
                            "device": device,
                            "use_fp16": fp16,
                            "preprocess_workers": 0,
                        },
                    }
                ],
            }
        ],
        "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(tmp / "out")}},
        "executor": {"batch_size": max(batch * 4, 256)},
    }

    def once() -> float:
        start = time.perf_counter()
        stats = mdf.run(cfg, progress="off", workers=1, overwrite=True)
        elapsed = time.perf_counter() - start
        assert stats["output_records"] == len(images), stats
        return elapsed

    return once


def in_thread(fn) -> float:
    """Runs ``fn`` on a fresh thread, as mdf runs operators on its worker threads: torch's
    intra-op thread team behaves differently on the main thread of a busy machine."""
    result: list[float] = []
    worker = threading.Thread(target=lambda: result.append(fn()))
    worker.start()
    worker.join()
    return result[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=["small", "b32"], default="small")
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--width", type=int, default=500)
    ap.add_argument("--height", type=int, default=375)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--fp16", action="store_true", help="half precision on a GPU")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds (best of), interleaved")
    args = ap.parse_args()

    import torch

    from mega_data_factory.models.base import select_device, select_dtype

    device = select_device(args.device)
    dtype = select_dtype(device, args.fp16, "float16")
    tmp = Path(tempfile.mkdtemp(prefix="mdf-bench-models-"))
    try:
        model_dir = make_model(tmp / "model", args.size)
        images = make_images(args.images, args.width, args.height)
        print(
            f"device {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}),"
            f" {dtype}, torch threads {torch.get_num_threads()}, model {args.size}, "
            f"{args.images} images {args.width}x{args.height} JPEG, batch {args.batch}"
        )
        runs = {
            "bare": bare_loop(model_dir, images, args.batch, device, dtype),
            "mdf": mdf_run(model_dir, images, args.batch, str(device), args.fp16, tmp),
            "model": forward_only(model_dir, images, args.batch, device, dtype),
        }
        best = {name: float("inf") for name in runs}
        for round_ in range(args.rounds + 1):  # round 0 warms up (model load, kernels)
            for name, once in runs.items():
                elapsed = in_thread(once)
                if round_ > 0:
                    best[name] = min(best[name], elapsed)
        bare, ours, model_only = best["bare"], best["mdf"], best["model"]
        bare_rate, our_rate = args.images / bare, args.images / ours
        model_rate = args.images / model_only
        print(f"bare PyTorch loop:  {bare_rate:8.1f} images/s ({bare:.2f} s)")
        print(f"mdf operator:       {our_rate:8.1f} images/s ({ours:.2f} s)")
        print(f"model forward only: {model_rate:8.1f} images/s (pixels prepared before timing)")
        print(f"ratio mdf / bare:   {our_rate / bare_rate:8.1%}  (target >= 90%)")
        print(f"ratio mdf / model:  {our_rate / model_rate:8.1%}  (the ceiling)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
