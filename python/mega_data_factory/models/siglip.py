"""``image_siglip_embedding_refiner``: SigLIP / SigLIP 2 image embeddings.

transformers' ``SiglipModel`` (``model_type: siglip``), which also holds the fixed-resolution
SigLIP 2 checkpoints such as ``google/siglip2-so400m-patch14-384``. The embedding is the vision
tower's ``pooler_output`` (the attention-pooling "MAP" head: 1152-d for so400m), L2-normalised.
Images are resized to the square input size ignoring the aspect ratio, as
``SiglipImageProcessor`` does (bicubic, mean = std = 0.5). The NaFlex SigLIP 2 checkpoints
(``model_type: siglip2``, variable resolution and patch count) are not supported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._native import ConfigError
from .base import require_transformers
from .images import ImageInput
from .vision import ImageEmbeddingOperator, column_suffix, pooled
from .weights import load_failed, resolve_model_dir

if TYPE_CHECKING:
    import torch

SIGLIP_MEAN = (0.5, 0.5, 0.5)
SIGLIP_STD = (0.5, 0.5, 0.5)


class ImageSiglipEmbeddingRefiner(ImageEmbeddingOperator):
    """SigLIP/SigLIP2 image embeddings (MAP-pooled), L2-normalised FixedSizeList<float32, d>."""

    column_prefix = "image_siglip_emb"

    def __init__(
        self,
        model_name: str = "google/siglip2-so400m-patch14-384",
        image_field: str = "image",
        normalize: bool = True,
        feature_field_name: str | None = None,
        preprocess_workers: int = 4,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self._init_embedding(
            model_name, image_field, normalize, feature_field_name, preprocess_workers
        )

    def suffix(self) -> str:
        """The seed's suffix: ``google/siglip2-so400m-patch14-384`` → ``so400m_patch14_384``."""
        suffix = column_suffix(self.model_name.rstrip("/").rsplit("/", 1)[-1])
        for prefix in ("siglip2_", "siglip_"):
            if suffix.startswith(prefix):
                return suffix[len(prefix) :]
        return suffix

    def resolve(self):
        transformers = require_transformers()
        model_dir = resolve_model_dir(self.model_name, what="SigLIP model")
        try:
            config = transformers.AutoConfig.from_pretrained(str(model_dir))
        except Exception as e:  # noqa: BLE001
            raise load_failed("SigLIP model", self.model_name, model_dir, e) from None
        if config.model_type != "siglip":
            extra = (
                " (NaFlex SigLIP 2 checkpoints are not supported; the fixed-resolution "
                "google/siglip2-*-patchN-RES ones are)"
                if config.model_type == "siglip2"
                else ""
            )
            raise ConfigError(
                f"SigLIP model `{self.model_name}`: {model_dir} holds a `{config.model_type}` "
                f"model, not SigLIP{extra}"
            )
        vision = config.vision_config
        spec = ImageInput.from_processor_config(
            model_dir, "squash", vision.image_size, SIGLIP_MEAN, SIGLIP_STD
        )
        return model_dir, int(vision.hidden_size), spec

    def load_model(self, device, dtype):
        transformers = require_transformers()
        try:
            model = transformers.SiglipModel.from_pretrained(str(self.model_dir))
        except Exception as e:  # noqa: BLE001
            raise load_failed("SigLIP model", self.model_name, self.model_dir, e) from None
        return model.to(device=device, dtype=dtype).eval()

    def encode_images(self, model, pixels: torch.Tensor) -> torch.Tensor:
        return pooled(model.get_image_features(pixel_values=pixels))
