"""``image_aesthetic_quality_refiner``: the LAION aesthetic predictor (improved-aesthetic-predictor,
weights ``sac+logos+ava1-l14-linearMSE.pth``, the model behind LAION-Aesthetics V2) on a CLIP
ViT-L/14 image-embedding column.

Reproduces ``simple_inference.py`` of christophschuhmann/improved-aesthetic-predictor: the
embedding is L2-normalised (a zero vector stays zero), then the MLP 768 → 1024 → Dropout 0.2 →
128 → Dropout 0.2 → 64 → Dropout 0.1 → 16 → 1 without activations (dropouts are identities at
inference). The score is written **raw, on the predictor's own 1–10 (AVA) scale**
(``image_aesthetic_score``; LAION-Aesthetics V2 cuts at 4.5 … 6.5, typical web images score
4–6); the column's Arrow metadata records the scale (``aesthetic@laion-v2:1-10``), the weights'
SHA-256 and the input column. The 0–1 view some tools threshold (Data-Juicer, NeMo Curator:
raw / 10) is only ever a declared transformation: ``score_scale: unit_0_1`` says that
``min_score`` is on that scale, and it is compared with raw / 10.

Differences from the seed: ``embedding_field`` has a default (the CLIP embedding operator's
column), a vector that is not 768-d stops the run with an error naming the fix instead of being
skipped, a row without an embedding is rejected (``missing_field``) instead of scoring 0.0, and
the weights are a local file (or the seed's ``model_repo``/``model_filename`` from the Hugging
Face cache) that must exist.

The weights (3.7 MB) are not shipped. Put them at
``$MDF_HOME/models/sac+logos+ava1-l14-linearMSE.pth`` (``MDF_HOME`` defaults to
``~/.cache/mdf``) or name them with ``model_path``; the file is at
https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/sac%2Blogos%2Bava1-l14-linearMSE.pth
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._native import ConfigError
from . import embedding_heads as eh
from .head_operator import HEAD_PARAMS_DOC, EmbeddingHeadOperator, HeadRuntime
from .weights import resolve_file

WEIGHTS_FILE = "sac+logos+ava1-l14-linearMSE.pth"
WEIGHTS_URL = (
    "https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/"
    "sac%2Blogos%2Bava1-l14-linearMSE.pth"
)
SCALE = "aesthetic@laion-v2:1-10"
EMBEDDING_DIM = 768
#: The CLIP ViT-L/14 column ``image_clip_embedding_refiner`` writes for ``model_name: ViT-L-14``.
CLIP_L14_FIELD = "image_clip_emb_vit_l_14"
CLIP_L14_HINT = (
    "it takes OpenAI CLIP ViT-L/14 image embeddings: run image_clip_embedding_refiner with "
    "model_name: ViT-L-14, pretrained: openai first, or set `embedding_field`"
)
#: ``score_scale`` → (lowest, highest threshold, factor to the raw scale).
SCALES = {"raw_1_10": (1.0, 10.0, 1.0), "unit_0_1": (0.0, 1.0, 10.0)}


class ImageAestheticQualityRefiner(EmbeddingHeadOperator):
    """LAION aesthetic predictor (raw 1–10 scale) on a CLIP ViT-L/14 embedding column."""

    name = "image_aesthetic_quality_refiner"
    drop_reason = "aesthetic_below_min"
    params_doc = {
        **HEAD_PARAMS_DOC,
        "model_path": (
            "string",
            "sac+logos+ava1-l14-linearMSE.pth (a state dict, .pth or .safetensors). Default: "
            "$MDF_HOME/models/sac+logos+ava1-l14-linearMSE.pth (MDF_HOME: ~/.cache/mdf).",
        ),
        "model_repo": (
            "string",
            "The seed's way: a Hugging Face repo holding model_filename (local cache, or the "
            "hub when online). Default: none.",
        ),
        "model_filename": ("string", "The file of model_repo. Default: the .pth name."),
        "embedding_field": (
            "string",
            "768-d OpenAI CLIP ViT-L/14 image embedding column (L2-normalised here).",
        ),
        "min_score": (
            "number",
            "Drop rows scoring below this, on the scale score_scale names. Default: none.",
        ),
        "score_scale": (
            "string",
            "The scale of min_score: raw_1_10 (the predictor's) or unit_0_1 (raw / 10, as "
            "Data-Juicer and NeMo Curator write it). A raw threshold below 1 is an error.",
        ),
    }

    def __init__(
        self,
        embedding_field: str = CLIP_L14_FIELD,
        model_path: str | None = None,
        model_repo: str | None = None,
        model_filename: str | None = None,
        output_field: str = "image_aesthetic_score",
        min_score: float | None = None,
        score_scale: str = "raw_1_10",
        inference_batch_size: int = 1024,
        **common: Any,
    ) -> None:
        if score_scale not in SCALES:
            raise ConfigError(f"`score_scale` must be one of {sorted(SCALES)}, got {score_scale!r}")
        low, high, self._to_raw = SCALES[score_scale]
        if min_score is not None:
            min_score = float(min_score)
            if score_scale == "raw_1_10" and 0.0 <= min_score < 1.0:
                raise ConfigError(
                    f"`min_score` = {min_score} is below 1, the bottom of the raw 1–10 aesthetic "
                    "scale: it looks like a threshold on the 0–1 (raw / 10) scale. Write "
                    f"{min_score * 10:g} or add `score_scale: unit_0_1`."
                )
            eh.check_threshold(min_score, low, high, "min_score", score_scale)
        self.min_score = min_score
        path = weights_path(model_path, model_repo, model_filename)
        super().__init__(
            head=load_head(path),
            embedding_field=embedding_field,
            output_field=output_field,
            inference_batch_size=inference_batch_size,
            **common,
        )

    def output_columns(self):
        import pyarrow as pa

        return {self.output_field: pa.float32()}

    def score(self, outputs, rows, num_rows):
        import numpy as np

        from .base import scores_column

        scores = outputs[:, 0]
        keep = None
        if self.min_score is not None:
            cut = np.float32(self.min_score * self._to_raw)
            keep = np.zeros(num_rows, dtype=bool)
            keep[rows] = scores >= cut
            keep = keep.tolist()
        return {self.output_field: scores_column(scores, rows, num_rows)}, keep


def weights_path(
    model_path: str | None, model_repo: str | None, model_filename: str | None
) -> Path:
    """``model_path``, else the seed's ``model_repo``/``model_filename`` (Hugging Face cache or
    hub), else the default location under ``$MDF_HOME``."""
    if model_path and model_repo:
        raise ConfigError("give `model_path` or `model_repo`, not both")
    if model_path:
        return Path(model_path).expanduser()
    if model_repo:
        return resolve_file(
            model_repo, model_filename or WEIGHTS_FILE, what="image_aesthetic_quality_refiner"
        )
    return eh.default_model_path(WEIGHTS_FILE)


def load_head(path: Path) -> HeadRuntime:
    """Checks the weights at ``path`` (keys, shapes, finite values)."""
    get = (
        f"Download {WEIGHTS_URL} to {eh.default_model_path(WEIGHTS_FILE)} or set `model_path` "
        "(see docs/model_heads.md)."
    )
    what = ImageAestheticQualityRefiner.name
    eh.load_torch_weights(eh.laion_aesthetic_mlp(EMBEDDING_DIM), path, what, get)
    sha = eh.sha256_of(path)
    return HeadRuntime(
        build=lambda: eh.laion_aesthetic_mlp(EMBEDDING_DIM),
        weights_path=path,
        weights_sha256=sha,
        input_dim=EMBEDDING_DIM,
        normalize_input=True,
        probability_output=None,
        positive_index=0,
        default_field=CLIP_L14_FIELD,
        metadata={
            "scale": SCALE,
            "model": WEIGHTS_FILE.removesuffix(".pth"),
            "weights_sha256": sha,
            "input": "L2-normalised CLIP ViT-L/14 image embedding (768-d)",
        },
        hint=f"the LAION aesthetic predictor {CLIP_L14_HINT}",
    )
