"""Heads on precomputed image embeddings: the shared machinery of the aesthetic, NSFW, watermark
and AI-generated-image operators.

A head is a small PyTorch module that maps one embedding (a row of an embedding column written
by ``image_clip_embedding_refiner`` or ``image_siglip_embedding_refiner``) to a score. Three
weight formats are read:

* the LAION aesthetic predictor (``sac+logos+ava1-l14-linearMSE.pth``): a ``torch.save``'d state
  dict of ``nn.Sequential`` layers ``layers.{0,2,4,6,7}`` (768→1024→128→64→16→1, no
  activations), as ``improved-aesthetic-predictor/simple_inference.py`` loads it;
* LAION's CLIP-based NSFW detector in its PyTorch port (``clip_autokeras_binary_nsfw.pth``, the
  state dict attached to LAION-AI/CLIP-based-NSFW-Detector issue #7 and used by NeMo Curator):
  keys ``norm.mean``, ``norm.variance``, ``linear_{1..4}``; the original is an AutoKeras
  (TensorFlow) model, which we do not load;
* the mdf head format, written by ``mdf train-head``: a directory with ``model.safetensors``
  (an MLP ``layers.*``) and ``head.json`` (architecture, labels, the embedding it was trained
  on, held-out metrics). See docs/models.md.

Every loader checks what it reads (keys, shapes, finite values) and raises a
:class:`~mega_data_factory.ConfigError` naming the file and what to download or train; nothing
falls back to default weights or zero scores.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._native import ConfigError
from .base import read_embeddings, require_torch

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    import torch

HEAD_FORMAT = "mdf-embedding-head"
HEAD_FORMAT_VERSION = 1
HEAD_CONFIG = "head.json"
HEAD_WEIGHTS = "model.safetensors"


def weights_error(message: str) -> ConfigError:
    """Weights that are missing, unreadable or of the wrong shape: the operator cannot run."""
    return ConfigError(message)


def mdf_home() -> Path:
    """Where mdf looks for model files by default: ``$MDF_HOME``, else ``~/.cache/mdf``."""
    home = os.environ.get("MDF_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "mdf"


def default_model_path(filename: str) -> Path:
    """``$MDF_HOME/models/<filename>``: the default location of a downloaded weights file."""
    return mdf_home() / "models" / filename


def default_head_dir(name: str) -> Path:
    """``$MDF_HOME/heads/<name>``: where ``mdf train-head`` writes a head by default and where
    the operators that take a trained head look when no ``model_path`` is given."""
    return mdf_home() / "heads" / name


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- modules ---------------------------------------------------------------------------------


def _torch():
    return require_torch()


def laion_aesthetic_mlp(input_dim: int = 768) -> torch.nn.Module:
    """The improved-aesthetic-predictor MLP, layer for layer (the dropouts are identities in
    eval mode; there are no activation functions, so the head is affine overall)."""
    nn = _torch().nn

    class LaionAestheticMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.Sequential(
                nn.Linear(input_dim, 1024),
                nn.Dropout(0.2),
                nn.Linear(1024, 128),
                nn.Dropout(0.2),
                nn.Linear(128, 64),
                nn.Dropout(0.1),
                nn.Linear(64, 16),
                nn.Linear(16, 1),
            )

        def forward(self, x):
            return self.layers(x)

    return LaionAestheticMLP()


def laion_nsfw_mlp(input_dim: int = 768) -> torch.nn.Module:
    """The PyTorch port of LAION's AutoKeras NSFW detector (ViT-L/14): a Keras Normalization
    layer ((x − mean) / √variance), Dense 64/512/256 with ReLU, Dense 1 with a sigmoid."""
    torch = _torch()
    nn = torch.nn

    class Normalization(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.zeros(input_dim))
            self.register_buffer("variance", torch.ones(input_dim))

        def forward(self, x):
            return (x - self.mean) / self.variance.sqrt()

    class LaionNsfwMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = Normalization()
            self.linear_1 = nn.Linear(input_dim, 64)
            self.linear_2 = nn.Linear(64, 512)
            self.linear_3 = nn.Linear(512, 256)
            self.linear_4 = nn.Linear(256, 1)

        def forward(self, x):
            x = self.norm(x)
            x = torch.relu(self.linear_1(x))
            x = torch.relu(self.linear_2(x))
            x = torch.relu(self.linear_3(x))
            return torch.sigmoid(self.linear_4(x))

    return LaionNsfwMLP()


def mlp_head(input_dim: int, hidden_dims: list[int], num_outputs: int, dropout: float = 0.0):
    """The mdf head: a per-dimension standardisation ``(x − norm.mean) / norm.std`` (statistics of
    the training embeddings, as the Normalization layer of LAION's AutoKeras heads), then
    ``[Linear → ReLU → Dropout] × len(hidden_dims)`` and a ``Linear`` to ``num_outputs`` logits
    (no hidden layer = a linear probe). Keys ``norm.mean``, ``norm.std``, ``layers.{i}.*``."""
    torch = _torch()
    nn = torch.nn
    layers: list[Any] = []
    width = input_dim
    for h in hidden_dims:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, num_outputs))

    class Standardize(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.zeros(input_dim))
            self.register_buffer("std", torch.ones(input_dim))

        def forward(self, x):
            return (x - self.mean) / self.std

    class MlpHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = Standardize()
            self.layers = nn.Sequential(*layers)

        def forward(self, x):
            return self.layers(self.norm(x))

    return MlpHead()


# --- loading ---------------------------------------------------------------------------------


def _read_state_dict(path: Path, what: str, get: str) -> dict[str, torch.Tensor]:
    """A state dict from a ``torch.save`` file (``weights_only``: no pickled code runs) or a
    ``.safetensors`` file."""
    torch = _torch()
    if not path.is_file():
        raise weights_error(f"{what}: weights file {path} not found. {get}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a damaged file
        raise weights_error(
            f"{what}: cannot read {path} as a PyTorch state dict ({type(e).__name__}: {e}); "
            f"the file is damaged or of another format. {get}"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]  # a Lightning checkpoint
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise weights_error(f"{what}: {path} does not hold a state dict of tensors. {get}")
    return state


def load_state_into(
    module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, what: str, get: str
) -> torch.nn.Module:
    """Loads ``state`` strictly (every key, every shape) and checks the values are finite."""
    torch = _torch()
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise weights_error(
            f"{what}: {path} is not this model's state dict "
            f"(missing keys: {missing[:6] or 'none'}; "
            f"unexpected keys: {unexpected[:6] or 'none'}). {get}"
        )
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise weights_error(
                f"{what}: {path}: `{key}` has shape {tuple(state[key].shape)}, "
                f"expected {tuple(tensor.shape)}. {get}"
            )
        if not torch.isfinite(state[key]).all():
            raise weights_error(f"{what}: {path}: `{key}` holds NaN or infinite values")
    module.load_state_dict({k: v.float() for k, v in state.items()})
    return module.eval()


def load_torch_weights(module: torch.nn.Module, path: Path, what: str, get: str) -> torch.nn.Module:
    return load_state_into(module, _read_state_dict(path, what, get), path, what, get)


@dataclass
class HeadSpec:
    """The contents of a head's ``head.json``."""

    input_dim: int
    hidden_dims: list[int]
    labels: list[str]
    positive_label: str
    normalize_input: bool = True
    dropout: float = 0.0
    embedding: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    task: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": HEAD_FORMAT,
            "format_version": HEAD_FORMAT_VERSION,
            "task": self.task,
            "architecture": {
                "type": "mlp",
                "input_dim": self.input_dim,
                "hidden_dims": self.hidden_dims,
                "num_outputs": len(self.labels),
                "activation": "relu",
                "dropout": self.dropout,
                "output": "softmax over labels",
            },
            "normalize_input": self.normalize_input,
            "labels": self.labels,
            "positive_label": self.positive_label,
            "embedding": self.embedding,
            "metrics": self.metrics,
            "training": self.training,
        }


@dataclass
class LoadedHead:
    spec: HeadSpec
    module: Any
    config_path: Path
    weights_path: Path
    weights_sha256: str

    @property
    def positive_index(self) -> int:
        return self.spec.labels.index(self.spec.positive_label)


def _head_files(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        return path / HEAD_CONFIG, path / HEAD_WEIGHTS
    if path.name.endswith(".json"):
        return path, path.with_name(HEAD_WEIGHTS)
    return path.with_name(HEAD_CONFIG), path


def load_mdf_head(path: Path, what: str, get: str) -> LoadedHead:
    """Reads a head written by ``mdf train-head`` (a directory, its ``head.json`` or its
    ``model.safetensors``)."""
    config_path, weights_path = _head_files(path)
    if not config_path.is_file():
        raise weights_error(f"{what}: no head at {path} ({config_path} not found). {get}")
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
        if raw.get("format") != HEAD_FORMAT:
            raise ValueError(f"`format` is {raw.get('format')!r}, expected {HEAD_FORMAT!r}")
        if raw.get("format_version") != HEAD_FORMAT_VERSION:
            raise ValueError(f"unsupported format_version {raw.get('format_version')!r}")
        arch = raw["architecture"]
        spec = HeadSpec(
            input_dim=int(arch["input_dim"]),
            hidden_dims=[int(h) for h in arch["hidden_dims"]],
            dropout=float(arch.get("dropout", 0.0)),
            labels=[str(label) for label in raw["labels"]],
            positive_label=str(raw["positive_label"]),
            normalize_input=bool(raw["normalize_input"]),
            embedding=dict(raw.get("embedding") or {}),
            metrics=dict(raw.get("metrics") or {}),
            training=dict(raw.get("training") or {}),
            task=str(raw.get("task", "")),
        )
        if len(spec.labels) < 2 or spec.positive_label not in spec.labels:
            raise ValueError("`labels` needs two or more labels including `positive_label`")
        if int(arch["num_outputs"]) != len(spec.labels):
            raise ValueError("`architecture.num_outputs` differs from the number of labels")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise weights_error(
            f"{what}: {config_path} is not a valid mdf head ({type(e).__name__}: {e}). {get}"
        ) from None
    module = mlp_head(spec.input_dim, spec.hidden_dims, len(spec.labels), spec.dropout)
    load_torch_weights(module, weights_path, what, get)
    return LoadedHead(spec, module, config_path, weights_path, sha256_of(weights_path))


def save_mdf_head(directory: Path, spec: HeadSpec, module: torch.nn.Module) -> Path:
    """Writes ``model.safetensors`` and ``head.json`` into ``directory`` (created)."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    tmp = directory / f".{HEAD_WEIGHTS}.tmp"
    save_file(state, str(tmp), metadata={"format": HEAD_FORMAT})
    os.replace(tmp, directory / HEAD_WEIGHTS)
    text = json.dumps(spec.to_json(), indent=2, sort_keys=False) + "\n"
    tmp = directory / f".{HEAD_CONFIG}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, directory / HEAD_CONFIG)
    return directory


# --- the embedding column --------------------------------------------------------------------


def head_inputs(
    batch: pa.RecordBatch, name: str, dim: int, operator: str, hint: str
) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
    """The vectors of embedding column ``name`` as a float32 ``(k, dim)`` matrix, the rows they
    come from, and rejects for the other rows (null: ``missing_field``; NaN or infinite values:
    ``not_finite``).

    A missing column, or vectors that are not ``dim`` long, raise a
    :class:`~mega_data_factory.ConfigError` (the run stops at the first batch): a head fed
    another model's embedding gives meaningless scores, and every row would fail the same way.
    ``hint`` says which embedding operator to run."""
    import numpy as np

    if batch.schema.get_field_index(name) < 0:
        raise ConfigError(
            f"{operator}: the batch has no `{name}` column; {hint} "
            f"(columns: {', '.join(batch.schema.names)})"
        )
    try:
        matrix, rows, rejects = read_embeddings(batch, name)
    except ValueError:  # variable-length lists of different lengths
        raise ConfigError(
            f"{operator}: `{name}` holds vectors of several lengths; this head takes {dim}-d "
            f"ones; {hint}"
        ) from None
    if rejects and rejects[0][1].startswith("wrong_type"):
        raise ConfigError(f"{operator}: {rejects[0][1].split(': ', 1)[1]}; {hint}")
    if rows and matrix.shape[1] != dim:
        raise ConfigError(
            f"{operator}: `{name}` holds {matrix.shape[1]}-d vectors but this head takes "
            f"{dim}-d ones; {hint}"
        )
    matrix = np.asarray(matrix, dtype=np.float32).reshape(len(rows), dim)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        rejects = rejects + [
            (row, f"not_finite: `{name}` has NaN or infinite values")
            for row, ok in zip(rows, finite, strict=True)
            if not ok
        ]
        rows = [row for row, ok in zip(rows, finite, strict=True) if ok]
        matrix = matrix[finite]
    return matrix, rows, sorted(rejects)


def l2_normalize(matrix: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (a zero row stays zero), as the LAION predictors'
    ``normalized()`` does."""
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def run_head(module: Any, matrix: np.ndarray, batch_size: int, device: Any = "cpu") -> np.ndarray:
    """The head's raw outputs (``(rows, outputs)`` float32) for every row, in batches."""
    import numpy as np

    torch = _torch()
    outs = []
    with torch.inference_mode():
        for start in range(0, len(matrix), max(1, batch_size)):
            x = torch.from_numpy(np.ascontiguousarray(matrix[start : start + batch_size]))
            outs.append(module(x.to(device)).float().cpu().numpy())
    if not outs:
        return np.zeros((0, 1), dtype=np.float32)
    return np.concatenate(outs, axis=0).astype(np.float32, copy=False)


def score_field(name: str, metadata: dict[str, str]) -> pa.Field:
    """A float32 score column that carries its units (model, weights checksum, input, scale)
    as Arrow field metadata (spec §0.1)."""
    import pyarrow as pa

    return pa.field(name, pa.float32(), metadata={f"mdf.{k}": v for k, v in metadata.items()})


def check_threshold(value: float | None, low: float, high: float, param: str, scale: str) -> None:
    if value is None:
        return
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"`{param}` = {value} is outside the {scale} scale [{low}, {high}]")
