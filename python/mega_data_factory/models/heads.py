"""The heads' operators by config name (importing this does not import torch)."""

from __future__ import annotations

from .image_aesthetic_quality_refiner import ImageAestheticQualityRefiner
from .image_aigc_detector_refiner import ImageAigcDetectorRefiner
from .image_nsfw_refiner import ImageNsfwRefiner
from .image_watermark_refiner import ImageWatermarkRefiner

OPERATORS = {
    "image_aesthetic_quality_refiner": ImageAestheticQualityRefiner,
    "image_nsfw_refiner": ImageNsfwRefiner,
    "image_watermark_refiner": ImageWatermarkRefiner,
    "image_aigc_detector_refiner": ImageAigcDetectorRefiner,
}
