"""The base of model operators (PyTorch): :class:`ModelOperator`.

A model operator is a :class:`~mega_data_factory.BatchRefiner` whose model is built **inside the
worker, on first use** — never in the constructor and never pickled from the driver. The driver
builds every operator once to validate the config; that only checks params, resolves the weights
and reads their config (cheap). The model then loads once per process and device: worker threads
of the local executor (and two operators that use the same weights, like CLIP embeddings and CLIP
score) share one copy.

Subclass it and implement four methods::

    class MyHead(ModelOperator):
        '''One line shown by `mdf ops list`.'''

        params_doc = {"embedding_field": ("string", "Input column. Required.")}

        def __init__(self, embedding_field: str, **common):
            super().__init__(**common)          # device, use_fp16, inference_batch_size
            self.embedding_field = embedding_field
            self.weights = resolve_file(...)    # fail at build if the weights are missing

        def output_columns(self):               # declared once; the engine checks each batch
            return {"my_score": pa.float32()}

        def model_key(self):                    # what identifies the weights (cache key)
            return ("my_head", str(self.weights))

        def load_model(self, device, dtype):    # runs in the worker, once per process
            model = build_my_module()
            model.load_state_dict(load_file(self.weights))
            return model.to(device=device, dtype=dtype).eval()

        def run_batch(self, model, batch):      # under torch.inference_mode()
            vectors, rows, rejects = read_embeddings(batch, self.embedding_field)
            scores = ...                        # chunks of self.inference_batch_size
            return ModelOutput({"my_score": pa.array(...)}, rejects=rejects)

``run_batch`` returns a :class:`ModelOutput`: the declared columns (one value per row of the
batch; ``None`` for rejected rows), an optional keep mask (filters), and ``rejects`` —
``[(row, "reason_code: detail")]`` for rows with bad input (an undecodable image, a null
embedding), which the engine counts and writes to ``_mdf/rejects/``. Never emit a zero vector or a
default score for a row that could not be computed.

Device and precision: ``device`` is ``auto`` (cuda > mps > cpu), ``cpu``, ``cuda``, ``cuda:N`` or
``mps``. An explicit device that is not available stops the run with a
:class:`mega_data_factory.ConfigError` at the first batch (never a silent fallback to the CPU);
the check is not done at build time because a Ray driver without a GPU validates configs whose
GPU stages run on other machines. ``use_fp16`` (default true) runs the model in ``half_precision``
(``float16`` or ``bfloat16``) on GPUs (cuda, mps); **on the CPU the model always runs in
float32**. Outputs are float32 whatever the compute precision.

Building a model operator without PyTorch installed is a ConfigError naming
``pip install 'mega-data-factory[models]'``; the operator names are known to ``mdf ops`` and
``mdf validate`` without it (``torch`` is imported lazily).
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._native import ConfigError
from ..operators import BatchRefiner
from .weights import MODELS_EXTRA

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    import torch

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_HALF = {"float16", "bfloat16"}


def require_torch():
    """The ``torch`` module, or a ConfigError naming the extra to install."""
    try:
        import torch
    except ImportError as e:
        raise ConfigError(f"model operators need PyTorch: {MODELS_EXTRA} ({e})") from None
    return torch


def require_transformers():
    """The ``transformers`` module, or a ConfigError naming the extra to install."""
    require_torch()
    try:
        import transformers
    except ImportError as e:
        raise ConfigError(f"this model operator needs transformers: {MODELS_EXTRA} ({e})") from None
    return transformers


def select_device(requested: str) -> torch.device:
    """``auto`` → cuda if available, else mps, else cpu; an explicit device must exist."""
    torch = require_torch()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device: {requested} was requested but CUDA is not available on this machine "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda or 'none'}, "
                f"{torch.cuda.device_count()} GPUs visible); use device: auto or cpu, or run the "
                "stage where a GPU is (docs/models.md)"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device: {requested}: only {torch.cuda.device_count()} CUDA devices are visible"
            )
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"device: {requested} was requested but MPS is not available")
    return device


def select_dtype(device: torch.device, use_fp16: bool, half_precision: str) -> torch.dtype:
    """Half precision on GPUs when asked; float32 on the CPU, always."""
    torch = require_torch()
    if use_fp16 and device.type in ("cuda", "mps"):
        return getattr(torch, half_precision)
    return torch.float32


_MODELS: dict[Hashable, Any] = {}
_MODELS_LOCK = threading.Lock()
_LOADING: dict[Hashable, threading.Lock] = {}


def shared_model(key: Hashable, build: Callable[[], Any]) -> Any:
    """The process-wide instance of ``key``, built by ``build()`` on first use; concurrent
    first uses from several worker threads build it once."""
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        lock = _LOADING.setdefault(key, threading.Lock())
    with lock:
        with _MODELS_LOCK:
            if key in _MODELS:
                return _MODELS[key]
        model = build()
        with _MODELS_LOCK:
            _MODELS[key] = model
    return model


def clear_model_cache() -> None:
    """Drops every loaded model of this process (tests, notebooks)."""
    with _MODELS_LOCK:
        _MODELS.clear()
        _LOADING.clear()


@dataclass
class ModelOutput:
    """What :meth:`ModelOperator.run_batch` returns."""

    #: Declared columns, each with one value per row of the batch (``None`` for rejected rows).
    columns: dict[str, pa.Array]
    #: Keep flags (filters), one per row; ``None`` keeps every row.
    keep: list[bool] | None = None
    #: ``(row, "reason_code: detail")`` of rows with bad input.
    rejects: list[tuple[int, str]] = field(default_factory=list)


class ModelOperator(BatchRefiner):
    """Base of the PyTorch model operators (see the module docs for the subclass contract)."""

    #: Param docs for ``mdf ops describe`` and docs/operators.md: ``{name: (json type, text)}``.
    #: Defaults come from the constructor's signature; subclasses extend this dict.
    params_doc: dict[str, tuple[str, str]] = {
        "device": (
            "string",
            "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps. An explicit device that is not "
            "available stops the run (no silent CPU fallback).",
        ),
        "use_fp16": (
            "boolean",
            "Run the model in half_precision on a GPU. The CPU always computes in float32.",
        ),
        "half_precision": ("string", "float16 or bfloat16: the GPU precision when use_fp16."),
        "inference_batch_size": ("integer", "Images or vectors per forward pass."),
    }

    def __init__(
        self,
        *,
        device: str = "auto",
        use_fp16: bool = True,
        half_precision: str = "float16",
        inference_batch_size: int = 32,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(device, str) or not _DEVICE.match(device):
            raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
        if half_precision not in _HALF:
            raise ConfigError(f"half_precision must be float16 or bfloat16, got {half_precision!r}")
        if not isinstance(inference_batch_size, int) or inference_batch_size < 1:
            raise ConfigError(
                f"inference_batch_size must be a positive integer, got {inference_batch_size!r}"
            )
        require_torch()
        self.device_param = device
        self.use_fp16 = bool(use_fp16)
        self.half_precision = half_precision
        self.inference_batch_size = inference_batch_size

    # ---- what a subclass implements ----------------------------------------------------------

    def output_columns(self) -> dict[str, pa.DataType]:
        """The columns this operator writes, with their Arrow types."""
        raise NotImplementedError

    def model_key(self) -> Hashable:
        """What identifies the weights: operators with equal keys share one loaded model."""
        raise NotImplementedError

    def load_model(self, device: torch.device, dtype: torch.dtype) -> Any:
        """Builds the model on ``device`` in ``dtype``, in eval mode. Runs in the worker, once
        per process; raise :func:`~mega_data_factory.models.weights.load_failed` (a
        ConfigError) for weights that do not load."""
        raise NotImplementedError

    def run_batch(self, model: Any, batch: pa.RecordBatch) -> ModelOutput:
        """Computes the declared columns for ``batch`` (under ``torch.inference_mode``)."""
        raise NotImplementedError

    # ---- provided -----------------------------------------------------------------------------

    def get_output_schema(self) -> dict[str, pa.DataType]:
        return self.output_columns()

    @property
    def device(self) -> torch.device:
        return self.model_and_device[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.model_and_device[2]

    @property
    def model(self) -> Any:
        return self.model_and_device[0]

    @property
    def model_and_device(self) -> tuple[Any, torch.device, torch.dtype]:
        """``(model, device, dtype)``, loading the model on first use."""
        loaded = getattr(self, "_loaded", None)
        if loaded is None:
            device = select_device(self.device_param)
            dtype = select_dtype(device, self.use_fp16, self.half_precision)
            key = (type(self).__module__, self.model_key(), str(device), str(dtype))
            model = shared_model(key, lambda: self.load_model(device, dtype))
            loaded = self._loaded = (model, device, dtype)
        return loaded

    def chunks(self, n: int) -> Iterator[slice]:
        """Slices of ``range(n)`` of ``inference_batch_size``."""
        step = self.inference_batch_size
        for start in range(0, n, step):
            yield slice(start, min(start + step, n))

    def _mdf_process(self, batch: pa.RecordBatch):
        import pyarrow as pa

        torch = require_torch()
        model = self.model
        with torch.inference_mode() if hasattr(torch, "inference_mode") else nullcontext():
            out = self.run_batch(model, batch)
        declared = self.output_columns()
        for name, dtype in declared.items():
            if name not in out.columns:
                raise RuntimeError(f"{type(self).__name__}.run_batch did not return `{name}`")
            column = out.columns[name]
            if len(column) != batch.num_rows:
                raise RuntimeError(f"`{name}`: {len(column)} values for {batch.num_rows} rows")
            index = batch.schema.get_field_index(name)
            field_ = pa.field(name, dtype)
            if index >= 0:
                batch = batch.set_column(index, field_, column)
            else:
                batch = batch.append_column(field_, column)
        keep = out.keep
        if keep is not None and out.rejects:
            # A rejected row is counted as rejected, not also as filtered.
            keep = list(keep)
            for row, _ in out.rejects:
                keep[row] = True
        return batch, keep, out.rejects or None

    @classmethod
    def _mdf_params_schema(cls) -> dict[str, Any] | None:
        """JSON schema of the constructor's params (for ``mdf ops describe``)."""
        docs: dict[str, tuple[str, str]] = {}
        for klass in reversed(cls.__mro__):
            docs.update(getattr(klass, "params_doc", {}) or {})
        props: dict[str, Any] = {}
        required: list[str] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            for name, p in inspect.signature(init).parameters.items():
                if name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or name in props:
                    continue
                if name == "collect_rejected":
                    continue
                json_type, text = docs.get(name, ("any", ""))
                spec: dict[str, Any] = {"type": json_type, "description": text}
                if p.default is inspect.Parameter.empty:
                    required.append(name)
                else:
                    spec["default"] = p.default
                props[name] = spec
        schema: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            schema["required"] = required
        return schema


# ---- embedding columns -------------------------------------------------------------------------


def embedding_type(dim: int) -> pa.DataType:
    """``FixedSizeList<float32, dim>``, the type of every embedding column."""
    import pyarrow as pa

    return pa.list_(pa.float32(), dim)


def embedding_column(vectors: np.ndarray, rows: list[int], num_rows: int) -> pa.Array:
    """A ``FixedSizeList<float32, d>`` array of ``num_rows`` values: ``vectors[i]`` at
    ``rows[i]``, null elsewhere (rows that were rejected)."""
    import numpy as np
    import pyarrow as pa

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if len(rows) == num_rows:
        return pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
    full = np.zeros((num_rows, dim), dtype=np.float32)
    valid = np.zeros(num_rows, dtype=bool)
    if rows:
        full[rows] = vectors
        valid[rows] = True
    mask = pa.array(~valid)
    return pa.FixedSizeListArray.from_arrays(pa.array(full.reshape(-1)), dim, mask=mask)


def scores_column(values: np.ndarray, rows: list[int], num_rows: int) -> pa.Array:
    """A float32 array of ``num_rows``: ``values[i]`` at ``rows[i]``, null elsewhere."""
    import numpy as np
    import pyarrow as pa

    full = np.zeros(num_rows, dtype=np.float32)
    valid = np.zeros(num_rows, dtype=bool)
    if rows:
        full[rows] = np.asarray(values, dtype=np.float32)
        valid[rows] = True
    return pa.array(full, mask=~valid)


def read_embeddings(
    batch: pa.RecordBatch, field_name: str, dim: int | None = None
) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
    """The vectors of an embedding column (fixed-size or variable lists of floats) as a writable
    float32 ``(k, d)`` matrix, the rows they come from, and rejects for rows that are null or of
    another length (``missing_field`` / ``wrong_dimension``). A missing column rejects every
    row."""
    import numpy as np
    import pyarrow as pa

    n = batch.num_rows
    index = batch.schema.get_field_index(field_name)
    if index < 0:
        reason = f"missing_field: no `{field_name}` column"
        return np.zeros((0, dim or 0), np.float32), [], [(r, reason) for r in range(n)]
    column = batch.column(index)
    if not (pa.types.is_fixed_size_list(column.type) or pa.types.is_list(column.type)):
        reason = f"wrong_type: `{field_name}` is {column.type}, not a list of floats"
        return np.zeros((0, dim or 0), np.float32), [], [(r, reason) for r in range(n)]
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_fixed_size_list(column.type) and column.null_count == 0:
        width = column.type.list_size
        if dim is None or width == dim:
            # A copy: Arrow memory is read-only, and torch.from_numpy wants a writable array.
            flat = np.array(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
            return flat.reshape(n, width), list(range(n)), []
    rows, vectors, rejects = [], [], []
    values = column.to_numpy(zero_copy_only=False)
    for row in range(n):
        v = values[row]
        if v is None:
            rejects.append((row, f"missing_field: `{field_name}` is null"))
            continue
        if dim is not None and len(v) != dim:
            rejects.append((row, f"wrong_dimension: `{field_name}` has {len(v)} values, not {dim}"))
            continue
        rows.append(row)
        vectors.append(np.asarray(v, dtype=np.float32))
    width = dim if dim is not None else (len(vectors[0]) if vectors else 0)
    matrix = np.stack(vectors) if vectors else np.zeros((0, width), np.float32)
    return matrix, rows, rejects
