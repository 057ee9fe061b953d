"""CLIP operators: ``image_clip_embedding_refiner`` and ``image_text_clip_score``.

The model is transformers' ``CLIPModel`` loaded from a Hugging Face repo id or a local directory
(``save_pretrained`` layout). The seed's OpenCLIP names (``model_name: ViT-L-14``,
``pretrained: openai``) are mapped to the Hugging Face conversions of the same weights
(:data:`OPENCLIP_TO_HF`); open_clip itself is not used. The image embedding is the projected
pooled vision state (``get_image_features``), the text embedding the projected EOT state
(``get_text_features``), both L2-normalised in float32; the CLIP score is their dot product — the
"CLIP cosine" of image-video-recipes.md §0.2 (LAION keeps ≥ 0.28 with ViT-B/32). Images are
prepared as ``CLIPImageProcessor`` does (short side bicubic, centre crop, OpenAI mean/std).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._native import ConfigError
from .base import (
    ModelOutput,
    read_embeddings,
    require_torch,
    require_transformers,
    scores_column,
    shared_model,
)
from .images import ImageInput
from .vision import ImageEmbeddingOperator, l2_normalize, pooled
from .weights import load_failed, resolve_model_dir

if TYPE_CHECKING:
    import pyarrow as pa
    import torch

#: OpenCLIP ``(model_name, pretrained)`` → the Hugging Face repo with the same weights in
#: transformers format.
OPENCLIP_TO_HF = {
    ("ViT-B-32", "openai"): "openai/clip-vit-base-patch32",
    ("ViT-B-16", "openai"): "openai/clip-vit-base-patch16",
    ("ViT-L-14", "openai"): "openai/clip-vit-large-patch14",
    ("ViT-L-14-336", "openai"): "openai/clip-vit-large-patch14-336",
    ("ViT-B-32", "laion2b_s34b_b79k"): "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
    ("ViT-L-14", "laion2b_s32b_b82k"): "laion/CLIP-ViT-L-14-laion2B-s32B-b82K",
    ("ViT-H-14", "laion2b_s32b_b79k"): "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
    ("ViT-bigG-14", "laion2b_s39b_b160k"): "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k",
}
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def hf_clip_name(model_name: str, pretrained: str | None) -> str:
    """The Hugging Face repo id or local path for a seed-style ``(model_name, pretrained)``."""
    if (model_name, pretrained) in OPENCLIP_TO_HF:
        return OPENCLIP_TO_HF[(model_name, pretrained)]
    known = {name for name, _ in OPENCLIP_TO_HF}
    if model_name in known:
        options = ", ".join(sorted(p for n, p in OPENCLIP_TO_HF if n == model_name))
        raise ConfigError(
            f"model_name {model_name} with pretrained {pretrained!r}: these OpenCLIP weights "
            f"have no mapped Hugging Face conversion (known: {options}); give the Hugging Face "
            "repo id or a local directory as model_name instead"
        )
    return model_name


class ClipModelMixin:
    """Weights resolution and loading shared by the CLIP operators (one loaded model per
    process serves both)."""

    model_name: str
    pretrained: str | None

    def resolve_clip(self) -> tuple[Path, Any]:
        transformers = require_transformers()
        self.hf_name = hf_clip_name(self.model_name, self.pretrained)
        model_dir = resolve_model_dir(self.hf_name, what="CLIP model")
        try:
            config = transformers.AutoConfig.from_pretrained(str(model_dir))
        except Exception as e:  # noqa: BLE001
            raise load_failed("CLIP model", self.hf_name, model_dir, e) from None
        if config.model_type != "clip":
            raise ConfigError(
                f"CLIP model `{self.hf_name}`: {model_dir} holds a `{config.model_type}` model, "
                "not CLIP (image_siglip_embedding_refiner takes SigLIP models)"
            )
        return model_dir, config

    def clip_input(self, model_dir: Path, config: Any) -> ImageInput:
        return ImageInput.from_processor_config(
            model_dir, "clip", config.vision_config.image_size, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
        )

    def load_clip(self, model_dir: Path, device, dtype):
        transformers = require_transformers()
        try:
            model = transformers.CLIPModel.from_pretrained(str(model_dir))
        except Exception as e:  # noqa: BLE001
            raise load_failed("CLIP model", self.hf_name, model_dir, e) from None
        return model.to(device=device, dtype=dtype).eval()


class ImageClipEmbeddingRefiner(ClipModelMixin, ImageEmbeddingOperator):
    """CLIP image embeddings (transformers CLIPModel), L2-normalised FixedSizeList<float32, d>."""

    column_prefix = "image_clip_emb"
    params_doc = {
        "model_name": (
            "string",
            "Hugging Face repo id, local directory, or an OpenCLIP name (ViT-B-32, ViT-L-14, "
            "...) mapped with pretrained to its Hugging Face conversion.",
        ),
        "pretrained": (
            "string",
            "OpenCLIP weights tag for OpenCLIP model names (openai, laion2b_s34b_b79k, ...); "
            "ignored for Hugging Face ids and paths.",
        ),
    }

    def __init__(
        self,
        model_name: str = "ViT-B-32",
        pretrained: str | None = "openai",
        image_field: str = "image",
        normalize: bool = True,
        feature_field_name: str | None = None,
        preprocess_workers: int = 4,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.pretrained = pretrained
        self._init_embedding(
            model_name, image_field, normalize, feature_field_name, preprocess_workers
        )

    def resolve(self):
        model_dir, config = self.resolve_clip()
        return model_dir, int(config.projection_dim), self.clip_input(model_dir, config)

    def load_model(self, device, dtype):
        return self.load_clip(self.model_dir, device, dtype)

    def encode_images(self, model, pixels: torch.Tensor) -> torch.Tensor:
        return pooled(model.get_image_features(pixel_values=pixels))


class ImageTextClipScore(ClipModelMixin, ImageEmbeddingOperator):
    """CLIP score: cosine of the L2-normalised image and caption embeddings of one CLIP model."""

    drop_reason = "clip_score_below_min"
    params_doc = {
        **ImageClipEmbeddingRefiner.params_doc,
        "text_field": ("string", "Column with the caption (alt text)."),
        "output_field": ("string", "Output column: the cosine, in [-1, 1]."),
        "image_embedding_field": (
            "string",
            "Read the image embeddings from this column (written by image_clip_embedding_refiner "
            "with the same model and normalize: true) instead of computing them again.",
        ),
        "min_score": (
            "number",
            "Drop rows whose score is below this (null = keep all). LAION-5B: 0.28 with "
            "ViT-B-32/openai (English); thresholds do not transfer across models.",
        ),
    }

    def __init__(
        self,
        model_name: str = "ViT-B-32",
        pretrained: str | None = "openai",
        image_field: str = "image",
        text_field: str = "text",
        output_field: str = "clip_score",
        image_embedding_field: str | None = None,
        min_score: float | None = None,
        preprocess_workers: int = 4,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if min_score is not None and not isinstance(min_score, (int, float)):
            raise ConfigError(f"min_score must be a number, got {min_score!r}")
        self.pretrained = pretrained
        self.text_field = text_field
        self.image_embedding_field = image_embedding_field
        self.min_score = None if min_score is None else float(min_score)
        self._init_embedding(model_name, image_field, True, output_field, preprocess_workers)

    def resolve(self):
        model_dir, config = self.resolve_clip()
        self.context_length = int(config.text_config.max_position_embeddings)
        return model_dir, int(config.projection_dim), self.clip_input(model_dir, config)

    def output_columns(self) -> dict[str, pa.DataType]:
        import pyarrow as pa

        return {self.output_field: pa.float32()}

    def load_model(self, device, dtype):
        return self.load_clip(self.model_dir, device, dtype)

    def tokenizer(self):
        transformers = require_transformers()

        def build():
            try:
                return transformers.AutoTokenizer.from_pretrained(str(self.model_dir))
            except Exception as e:  # noqa: BLE001
                raise load_failed("CLIP tokenizer", self.hf_name, self.model_dir, e) from None

        return shared_model(("clip-tokenizer", str(self.model_dir)), build)

    def encode_images(self, model, pixels: torch.Tensor) -> torch.Tensor:
        return pooled(model.get_image_features(pixel_values=pixels))

    def encode_texts(self, model, texts: list[str]) -> torch.Tensor:
        """L2-normalised caption embeddings, captions truncated to the model's context
        (start and end tokens included)."""
        tokens = self.tokenizer()(
            texts,
            padding=True,
            truncation=True,
            max_length=self.context_length,
            return_tensors="pt",
        )
        out = model.get_text_features(
            input_ids=tokens["input_ids"].to(self.device),
            attention_mask=tokens["attention_mask"].to(self.device),
        )
        return l2_normalize(pooled(out))

    def run_batch(self, model, batch: pa.RecordBatch) -> ModelOutput:
        import numpy as np

        n = batch.num_rows
        index = batch.schema.get_field_index(self.text_field)
        if index < 0:
            reason = f"missing_field: no `{self.text_field}` column"
            return ModelOutput(
                {self.output_field: scores_column(np.zeros(0), [], n)},
                rejects=[(r, reason) for r in range(n)],
            )
        texts = batch.column(index).to_pylist()
        if self.image_embedding_field:
            vectors, rows, rejects = read_embeddings(batch, self.image_embedding_field, self.dim)
            images = require_torch().from_numpy(vectors).to(self.device)
        else:
            images, rows, rejects = self.embed_images(model, batch)
        keep_rows, keep_texts, keep_images = [], [], []
        for i, row in enumerate(rows):
            text = texts[row]
            if not isinstance(text, str):
                rejects.append((row, f"missing_field: `{self.text_field}` is null"))
                continue
            keep_rows.append(row)
            keep_texts.append(text)
            keep_images.append(i)
        scores = np.zeros(len(keep_rows), dtype=np.float32)
        for part in self.chunks(len(keep_rows)):
            text_vectors = self.encode_texts(model, keep_texts[part])
            image_vectors = images[keep_images[part]]
            scores[part] = (image_vectors * text_vectors).sum(dim=-1).cpu().numpy()
        keep = None
        if self.min_score is not None:
            keep = [True] * n
            for row, score in zip(keep_rows, scores, strict=True):
                keep[row] = bool(score >= self.min_score)
        rejects.sort()
        return ModelOutput(
            {self.output_field: scores_column(scores, keep_rows, n)}, keep=keep, rejects=rejects
        )
