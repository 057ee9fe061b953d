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
column), a vector that is not 768-d is an error naming the fix instead of being skipped, a row
without an embedding gets a null score instead of 0.0, and weights are a local file (or the
seed's ``model_repo``/``model_filename`` from the Hugging Face cache) that must exist: there is
no download at run time.

The weights (3.7 MB) are not shipped. Put them at
``$MDF_HOME/models/sac+logos+ava1-l14-linearMSE.pth`` (``MDF_HOME`` defaults to
``~/.cache/mdf``) or name them with ``model_path``; the file is at
https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/sac%2Blogos%2Bava1-l14-linearMSE.pth
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..operators import BatchRefiner
from . import embedding_heads as eh

WEIGHTS_FILE = "sac+logos+ava1-l14-linearMSE.pth"
WEIGHTS_URL = (
    "https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/"
    "sac%2Blogos%2Bava1-l14-linearMSE.pth"
)
SCALE = "aesthetic@laion-v2:1-10"
EMBEDDING_DIM = 768
#: ``score_scale`` values: the scale ``min_score`` is written on.
SCALES = {"raw_1_10": (1.0, 10.0, 1.0), "unit_0_1": (0.0, 1.0, 10.0)}


class ImageAestheticQualityRefiner(BatchRefiner):
    """LAION aesthetic predictor (1–10 scale) on a CLIP ViT-L/14 embedding column.

    Params:
        embedding_field: the L2-normalisable 768-d CLIP ViT-L/14 (OpenAI, 224 px) image embedding
            column. Default: ``image_clip_emb_vit_l_14`` (what ``image_clip_embedding_refiner``
            writes for ``model_name: ViT-L-14``).
        model_path: the ``sac+logos+ava1-l14-linearMSE.pth`` state dict (``.pth`` or
            ``.safetensors``). Default: ``$MDF_HOME/models/sac+logos+ava1-l14-linearMSE.pth``.
        model_repo, model_filename: the seed's way: a Hugging Face repo and file, read from the
            local Hugging Face cache (or the hub when online). Default: unset (``model_path``).
        output_field: the score column. Default: ``image_aesthetic_score``.
        min_score: drop rows scoring below this (and rows without an embedding). Default: none.
        score_scale: the scale ``min_score`` is written on: ``raw_1_10`` (the predictor's) or
            ``unit_0_1`` (raw / 10, as Data-Juicer and NeMo Curator write it). Default:
            ``raw_1_10``.
        inference_batch_size: rows per forward pass. Default: 1024.
        device: ``auto`` (cuda > mps > cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
            Default: ``auto``.
        use_fp16: accepted for the seed's configs; the head always runs in float32 (it is 0.9 M
            multiply-adds per row). Default: true.
    """

    drop_reason = "aesthetic_below_min"

    def __init__(
        self,
        embedding_field: str = "image_clip_emb_vit_l_14",
        model_path: str | None = None,
        model_repo: str | None = None,
        model_filename: str | None = None,
        output_field: str = "image_aesthetic_score",
        min_score: float | None = None,
        score_scale: str = "raw_1_10",
        inference_batch_size: int = 1024,
        device: str = "auto",
        use_fp16: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if score_scale not in SCALES:
            raise ValueError(f"`score_scale` must be one of {sorted(SCALES)}, got {score_scale!r}")
        low, high, self._to_raw = SCALES[score_scale]
        if min_score is not None:
            min_score = float(min_score)
            if score_scale == "raw_1_10" and 0.0 <= min_score < 1.0:
                raise ValueError(
                    f"`min_score` = {min_score} is below 1, the bottom of the raw 1–10 aesthetic "
                    "scale: it looks like a threshold on the 0–1 (raw / 10) scale. Write "
                    f"{min_score * 10:g} or add `score_scale: unit_0_1`."
                )
            eh.check_threshold(min_score, low, high, "min_score", score_scale)
        if int(inference_batch_size) < 1:
            raise ValueError("`inference_batch_size` must be positive")
        self.embedding_field = embedding_field
        self.output_field = output_field
        self.min_score = min_score
        self.batch_size = int(inference_batch_size)
        self.device_name = device
        self.use_fp16 = use_fp16
        path = resolve_weights(model_path, model_repo, model_filename)
        get = (
            f"Download {WEIGHTS_URL} to {eh.default_model_path(WEIGHTS_FILE)} "
            "or set `model_path` (see docs/models.md)."
        )
        self._module = eh.load_torch_weights(
            eh.laion_aesthetic_mlp(EMBEDDING_DIM), path, self.name, get
        )
        self.weights_path = path
        self.weights_sha256 = eh.sha256_of(path)
        self._device = None

    name = "image_aesthetic_quality_refiner"

    def get_output_schema(self):
        return {self.output_field: self._field().type}

    def _mdf_output_schema(self):
        import pyarrow as pa

        return pa.schema([self._field()])

    def _field(self):
        return eh.score_field(
            self.output_field,
            {
                "scale": SCALE,
                "model": WEIGHTS_FILE.removesuffix(".pth"),
                "weights_sha256": self.weights_sha256,
                "input": f"L2-normalised {self.embedding_field} (CLIP ViT-L/14, 768-d)",
            },
        )

    def scores(self, batch) -> tuple[Any, Any]:
        """Raw 1–10 scores (float32) and the mask of rows that had an embedding."""
        matrix, valid = eh.embedding_matrix(
            batch,
            self.embedding_field,
            EMBEDDING_DIM,
            self.name,
            "the LAION aesthetic predictor takes OpenAI CLIP ViT-L/14 image embeddings: run "
            "image_clip_embedding_refiner with model_name: ViT-L-14, pretrained: openai first, "
            "or set `embedding_field`",
        )
        if self._device is None:
            self._device = eh.pick_device(self.device_name)
            self._module.to(self._device)
        out = eh.run_head(self._module, eh.l2_normalize(matrix), self.batch_size, self._device)
        return out[:, 0], valid

    def _mdf_process(self, batch):
        import numpy as np
        import pyarrow as pa

        scores, valid = self.scores(batch)
        column = pa.array(scores, pa.float32(), mask=~valid)
        out = eh.set_column(batch, self._field(), column)
        if self.min_score is None:
            return out, None
        keep = valid & (scores >= np.float32(self.min_score * self._to_raw))
        return out, keep.tolist()


def resolve_weights(
    model_path: str | None, model_repo: str | None, model_filename: str | None
) -> Path:
    """``model_path``, else the seed's ``model_repo``/``model_filename`` through the Hugging Face
    cache, else the default location under ``$MDF_HOME``."""
    if model_path and model_repo:
        raise ValueError("give `model_path` or `model_repo`, not both")
    if model_path:
        return Path(model_path).expanduser()
    if model_repo:
        return eh.hf_file(
            model_repo, model_filename or WEIGHTS_FILE, "image_aesthetic_quality_refiner"
        )
    return eh.default_model_path(WEIGHTS_FILE)
