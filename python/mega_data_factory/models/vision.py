"""The shared part of image-embedding operators: params, output column, chunked inference."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._native import ConfigError
from .base import ModelOperator, ModelOutput, embedding_column, embedding_type, require_torch
from .images import ImageInput, Prefetcher, image_chunks

if TYPE_CHECKING:
    import pyarrow as pa
    import torch


def column_suffix(model_name: str) -> str:
    """The seed's column suffix: the model name lower-cased, ``-`` ``/`` ``.`` and spaces →
    ``_`` (a local path contributes its last component)."""
    name = model_name.rstrip("/\\")
    if Path(name).expanduser().exists() or name.startswith(("/", "./", "../", "~")):
        name = Path(name).name
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm, in float32."""
    torch = require_torch()
    x = x.float()
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(1e-12)


def pooled(output: Any) -> torch.Tensor:
    """``get_*_features`` returns a tensor (transformers 4) or a model output whose
    ``pooler_output`` holds it (transformers 5)."""
    torch = require_torch()
    if isinstance(output, torch.Tensor):
        return output
    return output.pooler_output


class ImageEmbeddingOperator(ModelOperator):
    """Base of the image-embedding refiners (CLIP, SigLIP). A subclass's constructor calls
    ``super().__init__(**common)`` then :meth:`_init_embedding`; it implements :meth:`resolve`
    (weights → directory, dimension, :class:`ImageInput`), :meth:`load_model` and
    :meth:`encode_images`."""

    column_prefix = "image_emb"

    params_doc = {
        "model_name": ("string", "Model: a Hugging Face repo id or a local directory."),
        "image_field": ("string", "Column with the encoded images (binary or {bytes, path})."),
        "normalize": ("boolean", "L2-normalise the embeddings (what every score head expects)."),
        "feature_field_name": (
            "string",
            "Output column; null = <prefix>_<model name lower-cased, - / . and spaces as _>.",
        ),
        "preprocess_workers": (
            "integer",
            "Rust threads decoding and resizing images (0 = every core); runs while the model "
            "works on the previous chunk.",
        ),
    }

    def _init_embedding(
        self,
        model_name: str,
        image_field: str,
        normalize: bool,
        feature_field_name: str | None,
        preprocess_workers: int,
    ) -> None:
        if not isinstance(model_name, str) or not model_name:
            raise ConfigError("model_name must be a non-empty string")
        if not isinstance(preprocess_workers, int) or preprocess_workers < 0:
            raise ConfigError(f"preprocess_workers must be >= 0, got {preprocess_workers!r}")
        self.model_name = model_name
        self.image_field = image_field
        self.normalize = bool(normalize)
        self.preprocess_workers = preprocess_workers
        self.model_dir, self.dim, self.input = self.resolve()
        self.output_field = feature_field_name or f"{self.column_prefix}_{self.suffix()}"
        self._prefetcher = Prefetcher()

    def suffix(self) -> str:
        return column_suffix(self.model_name)

    # ---- subclass API -------------------------------------------------------------------------

    def resolve(self) -> tuple[Path, int, ImageInput]:
        """``(model directory, embedding dimension, input spec)``; raise ConfigError when the
        weights are missing or of another architecture. Called at build: must not load
        weights."""
        raise NotImplementedError

    def encode_images(self, model: Any, pixels: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(n, dim)`` of normalised NCHW pixels (before L2 normalisation)."""
        raise NotImplementedError

    # ---- ModelOperator ------------------------------------------------------------------------

    def output_columns(self) -> dict[str, pa.DataType]:
        return {self.output_field: embedding_type(self.dim)}

    def model_key(self):
        return str(self.model_dir)

    def embed_images(
        self, model: Any, batch: pa.RecordBatch
    ) -> tuple[torch.Tensor, list[int], list[tuple[int, str]]]:
        """Image embeddings of the batch's decodable rows: ``(vectors float32 (k, d) on the
        device, rows, rejects)``; L2-normalised when ``normalize``."""
        torch = require_torch()
        rows: list[int] = []
        rejects: list[tuple[int, str]] = []
        parts = []
        for chunk_rows, pixels in image_chunks(
            batch,
            self.image_field,
            self.input,
            self.inference_batch_size,
            self.device,
            self.dtype,
            self._prefetcher,
            self.preprocess_workers,
            rejects,
        ):
            vectors = self.encode_images(model, pixels).float()
            parts.append(l2_normalize(vectors) if self.normalize else vectors)
            rows.extend(chunk_rows)
        rejects.sort()
        if not parts:
            return torch.zeros((0, self.dim)), rows, rejects
        return torch.cat(parts), rows, rejects

    def run_batch(self, model: Any, batch: pa.RecordBatch) -> ModelOutput:
        vectors, rows, rejects = self.embed_images(model, batch)
        column = embedding_column(vectors.cpu().numpy(), rows, batch.num_rows)
        return ModelOutput({self.output_field: column}, rejects=rejects)
