"""``mdf train-head``: fits a classifier head on image embeddings from labelled image folders (or
a Parquet file of embeddings), for ``image_aigc_detector_refiner``, ``image_watermark_refiner``
and ``image_nsfw_refiner``.

Embeddings are computed by running an mdf pipeline (``ImageFolderLoader`` → the embedding
operator → Parquet) over each class's folder, so training sees exactly the vectors the operator
will see at inference (same decoder, preprocessing, model and normalisation). Training is
deterministic for a given seed: a stratified held-out split drawn with that seed, seeded weight
initialisation and minibatch order, deterministic PyTorch kernels on the CPU. The head is
evaluated on the held-out split and the metrics are written with it; it is not retrained on the
held-out rows afterwards, so the metrics describe the saved weights.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from . import embedding_heads as eh

#: ``--task`` → (operator the head is for, default embedder, its default params, labels).
TASKS: dict[str, tuple[str, str, dict[str, Any], tuple[str, str]]] = {
    "aigc": (
        "image_aigc_detector",
        "image_siglip_embedding_refiner",
        {"model_name": "google/siglip2-so400m-patch14-384"},
        ("real", "aigc"),
    ),
    "watermark": (
        "image_watermark",
        "image_clip_embedding_refiner",
        {"model_name": "ViT-L-14", "pretrained": "openai"},
        ("clean", "watermark"),
    ),
    "nsfw": (
        "image_nsfw",
        "image_clip_embedding_refiner",
        {"model_name": "ViT-L-14", "pretrained": "openai"},
        ("safe", "nsfw"),
    ),
}

#: Columns the image loaders write; anything else of list-of-float type is the embedding.
_LOADER_COLUMNS = {"id", "image", "text", "json"}


class TrainHeadError(ValueError):
    """Bad arguments or data for ``mdf train-head``."""


def embed_folders(
    classes: dict[str, list[str]],
    embedder: str,
    embedder_params: dict[str, Any],
    embedding_field: str | None,
    workers: int | None,
    work_dir: Path,
) -> tuple[list[str], list[str], Any, str, dict[str, int]]:
    """Runs ``embedder`` over each class's folders. Returns ids, labels, the embedding matrix,
    the embedding column's name and the number of images rejected per class."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .. import api

    ids: list[str] = []
    labels: list[str] = []
    chunks = []
    rejected: dict[str, int] = {}
    field = embedding_field
    for label, dirs in classes.items():
        for d in dirs:
            if not Path(d).is_dir():
                raise TrainHeadError(f"class `{label}`: {d} is not a directory")
        out = work_dir / f"embed-{len(rejected)}"
        stats = api.run(
            {
                "data_loader": {"type": "ImageFolderLoader", "params": {"paths": list(dirs)}},
                "stages": [
                    {
                        "name": "embed",
                        "operators": [{"name": embedder, "params": dict(embedder_params)}],
                    }
                ],
                "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
                "executor": {"batch_size": 256},
            },
            workers=workers,
            progress="off",
            overwrite=True,
        )
        rejected[label] = int(stats.get("rejected_records", 0))
        files = sorted(out.glob("part-*.parquet"))
        if not files:
            raise TrainHeadError(f"class `{label}`: no image in {', '.join(dirs)} was embedded")
        table = pa.concat_tables(pq.read_table(f) for f in files)
        if field is None:
            candidates = [
                f.name
                for f in table.schema
                if f.name not in _LOADER_COLUMNS
                and (pa.types.is_fixed_size_list(f.type) or pa.types.is_list(f.type))
            ]
            if len(candidates) != 1:
                raise TrainHeadError(
                    f"cannot tell which column {embedder} wrote (list columns: {candidates}); "
                    "pass --embedding-field"
                )
            field = candidates[0]
        table = table.sort_by("id")
        dim = _dim_of(table, field)
        batch = table.combine_chunks().to_batches()[0]
        matrix, rows, bad = eh.head_inputs(batch, field, dim, "train-head", "")
        row_ids = table.column("id").to_pylist()
        ids += [str(row_ids[i]) for i in rows]
        labels += [label] * len(rows)
        rejected[label] += len(bad)
        chunks.append(matrix)
    assert field is not None
    return ids, labels, np.concatenate(chunks, axis=0), field, rejected


def _dim_of(table, field: str) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    if field not in table.column_names:
        raise TrainHeadError(f"no `{field}` column (columns: {table.column_names})")
    kind = table.schema.field(field).type
    if pa.types.is_fixed_size_list(kind):
        return kind.list_size
    lengths = pc.list_value_length(table.column(field)).drop_null()
    if len(lengths) == 0:
        raise TrainHeadError(f"`{field}` has no embeddings")
    return int(pc.max(lengths).as_py())


def read_embeddings(path: Path, embedding_field: str, label_column: str):
    """ids, labels and the matrix from a Parquet file with an embedding and a label column."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise TrainHeadError(f"--embeddings {path}: no such file")
    table = pq.read_table(path)
    for col in (embedding_field, label_column):
        if col not in table.column_names:
            raise TrainHeadError(f"{path} has no `{col}` column (columns: {table.column_names})")
    if "id" not in table.column_names:
        import pyarrow as pa

        table = table.append_column("id", pa.array([f"{i:012d}" for i in range(len(table))]))
    dim = _dim_of(table, embedding_field)
    batch = table.combine_chunks().to_batches()[0]
    matrix, rows, _ = eh.head_inputs(batch, embedding_field, dim, "train-head", "")
    labels = [str(v) for v in table.column(label_column).to_pylist()]
    ids = table.column("id").to_pylist()
    return [str(ids[i]) for i in rows], [labels[i] for i in rows], matrix


def stratified_split(labels: list[str], holdout: float, seed: int):
    """Indices of the training and held-out rows: ``holdout`` of each class (at least one row,
    never the whole class), drawn with ``seed``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    train, held = [], []
    for label in sorted(set(labels)):
        rows = np.array([i for i, v in enumerate(labels) if v == label])
        rows = rows[rng.permutation(len(rows))]
        n_held = 0
        if holdout > 0 and len(rows) >= 2:
            n_held = min(max(1, round(holdout * len(rows))), len(rows) - 1)
        held += rows[:n_held].tolist()
        train += rows[n_held:].tolist()
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(held), dtype=np.int64)


def fit(
    x,
    y,
    num_classes: int,
    hidden_dims: list[int],
    dropout: float,
    max_iter: int,
    l2: float,
    seed: int,
):
    """Trains the mdf head: class-balanced cross-entropy plus ``l2``·Σw²/2 over the weight
    matrices, minimised full-batch with L-BFGS (strong-Wolfe line search), as linear probes on
    CLIP features are usually fitted. The standardisation takes the training rows'
    per-dimension mean and standard deviation. Deterministic for a given seed, on one CPU
    thread."""
    import numpy as np
    import torch

    was_deterministic = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    # One thread: the same float summation order on any machine (the saved bytes do not depend
    # on its core count), and on these small full-batch problems it is also the fastest.
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        model = eh.mlp_head(x.shape[1], hidden_dims, num_classes, dropout)
        with torch.no_grad():
            model.norm.mean.copy_(torch.from_numpy(x.mean(axis=0)))
            model.norm.std.copy_(torch.from_numpy(np.maximum(x.std(axis=0), 1e-6)))
        counts = np.bincount(y, minlength=num_classes).astype(np.float64)
        weights = len(y) / (num_classes * np.maximum(counts, 1.0))
        loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32))
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        yt = torch.from_numpy(y.astype(np.int64))
        matrices = [p for name, p in model.named_parameters() if name.endswith("weight")]
        opt = torch.optim.LBFGS(
            model.parameters(),
            lr=1.0,
            max_iter=max_iter,
            history_size=20,
            line_search_fn="strong_wolfe",
        )
        model.train()

        def closure():
            opt.zero_grad()
            loss = loss_fn(model(xt), yt) + 0.5 * l2 * sum((w * w).sum() for w in matrices)
            loss.backward()
            return loss

        opt.step(closure)
        return model.eval()
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(threads)


#: ``l2`` values tried when it is not given, on a validation split of the training rows.
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def choose_l2(x, y, labels, num_classes, hidden_dims, dropout, max_iter, seed):
    """The ``L2_GRID`` value with the best balanced accuracy (then lowest log loss) on a seeded
    stratified 25 % validation split of the training rows."""
    fit_rows, val_rows = stratified_split(labels, 0.25, seed + 1)
    if len(val_rows) == 0:
        return 1e-2, []
    tried = []
    for l2 in L2_GRID:
        model = fit(x[fit_rows], y[fit_rows], num_classes, hidden_dims, dropout, max_iter, l2, seed)
        m = evaluate(model, x[val_rows], y[val_rows], 0, num_classes)
        tried.append(
            {"l2": l2, "balanced_accuracy": m["balanced_accuracy"], "log_loss": m["log_loss"]}
        )
    best = max(tried, key=lambda t: (t["balanced_accuracy"], -t["log_loss"]))
    return best["l2"], tried


def evaluate(model, x, y, positive: int, num_classes: int) -> dict[str, Any]:
    """Accuracy, balanced accuracy, log loss and (two classes) ROC AUC of P(positive)."""
    import numpy as np

    if len(y) == 0:
        return {"n": 0}
    logits = eh.run_head(model, x, 4096)
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    pred = probs.argmax(axis=1)
    per_class = [float((pred[y == c] == c).mean()) for c in range(num_classes) if (y == c).any()]
    out: dict[str, Any] = {
        "n": int(len(y)),
        "accuracy": float((pred == y).mean()),
        "balanced_accuracy": float(np.mean(per_class)),
        "log_loss": float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0)).mean()),
    }
    if num_classes == 2 and 0 < (y == positive).sum() < len(y):
        out["roc_auc"] = roc_auc(probs[:, positive], y == positive)
    return out


def roc_auc(scores, is_positive) -> float:
    """The probability that a random positive outscores a random negative (ties count half)."""

    pos = scores[is_positive]
    neg = scores[~is_positive]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def train_head(
    output: str | Path | None = None,
    *,
    task: str | None = None,
    classes: dict[str, list[str]] | None = None,
    embeddings: str | Path | None = None,
    label_column: str = "label",
    positive_label: str | None = None,
    embedder: str | None = None,
    embedder_params: dict[str, Any] | None = None,
    embedding_field: str | None = None,
    hidden_dims: list[int] | None = None,
    dropout: float = 0.0,
    max_iter: int = 500,
    l2: float | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    workers: int | None = None,
) -> dict[str, Any]:
    """Fits and saves a head; returns its ``head.json`` contents (with the output directory
    under ``"path"``). ``classes`` maps a label to image folders; ``embeddings`` is a Parquet
    file with ``embedding_field`` and ``label_column`` instead. See ``mdf train-head --help``."""
    import numpy as np

    if task is not None and task not in TASKS:
        raise TrainHeadError(f"--task must be one of {sorted(TASKS)}, got {task!r}")
    head_name, default_embedder, default_params, task_labels = TASKS.get(
        task or "", (None, "image_clip_embedding_refiner", {}, None)
    )
    if output is None:
        if head_name is None:
            raise TrainHeadError("give --output (or --task to write to the default location)")
        output = eh.default_head_dir(head_name)
    if not (0.0 <= holdout < 1.0):
        raise TrainHeadError("--holdout must be in [0, 1)")
    if max_iter < 1 or (l2 is not None and not (l2 >= 0)):
        raise TrainHeadError("--max-iter must be positive and --l2 non-negative")
    started = time.time()
    if (classes is None) == (embeddings is None):
        raise TrainHeadError("give labelled image folders or --embeddings, not both or neither")
    embedding_info: dict[str, Any]
    rejected: dict[str, int] = {}
    if classes is not None:
        if len(classes) < 2:
            raise TrainHeadError(f"need at least two classes, got {sorted(classes)}")
        embedder = embedder or default_embedder
        params = dict(default_params if embedder == default_embedder else {})
        params.update(embedder_params or {})
        with tempfile.TemporaryDirectory(prefix="mdf-train-head-") as tmp:
            ids, labels, x, field, rejected = embed_folders(
                classes, embedder, params, embedding_field, workers, Path(tmp)
            )
        embedding_info = {"field": field, "operator": embedder, **params}
    else:
        if not embedding_field:
            raise TrainHeadError("--embeddings needs --embedding-field")
        ids, labels, x = read_embeddings(Path(embeddings), embedding_field, label_column)
        embedding_info = {"field": embedding_field, "source": str(embeddings)}
    label_names = sorted(set(labels))
    if task_labels and set(label_names) == {"positive", "negative"}:
        rename = {"negative": task_labels[0], "positive": task_labels[1]}
        labels = [rename[v] for v in labels]
        label_names = sorted(set(labels))
    if len(label_names) < 2:
        raise TrainHeadError(f"need examples of at least two labels, got {label_names}")
    if positive_label is None:
        positive_label = (
            task_labels[1] if task_labels and task_labels[1] in label_names else label_names[-1]
        )
    if positive_label not in label_names:
        raise TrainHeadError(f"--positive-label {positive_label!r} is not one of {label_names}")
    y = np.array([label_names.index(v) for v in labels], dtype=np.int64)
    x = eh.l2_normalize(x.astype(np.float32))
    train_rows, held_rows = stratified_split(labels, holdout, seed)
    hidden = list(hidden_dims or [])
    num_classes = len(label_names)
    x_train, y_train = x[train_rows], y[train_rows]
    tried: list[dict[str, float]] = []
    if l2 is None:
        train_labels = [labels[i] for i in train_rows]
        l2, tried = choose_l2(
            x_train, y_train, train_labels, num_classes, hidden, dropout, max_iter, seed
        )
    model = fit(x_train, y_train, num_classes, hidden, dropout, max_iter, l2, seed)
    positive = label_names.index(positive_label)
    metrics = {
        "held_out": evaluate(model, x[held_rows], y[held_rows], positive, num_classes),
        "train": evaluate(model, x_train, y_train, positive, num_classes),
        "examples": {name: int((y == i).sum()) for i, name in enumerate(label_names)},
        "images_rejected": rejected,
    }
    embedding_info["dim"] = int(x.shape[1])
    spec = eh.HeadSpec(
        input_dim=int(x.shape[1]),
        hidden_dims=hidden,
        dropout=dropout,
        labels=label_names,
        positive_label=positive_label,
        normalize_input=True,
        embedding=embedding_info,
        metrics=metrics,
        training={
            "seed": seed,
            "holdout": holdout,
            "optimizer": "L-BFGS (full batch, strong Wolfe)",
            "max_iter": max_iter,
            "loss": "class-balanced cross-entropy + l2/2 * sum of squared weights",
            "l2": l2,
            "l2_search": tried,
            "seconds": round(time.time() - started, 3),
            "held_out_ids_sha256": _ids_digest([ids[i] for i in held_rows]),
        },
        task=task or "",
    )
    out_dir = Path(output).expanduser()
    eh.save_mdf_head(out_dir, spec, model)
    result = spec.to_json()
    result["path"] = str(out_dir)
    return result


def _ids_digest(ids: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def classes_from_args(
    positive: list[str] | None, negative: list[str] | None, data: str | None
) -> dict[str, list[str]] | None:
    """``--positive/--negative`` folders, or the class subfolders of ``--data``."""
    if data and (positive or negative):
        raise TrainHeadError("give --data or --positive/--negative, not both")
    if data:
        root = Path(data)
        if not root.is_dir():
            raise TrainHeadError(f"--data {data} is not a directory")
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        return {p.name: [str(p)] for p in subdirs}
    if positive or negative:
        if not (positive and negative):
            raise TrainHeadError("--positive needs --negative (and the other way round)")
        return {"positive": list(positive), "negative": list(negative)}
    return None


def summary(result: dict[str, Any]) -> str:
    held = result["metrics"]["held_out"]
    parts = [f"head written to {result['path']}"]
    if held.get("n"):
        parts.append(
            f"held-out n={held['n']} accuracy={held['accuracy']:.3f} "
            f"balanced={held['balanced_accuracy']:.3f}"
            + (f" auc={held['roc_auc']:.3f}" if "roc_auc" in held else "")
        )
    parts.append(f"examples {json.dumps(result['metrics']['examples'])}")
    if not math.isfinite(held.get("log_loss", 0.0)):
        parts.append("warning: non-finite held-out loss")
    return "; ".join(parts)
