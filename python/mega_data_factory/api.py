"""The Python API: ``run(config, **overrides)`` and ``validate(config)``.

A config is a YAML file path or a dict in the same schema. Overrides are the CLI's:
``max_samples``, ``batch_size``, ``workers``, ``overwrite``, ``progress`` and ``set`` (a list of
``dotted.key=value`` strings).
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from . import _native, iceberg
from .registry import OperatorRegistry

ConfigLike = str | os.PathLike | dict


def _load(config: ConfigLike) -> tuple[str, str]:
    """Returns (text, name) of a config given as a path or a dict."""
    if isinstance(config, dict):
        return json.dumps(config, indent=1), "<dict config>"
    path = Path(config)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise _native.ConfigError(f"config file not found: {path}") from None
    except OSError as e:
        raise _native.ConfigError(f"cannot read config {path}: {e}") from None


def _import_modules(text: str, name: str) -> None:
    for module in _native.imports_of(text, name):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise _native.ConfigError(f"{name}: imports: cannot import {module!r}: {e}") from e


def _overrides(max_samples: int | None, batch_size: int | None, set: list[str] | None) -> list[str]:
    out = list(set or [])
    if max_samples is not None:
        out.append(f"executor.max_samples={int(max_samples)}")
    if batch_size is not None:
        out.append(f"executor.batch_size={int(batch_size)}")
    return out


def validate(
    config: ConfigLike,
    *,
    max_samples: int | None = None,
    batch_size: int | None = None,
    set: list[str] | None = None,
) -> dict[str, Any]:
    """Resolves and plans a config without running it. Returns the resolved config and the
    number of shards; raises :class:`ConfigError` naming the key and line on a bad config."""
    text, name = _load(config)
    _import_modules(text, name)
    out = json.loads(
        _native.validate(
            text, name, _overrides(max_samples, batch_size, set), OperatorRegistry._native_specs()
        )
    )
    if out.get("config", {}).get("data_writer", {}).get("type") == iceberg.WRITER:
        iceberg._require_pyiceberg()
    return out


def run(
    config: ConfigLike,
    *,
    max_samples: int | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: str = "auto",
    set: list[str] | None = None,
    executor: str | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """Runs a pipeline and returns its stats (as in ``stats.json``).

    The executor is the config's ``executor.type`` unless ``executor`` (``"local"`` or
    ``"ray"``) is given; ``address`` is the Ray cluster's (see docs/ray.md). On Ray, ``workers``
    caps the tasks in flight. With ``executor.metrics.generate_report: true`` it also writes
    ``report.html`` into the run directory; its path is then under the ``"report"`` key.

    An existing run directory is resumed (completed shards are skipped) unless
    ``overwrite=True``. With ``IcebergDataWriter`` the run's data files are then committed to
    the Iceberg table (one snapshot per run; what was committed is under ``stats["iceberg"]``).
    """
    text, name = _load(config)
    _import_modules(text, name)
    overrides = _overrides(max_samples, batch_size, set)
    if address is not None and executor is None:
        executor = "ray"
    if executor is not None:
        if executor not in ("local", "ray"):
            raise _native.ConfigError(f"executor must be local or ray, got {executor!r}")
        overrides.append(f"executor.type={executor}")
        overrides.append("executor.use_ray=false")
    if address is not None:
        overrides.append(f"executor.address={json.dumps(address)}")
    kind, _ = _native.executor_of(text, name, overrides)
    if kind == "ray":
        from . import ray_runner

        stats = ray_runner.run(
            text,
            name,
            overrides,
            overwrite=overwrite,
            progress=progress,
            max_in_flight=workers,
        )
    else:
        out = _native.run(
            text,
            name,
            overrides,
            workers,
            overwrite,
            progress,
            OperatorRegistry._native_specs(),
        )
        stats = json.loads(out)
    if not is_remote(str(stats["run_dir"])):
        committed = iceberg.commit_run(stats["run_dir"])
        if committed is not None:
            stats["iceberg"] = committed
        if _report_enabled(Path(stats["run_dir"])):
            from .report import build_report

            stats["report"] = str(build_report(stats["run_dir"]))
    return stats


def is_remote(path: str) -> bool:
    """True for ``scheme://`` locations (object stores, HTTP)."""
    head, sep, _ = path.partition("://")
    return bool(sep) and len(head) > 1 and head.isalnum()


def _report_enabled(run_dir: Path) -> bool:
    """``executor.metrics.generate_report`` of the run, as recorded in its manifest."""
    try:
        manifest = json.loads((run_dir / "_mdf" / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    metrics = manifest.get("config", {}).get("executor", {}).get("metrics", {})
    return bool(metrics.get("generate_report"))


def list_components() -> list[dict[str, str]]:
    """Every loader, operator and writer: ``[{name, kind, summary}]``."""
    return json.loads(_native.list_components(OperatorRegistry._native_specs()))


def describe(name: str) -> dict[str, Any]:
    """A component's summary and the JSON schema of its params."""
    return json.loads(_native.describe(name, OperatorRegistry._native_specs()))


def extract_html(
    html: bytes | str,
    *,
    url: str | None = None,
    content_type: str | None = None,
    **params: Any,
) -> dict[str, str | None]:
    """Extracts one HTML page exactly as the ``html_extractor`` operator would.

    ``params`` are ``html_extractor`` params (e.g. ``favor_precision=True``). Returns ``text``,
    ``title``, ``author``, ``date_published`` and ``html_lang``. A page the operator would
    reject (over budget, undecodable) raises :class:`DataError` with the reason.
    """
    body = html.encode("utf-8") if isinstance(html, str) else bytes(html)
    if isinstance(html, str) and content_type is None:
        content_type = "text/html; charset=utf-8"
    return _native.extract_html(body, content_type, url, json.dumps(params))
