"""Mega Data Factory: turns web-scale raw data into pretraining data.

The engine is Rust (``mega_data_factory._native``); this package is its Python front: the
``mdf`` CLI, :func:`run` / :func:`validate`, and the operator extension API.
"""

from . import models as models  # registers the model operators (torch is imported lazily)
from ._native import (
    ConfigError,
    DataError,
    InternalError,
    MdfBaseError,
    OperatorError,
    StorageError,
)
from ._native import __version__ as __version__
from .api import describe, extract_html, list_components, run, validate
from .operators import BatchFilter, BatchRefiner, Filter, Operator, Refiner
from .registry import OperatorRegistry

__all__ = [
    "BatchFilter",
    "BatchRefiner",
    "ConfigError",
    "DataError",
    "Filter",
    "InternalError",
    "MdfBaseError",
    "Operator",
    "OperatorError",
    "OperatorRegistry",
    "Refiner",
    "StorageError",
    "describe",
    "extract_html",
    "list_components",
    "run",
    "validate",
]
