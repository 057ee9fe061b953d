"""``image_aigc_detector_refiner``: flags AI-generated images (Imagen 3 and Z-Image remove them)
with a classifier head on an image-embedding column.

There is no published, downloadable AI-generated-image detector that runs on CLIP/SigLIP
embeddings; the seed's operator had an architecture and no weights. Here the head is one you
train on your own labelled images with ``mdf train-head --task aigc`` (a linear probe by default,
the UnivFD recipe of Ojha et al. 2023, or an MLP with ``--hidden``), which writes it to
``$MDF_HOME/heads/image_aigc_detector`` (``MDF_HOME`` defaults to ``~/.cache/mdf``), the place
this operator reads when ``model_path`` is not set. The head's ``head.json`` names the embedding
column and model it was trained on, and that column is what the operator scores by default.

Outputs: ``image_aigc_score`` = P(AI-generated) in [0, 1] (a softmax over the head's labels) and
``image_is_aigc`` = score ≥ ``threshold``. Differences from the seed: the head is an mdf head
(``model.safetensors`` + ``head.json``) rather than a pickled state dict with separately
configured ``embedding_dim``/``hidden_dims`` (which the seed's trainer and refiner disagreed on);
the flag uses ``≥`` (the seed used ``>``); a row without an embedding gets nulls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._native import ConfigError
from .head_operator import HeadRuntime, ProbabilityHeadRefiner


class ImageAigcDetectorRefiner(ProbabilityHeadRefiner):
    """P(AI-generated) from a head trained with `mdf train-head --task aigc`.

    Params:
        model_path: the head directory (or its ``head.json``). Default:
            ``$MDF_HOME/heads/image_aigc_detector``.
        embedding_field: the embedding column. Default: the one the head was trained on.
        threshold: ``image_is_aigc`` = score ≥ threshold. Default: 0.5.
        output_field, flag_field: Default: ``image_aigc_score``, ``image_is_aigc``.
        remove_flagged: drop the flagged rows (and rows without an embedding). Default: false.
        embedding_dim, hidden_dims: the seed's params; when given they must match the head.
        inference_batch_size: Default: 1024. device: Default: ``auto``. use_fp16: accepted; the
            head runs in float32.
    """

    name = "image_aigc_detector_refiner"
    default_head = "image_aigc_detector"
    default_output = "image_aigc_score"
    default_flag = "image_is_aigc"
    default_threshold = 0.5
    drop_reason = "aigc"

    params_doc = {
        **ProbabilityHeadRefiner.params_doc,
        "embedding_dim": ("integer", "The seed's param: when given, must match the head."),
        "hidden_dims": ("array", "The seed's param: when given, must match the head."),
    }

    def __init__(
        self,
        embedding_dim: int | None = None,
        hidden_dims: list[int] | None = None,
        **kwargs: Any,
    ) -> None:
        self._expect = (embedding_dim, None if hidden_dims is None else list(hidden_dims))
        super().__init__(**kwargs)

    def load_head(self, path: Path) -> HeadRuntime:
        head = self.load_mdf_head(
            path,
            "Train one on labelled image folders: mdf train-head --task aigc --positive "
            "GENERATED_DIR --negative REAL_DIR (see docs/models.md), or set `model_path`.",
        )
        dim, hidden = self._expect
        actual_hidden = [m.out_features for m in head.build().layers if hasattr(m, "out_features")]
        actual_hidden = actual_hidden[:-1]
        if dim is not None and int(dim) != head.input_dim:
            raise ConfigError(
                f"{self.name}: `embedding_dim` is {dim} but the head at {path} takes "
                f"{head.input_dim}-d embeddings"
            )
        if hidden is not None and [int(h) for h in hidden] != actual_hidden:
            raise ConfigError(
                f"{self.name}: `hidden_dims` is {hidden} but the head at {path} has {actual_hidden}"
            )
        return head
