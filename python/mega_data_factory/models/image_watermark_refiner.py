"""``image_watermark_refiner``: P(visible watermark) from a classifier head on an image-embedding
column, the role of LAION's ``pwatermark`` tag (LAION-5B keeps ``pwatermark < 0.8``).

LAION's own watermark detector is not an embedding head: it is a timm CNN (EfficientNet family)
on the pixels, trained on ~90k balanced images, and it is not loaded here. This operator runs a
head trained with ``mdf train-head --task watermark`` on your labelled images (watermarked vs
clean), read from ``$MDF_HOME/heads/image_watermark`` unless ``model_path`` says otherwise, so
its scores are comparable to LAION's only in intent. Outputs ``image_watermark_score`` and
``image_has_watermark`` = score ≥ ``threshold`` (default 0.8, LAION's cut).
"""

from __future__ import annotations

from pathlib import Path

from .head_operator import HeadRuntime, ProbabilityHeadRefiner


class ImageWatermarkRefiner(ProbabilityHeadRefiner):
    """P(watermark) from a head trained with `mdf train-head --task watermark`.

    Params:
        model_path: the head directory (or its ``head.json``). Default:
            ``$MDF_HOME/heads/image_watermark``.
        embedding_field: the embedding column. Default: the one the head was trained on.
        threshold: ``image_has_watermark`` = score ≥ threshold. Default: 0.8 (LAION).
        output_field, flag_field: Default: ``image_watermark_score``, ``image_has_watermark``.
        remove_flagged: drop the flagged rows (and rows without an embedding). Default: false
            (LAION tags, it does not filter).
        inference_batch_size: Default: 1024. device: Default: ``auto``.
    """

    name = "image_watermark_refiner"
    default_head = "image_watermark"
    default_output = "image_watermark_score"
    default_flag = "image_has_watermark"
    default_threshold = 0.8
    drop_reason = "watermark"

    def load_head(self, path: Path) -> HeadRuntime:
        return self.load_mdf_head(
            path,
            "Train one on labelled image folders: mdf train-head --task watermark --positive "
            "WATERMARKED_DIR --negative CLEAN_DIR (see docs/models.md), or set `model_path`.",
        )
