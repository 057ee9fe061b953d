"""``image_nsfw_refiner``: P(NSFW) on a CLIP ViT-L/14 image-embedding column, LAION's ``punsafe``
tag (LAION-5B: tags, not filters; the usual cut keeps ``punsafe < 0.5``).

LAION's CLIP-based NSFW detector (LAION-AI/CLIP-based-NSFW-Detector) is an AutoKeras
(TensorFlow) MLP; we do not load Keras models. We load its PyTorch port,
``clip_autokeras_binary_nsfw.pth`` (attached to issue #7 of that repository as
``clip_autokeras_binary_nsfw.zip``; NeMo Curator uses the same file): a Keras Normalization layer
then Dense 64 → 512 → 256 → 1 with ReLU and a sigmoid, on 768-d ViT-L/14 embeddings, which we
L2-normalise first as clip-retrieval does before calling it. Put the ``.pth`` at
``$MDF_HOME/models/clip_autokeras_binary_nsfw.pth`` or name it with ``model_path``. LAION's
ViT-B/32 variant exists only in the Keras format and is not supported.

``model_path`` may instead name a head trained with ``mdf train-head --task nsfw`` (a directory
with ``head.json``), on any embedding. Outputs ``image_nsfw_score`` and ``image_is_nsfw`` = score
≥ ``threshold`` (default 0.5).
"""

from __future__ import annotations

from pathlib import Path

from . import embedding_heads as eh
from .head_operator import HeadRuntime, ProbabilityHeadRefiner
from .image_aesthetic_quality_refiner import CLIP_L14_FIELD, CLIP_L14_HINT

WEIGHTS_FILE = "clip_autokeras_binary_nsfw.pth"
WEIGHTS_URL = (
    "https://github.com/LAION-AI/CLIP-based-NSFW-Detector/files/10250461/"
    "clip_autokeras_binary_nsfw.zip"
)
EMBEDDING_DIM = 768


class ImageNsfwRefiner(ProbabilityHeadRefiner):
    """P(NSFW): LAION's CLIP ViT-L/14 NSFW detector (PyTorch port) or an mdf head."""

    name = "image_nsfw_refiner"
    default_head = "image_nsfw"
    default_output = "image_nsfw_score"
    default_flag = "image_is_nsfw"
    default_threshold = 0.5
    drop_reason = "nsfw"

    @classmethod
    def default_path(cls) -> Path:
        return eh.default_model_path(WEIGHTS_FILE)

    def load_head(self, path: Path) -> HeadRuntime:
        get = (
            f"Download {WEIGHTS_URL}, unzip {WEIGHTS_FILE} to "
            f"{eh.default_model_path(WEIGHTS_FILE)} or set `model_path` (see docs/model_heads.md)."
        )
        if path.is_dir() or path.suffix == ".json":
            return self.load_mdf_head(path, get)
        eh.load_torch_weights(eh.laion_nsfw_mlp(EMBEDDING_DIM), path, self.name, get)
        sha = eh.sha256_of(path)
        return HeadRuntime(
            build=lambda: eh.laion_nsfw_mlp(EMBEDDING_DIM),
            weights_path=path,
            weights_sha256=sha,
            input_dim=EMBEDDING_DIM,
            normalize_input=True,
            probability_output=0,
            positive_index=0,
            default_field=CLIP_L14_FIELD,
            metadata={
                "scale": "punsafe@laion-clip-nsfw:0-1",
                "model": WEIGHTS_FILE.removesuffix(".pth"),
                "weights_sha256": sha,
                "input": "L2-normalised CLIP ViT-L/14 image embedding (768-d)",
            },
            hint=f"LAION's NSFW detector {CLIP_L14_HINT}",
        )
