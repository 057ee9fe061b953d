"""Image input for vision models: Rust preprocessing overlapped with inference.

:class:`ImageInput` describes a model's input (side, fit, filter, mean/std, read from the model's
``preprocessor_config.json``). :func:`image_chunks` cuts a batch into chunks of
``inference_batch_size`` and yields ``(rows, pixels)`` per chunk, ``pixels`` a normalised NCHW
tensor on the model's device. The decode + resize of chunk k+1 runs in the native
``preprocess_images`` (Rust threads, GIL released) on a helper thread while the caller runs the
model on chunk k; the mean/std normalisation runs in torch on the device (uint8 crosses to the
GPU, 4× less than float32).
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _native
from .._native import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa
    import torch

#: PIL resample codes of ``preprocessor_config.json`` that we reproduce.
_RESAMPLE = {3: "bicubic", 2: "bilinear"}


@dataclass(frozen=True)
class ImageInput:
    """A vision model's input geometry and normalisation."""

    size: int
    #: ``clip`` (short side to ``size`` then centre crop) or ``squash`` (both sides to ``size``).
    fit: str
    resample: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def describe(self) -> str:
        how = "short side + centre crop" if self.fit == "clip" else "resize"
        return f"{how} {self.size}px {self.resample}, mean {self.mean}, std {self.std}"

    @classmethod
    def from_processor_config(
        cls, model_dir: Path, fit: str, default_size: int, default_mean, default_std
    ) -> ImageInput:
        """Reads ``preprocessor_config.json`` (what the HF image processor would do); the
        defaults apply where it is absent."""
        path = model_dir / "preprocessor_config.json"
        cfg: dict[str, Any] = {}
        if path.is_file():
            try:
                cfg = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as e:
                raise ConfigError(f"{path}: not JSON ({e})") from None
        size = default_size
        if fit == "clip":
            crop = cfg.get("crop_size")
            resize = cfg.get("size")
            short = resize.get("shortest_edge") if isinstance(resize, dict) else resize
            side = crop.get("height") if isinstance(crop, dict) else crop
            if short is not None and side is not None and short != side:
                raise ConfigError(
                    f"{path}: resize {short} then crop {side} is not supported (only equal sides)"
                )
            size = int(side or short or default_size)
        else:
            resize = cfg.get("size")
            if isinstance(resize, dict):
                h, w = resize.get("height"), resize.get("width")
                if h is not None and w is not None and h != w:
                    raise ConfigError(f"{path}: non-square input {w}x{h} is not supported")
                size = int(h or default_size)
            elif isinstance(resize, int):
                size = resize
        code = cfg.get("resample", 3)
        if code not in _RESAMPLE:
            raise ConfigError(
                f"{path}: resample {code} is not supported (3 = bicubic, 2 = bilinear)"
            )
        mean = tuple(float(x) for x in cfg.get("image_mean", default_mean))
        std = tuple(float(x) for x in cfg.get("image_std", default_std))
        return cls(size=size, fit=fit, resample=_RESAMPLE[code], mean=mean, std=std)


def preprocess(
    batch: pa.RecordBatch, field: str, spec: ImageInput, threads: int
) -> tuple[bytearray, list[int], list[tuple[int, str]]]:
    """``(pixels, rows, rejects)`` of the native preprocessing (NHWC uint8 of ``rows``)."""
    return _native.preprocess_images(
        batch, field, spec.size, spec.fit, spec.resample, None, threads
    )


def to_model_input(
    pixels: bytearray, count: int, spec: ImageInput, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """NHWC uint8 bytes → normalised NCHW ``dtype`` on ``device``: ``(x/255 − mean)/std``,
    computed in float32 like the HF processors."""
    import torch

    s = spec.size
    x = torch.frombuffer(pixels, dtype=torch.uint8).view(count, s, s, 3)
    x = x.to(device, non_blocking=True).permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    mean = torch.tensor(spec.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return ((x - mean) / std).to(dtype).contiguous(memory_format=torch.contiguous_format)


class Prefetcher:
    """One helper thread per operator instance for the next chunk's preprocessing."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, fn, *args) -> Future:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mdf-preprocess")
        return self._pool.submit(fn, *args)


def image_chunks(
    batch: pa.RecordBatch,
    field: str,
    spec: ImageInput,
    chunk_size: int,
    device: torch.device,
    dtype: torch.dtype,
    prefetcher: Prefetcher,
    threads: int,
    rejects: list[tuple[int, str]],
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Yields ``(rows, pixels)`` per chunk of ``chunk_size`` rows of ``batch`` (rows are batch
    row numbers; chunks with no decodable image are skipped); appends the rows that failed to
    ``rejects``. Chunk k+1 is preprocessed while the caller works on chunk k."""
    n = batch.num_rows
    starts = list(range(0, n, chunk_size))
    if not starts:
        return

    def job(start: int):
        return preprocess(batch.slice(start, chunk_size), field, spec, threads)

    pending = prefetcher.submit(job, starts[0])
    for i, start in enumerate(starts):
        pixels, rows, errors = pending.result()
        if i + 1 < len(starts):
            pending = prefetcher.submit(job, starts[i + 1])
        rejects.extend((start + r, reason) for r, reason in errors)
        if rows:
            yield [start + r for r in rows], to_model_input(pixels, len(rows), spec, device, dtype)
