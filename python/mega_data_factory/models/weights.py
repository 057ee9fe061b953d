"""Where model weights come from: a local path, the Hugging Face cache, or the Hugging Face hub.

:func:`resolve_model_dir` finds a model directory (``config.json`` + weights, as
``save_pretrained`` writes it) and :func:`resolve_file` one file (a head's checkpoint). Both look,
in order, at:

1. a local path (a name that exists on disk, or that starts with ``/``, ``./``, ``../`` or ``~``
   and so is meant as one: then it must exist);
2. the Hugging Face cache (``HF_HUB_CACHE`` / ``HF_HOME``; ``huggingface_hub`` finds it);
3. the hub, unless ``HF_HUB_OFFLINE=1`` (downloads only ``*.json``, ``*.txt``, ``*.model`` and
   ``*.safetensors``, or ``pytorch_model.bin`` for repos without safetensors).

When none has it the error (a :class:`mega_data_factory.ConfigError`, so the run stops before any
work) names the model, every place looked at and the command that downloads it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .._native import ConfigError

MODELS_EXTRA = "pip install 'mega-data-factory[models]'"
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~", "\\")) or (os.name == "nt" and ":" in name[:3])


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:
        return "~/.cache/huggingface/hub"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _download_hint(repo: str, filename: str | None = None) -> str:
    target = f"{repo} {filename}" if filename else repo
    return (
        f"download it where the workers run with `hf download {target}` "
        f"(or `huggingface-cli download {target}`), or give a local path"
    )


def _check_dir(path: Path, required: Sequence[str], what: str, name: str) -> Path:
    missing = [f for f in required if not (path / f).is_file()]
    if not any((path / f).is_file() for f in _WEIGHT_FILES):
        missing.append(" or ".join(_WEIGHT_FILES))
    if missing:
        raise ConfigError(
            f"{what} `{name}`: the directory {path} lacks {', '.join(missing)}; it should hold "
            "what `save_pretrained` writes (config.json and model.safetensors)"
        )
    return path


def resolve_model_dir(name: str, *, what: str, required: Sequence[str] = ("config.json",)) -> Path:
    """The directory holding model ``name`` (a local directory or a Hugging Face repo id), with
    ``required`` files and a weights file. ``what`` names the model's role in errors."""
    local = Path(name).expanduser()
    if local.is_dir():
        return _check_dir(local, required, what, name)
    if local.exists():
        raise ConfigError(f"{what} `{name}`: {local} is a file; give the model's directory")
    if _looks_like_path(name) or name.count("/") > 1:
        raise ConfigError(f"{what} `{name}`: no such directory ({local.resolve()})")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ConfigError(
            f"{what} `{name}` is not a local directory, and looking it up on Hugging Face "
            f"needs huggingface_hub: {MODELS_EXTRA}"
        ) from None
    patterns = ["*.json", "*.txt", "*.model", "*.safetensors"]
    try:
        found = Path(snapshot_download(name, local_files_only=True, allow_patterns=patterns))
        return _check_dir(found, required, what, name)
    except Exception as e:  # noqa: BLE001 - any cache miss falls through to the hub
        cache_error = e
    where = f"not a local directory, not in the Hugging Face cache ({_hf_cache_dir()})"
    if _offline():
        raise ConfigError(
            f"{what} `{name}` not found: {where}, and HF_HUB_OFFLINE is set; "
            f"{_download_hint(name)} ({type(cache_error).__name__})"
        )
    try:
        found = Path(snapshot_download(name, allow_patterns=patterns))
        if not any((found / f).is_file() for f in _WEIGHT_FILES):
            found = Path(snapshot_download(name, allow_patterns=patterns + ["pytorch_model.bin"]))
        return _check_dir(found, required, what, name)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - network, auth, missing repo: all end here
        raise ConfigError(
            f"{what} `{name}` not found: {where}, and the hub download failed "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
            f"{_download_hint(name)}"
        ) from None


def resolve_file(path_or_repo: str, filename: str | None = None, *, what: str) -> Path:
    """A single weights file: ``path_or_repo`` as a local file (``filename`` ignored), a local
    directory holding ``filename``, or a Hugging Face repo id holding ``filename``."""
    local = Path(path_or_repo).expanduser()
    if local.is_file():
        return local
    if local.is_dir():
        if filename and (local / filename).is_file():
            return local / filename
        raise ConfigError(f"{what}: {local} has no {filename or 'weights file'}")
    if _looks_like_path(path_or_repo) or path_or_repo.count("/") > 1 or not filename:
        raise ConfigError(f"{what}: no such file {local.resolve()}")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise ConfigError(
            f"{what}: `{path_or_repo}` is not a local file, and looking it up on Hugging Face "
            f"needs huggingface_hub: {MODELS_EXTRA}"
        ) from None
    try:
        return Path(hf_hub_download(path_or_repo, filename, local_files_only=True))
    except Exception as e:  # noqa: BLE001
        cache_error = e
    where = f"not a local file, not in the Hugging Face cache ({_hf_cache_dir()})"
    if _offline():
        raise ConfigError(
            f"{what}: {filename} of `{path_or_repo}` not found: {where}, and HF_HUB_OFFLINE is "
            f"set; {_download_hint(path_or_repo, filename)} ({type(cache_error).__name__})"
        )
    try:
        return Path(hf_hub_download(path_or_repo, filename))
    except Exception as e:  # noqa: BLE001
        raise ConfigError(
            f"{what}: {filename} of `{path_or_repo}` not found: {where}, and the hub download "
            f"failed ({type(e).__name__}); {_download_hint(path_or_repo, filename)}"
        ) from None


def load_failed(what: str, name: str, path: Path, error: BaseException) -> ConfigError:
    """The error for weights that exist but do not load (corrupt or truncated files, a
    checkpoint of another architecture)."""
    detail = str(error).strip().splitlines()
    first = detail[0] if detail else ""
    return ConfigError(
        f"{what} `{name}`: cannot load the checkpoint in {path} ({type(error).__name__}: "
        f"{first[:300]}). The files are corrupt, truncated or of another architecture: delete "
        f"them and {_download_hint(name) if not _looks_like_path(name) else 'save them again'}"
    )
