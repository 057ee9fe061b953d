"""Model operators (PyTorch), registered under their config names when the package is imported.

Importing this package does not import torch: the names are known to ``mdf ops`` and
``mdf validate`` without it, and building one without it is a ConfigError naming
``pip install 'mega-data-factory[models]'``. See docs/models.md; the base class for new model
operators is :class:`mega_data_factory.models.base.ModelOperator`.
"""

from __future__ import annotations

from ..registry import OperatorRegistry
from .base import (
    ModelOperator,
    ModelOutput,
    embedding_column,
    embedding_type,
    read_embeddings,
    scores_column,
)
from .clip import ImageClipEmbeddingRefiner, ImageTextClipScore
from .siglip import ImageSiglipEmbeddingRefiner
from .weights import resolve_file, resolve_model_dir

BUILTIN = {
    "image_clip_embedding_refiner": ImageClipEmbeddingRefiner,
    "image_siglip_embedding_refiner": ImageSiglipEmbeddingRefiner,
    "image_text_clip_score": ImageTextClipScore,
}

for _name, _cls in BUILTIN.items():
    OperatorRegistry.register(_name, _cls)

__all__ = [
    "BUILTIN",
    "ImageClipEmbeddingRefiner",
    "ImageSiglipEmbeddingRefiner",
    "ImageTextClipScore",
    "ModelOperator",
    "ModelOutput",
    "embedding_column",
    "embedding_type",
    "read_embeddings",
    "resolve_file",
    "resolve_model_dir",
    "scores_column",
]
