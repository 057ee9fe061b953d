"""Heads on embedding columns through YAML: the LAION aesthetic predictor, LAION's NSFW detector
(PyTorch port), trained mdf heads (AI-generated, watermark) and ``mdf train-head``.

Weights are random but saved in the real formats (``torch.save`` state dicts with the original
key names, mdf heads written by ``mdf train-head``), and each score is compared with the same
network written out independently here and run directly in PyTorch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf
from conftest import rejects_of, stats_of

torch = pytest.importorskip("torch")
nn = torch.nn

CLIP_L14 = "image_clip_emb_vit_l_14"


def reference_aesthetic_mlp() -> nn.Module:
    """improved-aesthetic-predictor's MLP as its simple_inference.py defines it."""

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(
                nn.Linear(768, 1024),
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

    return MLP()


def reference_nsfw_mlp() -> nn.Module:
    """The PyTorch port of LAION's AutoKeras NSFW detector (L/14)."""

    class Normalization(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.zeros(768))
            self.register_buffer("variance", torch.ones(768))

        def forward(self, x):
            return (x - self.mean) / self.variance.sqrt()

    class NSFWModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = Normalization()
            self.linear_1 = nn.Linear(768, 64)
            self.linear_2 = nn.Linear(64, 512)
            self.linear_3 = nn.Linear(512, 256)
            self.linear_4 = nn.Linear(256, 1)

        def forward(self, x):
            x = self.norm(x)
            x = torch.relu(self.linear_1(x))
            x = torch.relu(self.linear_2(x))
            x = torch.relu(self.linear_3(x))
            return torch.sigmoid(self.linear_4(x))

    return NSFWModel()


def normalized(a: np.ndarray) -> np.ndarray:
    """The LAION predictors' ``normalized()``: L2 per row, zero rows left alone."""
    l2 = np.atleast_1d(np.linalg.norm(a, 2, -1))
    l2[l2 == 0] = 1
    return a / np.expand_dims(l2, -1)


def embeddings(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Un-normalised vectors with a varying norm (the operator must normalise them)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, dim)) * rng.uniform(0.5, 20, size=(n, 1))).astype(np.float32)


def write_embeddings(path, columns: dict[str, np.ndarray | list], nulls=()) -> None:
    arrays = {}
    for name, value in columns.items():
        if isinstance(value, np.ndarray) and value.ndim == 2:
            n, dim = value.shape
            mask = np.zeros(n, dtype=bool)
            mask[list(nulls)] = True
            flat = pa.array(value.ravel(), pa.float32())
            arrays[name] = pa.FixedSizeListArray.from_arrays(flat, dim, mask=pa.array(mask))
        else:
            arrays[name] = pa.array(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(arrays), path, row_group_size=64)


def run(tmp_path, operators: list[dict], name: str = "out", batch_size: int = 32):
    out = tmp_path / name
    cfg = {
        "data_loader": {"type": "ParquetLoader", "params": {"paths": str(tmp_path / "in")}},
        "stages": [{"name": "score", "operators": operators}],
        "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
        "executor": {"batch_size": batch_size},
    }
    mdf.run(cfg, progress="off", workers=2)
    tables = [pq.read_table(f) for f in sorted(out.glob("part-*.parquet"))]
    table = (
        pa.concat_tables(tables).sort_by("id")
        if tables
        else pa.table({"id": pa.array([], pa.string())})
    )
    return table, stats_of(out), rejects_of(out)


def op_stats(stats: dict, name: str) -> dict:
    return next(o for o in stats["operators"] if o["name"] == name)


@pytest.fixture
def aesthetic_weights(tmp_path):
    torch.manual_seed(1)
    model = reference_aesthetic_mlp()
    path = tmp_path / "weights" / "sac+logos+ava1-l14-linearMSE.pth"
    path.parent.mkdir()
    torch.save(model.state_dict(), path)
    return path, model.eval()


def test_aesthetic_scores_equal_the_predictor_run_directly(tmp_path, aesthetic_weights):
    path, model = aesthetic_weights
    x = embeddings(150, 768)
    ids = [f"r{i:04d}" for i in range(150)]
    write_embeddings(tmp_path / "in" / "e.parquet", {"id": ids, CLIP_L14: x}, nulls=[7, 99])
    table, stats, rejects = run(
        tmp_path, [{"name": "image_aesthetic_quality_refiner", "params": {"model_path": str(path)}}]
    )
    # Rows without an embedding are rejected with a reason, never scored 0.
    assert table.num_rows == 148
    assert sorted(r["record"]["id"] for r in rejects) == ["r0007", "r0099"]
    assert all(r["reason"] == "missing_field" for r in rejects), rejects
    with torch.no_grad():
        expected = model(torch.from_numpy(normalized(x))).numpy()[:, 0]
    got = table.column("image_aesthetic_score").to_numpy(zero_copy_only=False)
    valid = np.ones(150, dtype=bool)
    valid[[7, 99]] = False
    np.testing.assert_allclose(got, expected[valid], rtol=1e-5, atol=1e-5)
    # Un-normalised input would give other scores: the operator really normalises.
    with torch.no_grad():
        raw = model(torch.from_numpy(x)).numpy()[:, 0]
    assert np.abs(raw[valid] - got).max() > 1e-2
    # The column carries its scale, model and weights checksum (spec §0.1).
    meta = table.schema.field("image_aesthetic_score").metadata or {}
    assert meta.get(b"mdf.scale") == b"aesthetic@laion-v2:1-10"
    assert meta.get(b"mdf.model") == b"sac+logos+ava1-l14-linearMSE"
    assert len(meta.get(b"mdf.weights_sha256", b"")) == 64


def test_aesthetic_min_score_names_its_scale(tmp_path, aesthetic_weights):
    path, model = aesthetic_weights
    x = embeddings(100, 768, seed=3)
    write_embeddings(
        tmp_path / "in" / "e.parquet", {"id": [f"r{i:03d}" for i in range(100)], CLIP_L14: x}
    )
    with torch.no_grad():
        scores = model(torch.from_numpy(normalized(x))).numpy()[:, 0]
    # Random weights give scores around 0; pick cut points inside the distribution.
    raw_cut = float(np.quantile(scores, 0.4))
    params = {"model_path": str(path), "min_score": raw_cut * 1.0}
    if raw_cut < 1.0:
        # The raw 1–10 scale refuses thresholds below 1 (they look like 0–1 thresholds), so
        # shift the weights' output bias to put the scores on the real scale.
        state = torch.load(path, weights_only=True)
        state["layers.7.bias"] += 5.0
        torch.save(state, path)
        scores = scores + 5.0
        raw_cut += 5.0
        params["min_score"] = raw_cut
    table, stats, _ = run(
        tmp_path, [{"name": "image_aesthetic_quality_refiner", "params": params}], name="raw"
    )
    assert table.num_rows == int((scores >= np.float32(raw_cut)).sum())
    assert op_stats(stats, "image_aesthetic_quality_refiner")["dropped"] == {
        "aesthetic_below_min": 100 - table.num_rows
    }
    # The same cut written on the 0–1 scale (raw / 10), declared as such, keeps the same rows.
    unit = dict(params, min_score=raw_cut / 10, score_scale="unit_0_1")
    table_unit, _, _ = run(
        tmp_path, [{"name": "image_aesthetic_quality_refiner", "params": unit}], name="unit"
    )
    assert abs(table_unit.num_rows - table.num_rows) <= 1  # float rounding of raw_cut / 10 * 10
    # An undeclared 0–1 threshold is a config error, not a filter that keeps everything.
    bad = dict(params, min_score=0.5)
    with pytest.raises(mdf.ConfigError, match="0–1"):
        mdf.validate(
            config_for(tmp_path, [{"name": "image_aesthetic_quality_refiner", "params": bad}])
        )


def config_for(tmp_path, operators):
    return {
        "data_loader": {"type": "ParquetLoader", "params": {"paths": str(tmp_path / "in")}},
        "stages": [{"name": "score", "operators": operators}],
        "data_writer": {
            "type": "ParquetDataWriter",
            "params": {"output_path": str(tmp_path / "o")},
        },
    }


def test_missing_corrupt_and_foreign_weights_are_config_errors(tmp_path, monkeypatch):
    write_embeddings(tmp_path / "in" / "e.parquet", {"id": ["a"], CLIP_L14: embeddings(1, 768)})
    monkeypatch.setenv("MDF_HOME", str(tmp_path / "mdf-home"))
    op = "image_aesthetic_quality_refiner"
    with pytest.raises(
        mdf.ConfigError,
        match=r"sac\+logos\+ava1-l14-linearMSE\.pth.*not found.*Download https://github.com/christophschuhmann",
    ):
        mdf.validate(config_for(tmp_path, [{"name": op}]))
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(os.urandom(4096))
    with pytest.raises(mdf.ConfigError, match="cannot read .*corrupt.pth"):
        mdf.validate(config_for(tmp_path, [{"name": op, "params": {"model_path": str(corrupt)}}]))
    truncated = tmp_path / "truncated.pth"
    torch.save(reference_aesthetic_mlp().state_dict(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:100_000])
    with pytest.raises(mdf.ConfigError, match="cannot read"):
        mdf.validate(config_for(tmp_path, [{"name": op, "params": {"model_path": str(truncated)}}]))
    foreign = tmp_path / "nsfw.pth"
    torch.save(reference_nsfw_mlp().state_dict(), foreign)
    with pytest.raises(mdf.ConfigError, match="not this model's state dict"):
        mdf.validate(config_for(tmp_path, [{"name": op, "params": {"model_path": str(foreign)}}]))
    nan = tmp_path / "nan.pth"
    state = reference_aesthetic_mlp().state_dict()
    state["layers.0.weight"][0, 0] = float("nan")
    torch.save(state, nan)
    with pytest.raises(mdf.ConfigError, match="NaN"):
        mdf.validate(config_for(tmp_path, [{"name": op, "params": {"model_path": str(nan)}}]))
    with pytest.raises(mdf.ConfigError, match=r"clip_autokeras_binary_nsfw\.pth.*not found"):
        mdf.validate(config_for(tmp_path, [{"name": "image_nsfw_refiner"}]))
    with pytest.raises(mdf.ConfigError, match="mdf train-head --task aigc"):
        mdf.validate(config_for(tmp_path, [{"name": "image_aigc_detector_refiner"}]))


def test_wrong_or_missing_embedding_stops_the_run_with_a_clear_error(tmp_path, aesthetic_weights):
    path, _ = aesthetic_weights
    write_embeddings(
        tmp_path / "in" / "e.parquet",
        {"id": ["a", "b"], CLIP_L14: embeddings(2, 512)},  # a ViT-B/32 vector
    )
    op = {"name": "image_aesthetic_quality_refiner", "params": {"model_path": str(path)}}
    with pytest.raises(mdf.ConfigError, match="512-d vectors but this head takes 768-d.*ViT-L-14"):
        run(tmp_path, [op])
    missing = {"name": op["name"], "params": {**op["params"], "embedding_field": "nope"}}
    with pytest.raises(mdf.ConfigError, match="no `nope` column.*image_clip_embedding_refiner"):
        run(tmp_path, [missing], name="missing")


def test_laion_nsfw_port_equals_the_module_run_directly(tmp_path):
    torch.manual_seed(2)
    model = reference_nsfw_mlp()
    with torch.no_grad():
        model.norm.mean.normal_(0, 0.01)
        model.norm.variance.uniform_(0.0005, 0.002)
    path = tmp_path / "clip_autokeras_binary_nsfw.pth"
    torch.save(model.state_dict(), path)
    x = embeddings(80, 768, seed=5)
    write_embeddings(
        tmp_path / "in" / "e.parquet", {"id": [f"r{i:03d}" for i in range(80)], CLIP_L14: x}
    )
    params = {"model_path": str(path), "output_field": "punsafe", "remove_flagged": True}
    table, stats, _ = run(tmp_path, [{"name": "image_nsfw_refiner", "params": params}])
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(normalized(x))).numpy()[:, 0]
    kept = expected < 0.5
    assert 0 < kept.sum() < 80, "random weights should put rows on both sides of 0.5"
    ids = [f"r{i:03d}" for i in np.flatnonzero(kept)]
    assert table.column("id").to_pylist() == ids
    np.testing.assert_allclose(
        table.column("punsafe").to_numpy(), expected[kept], rtol=1e-5, atol=1e-6
    )
    assert table.column("image_is_nsfw").to_pylist() == [False] * len(ids)
    assert op_stats(stats, "image_nsfw_refiner")["dropped"] == {"nsfw": int((~kept).sum())}


def separable_embeddings(n: int, dim: int, seed: int):
    """Two classes that differ along a few directions, plus noise in every dimension."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, dim)).astype(np.float32)
    x[:, :4] += (2 * y[:, None] - 1) * 1.5
    return x, y


def test_train_head_on_embeddings_then_score_through_yaml(tmp_path):
    x, y = separable_embeddings(240, 64, seed=7)
    labels = np.where(y == 1, "aigc", "real").tolist()
    src = tmp_path / "train.parquet"
    write_embeddings(src, {"emb": x, "label": labels})
    head = tmp_path / "head"
    cmd = [
        sys.executable,
        "-m",
        "mega_data_factory.cli",
        "train-head",
        "--task",
        "aigc",
        "--embeddings",
        str(src),
        "--embedding-field",
        "emb",
        "--max-iter",
        "100",
        "-o",
        str(head),
        "--json",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    meta = json.loads(r.stdout)
    held = meta["metrics"]["held_out"]
    assert held["n"] == 48 and held["accuracy"] >= 0.9, held
    assert meta["labels"] == ["aigc", "real"] and meta["positive_label"] == "aigc"
    assert meta["embedding"]["field"] == "emb" and meta["embedding"]["dim"] == 64
    # Deterministic: the same seed gives the same bytes; another seed other weights.
    again = tmp_path / "again"
    subprocess.run([*cmd[:-3], "-o", str(again)], capture_output=True, check=True)
    weights = (head / "model.safetensors").read_bytes()
    assert (again / "model.safetensors").read_bytes() == weights
    other = tmp_path / "other"
    subprocess.run([*cmd[:-3], "-o", str(other), "--seed", "1"], capture_output=True, check=True)
    assert (other / "model.safetensors").read_bytes() != weights

    # The operator reads the head and scores the column the head was trained on.
    xt, yt = separable_embeddings(90, 64, seed=8)
    write_embeddings(
        tmp_path / "in" / "e.parquet", {"id": [f"r{i:03d}" for i in range(90)], "emb": xt}
    )
    table, _, rejects = run(
        tmp_path,
        [
            {
                "name": "image_aigc_detector_refiner",
                "params": {"model_path": str(head), "threshold": 0.5},
            }
        ],
    )
    assert not rejects
    from safetensors.torch import load_file

    state = load_file(head / "model.safetensors")
    w, b = state["layers.0.weight"], state["layers.0.bias"]
    z = (torch.from_numpy(normalized(xt)) - state["norm.mean"]) / state["norm.std"]
    probs = torch.softmax(z @ w.T + b, dim=1)[:, meta["labels"].index("aigc")].numpy()
    got = table.column("image_aigc_score").to_numpy()
    np.testing.assert_allclose(got, probs, rtol=1e-4, atol=1e-5)
    assert table.column("image_is_aigc").to_pylist() == (probs >= 0.5).tolist()
    accuracy = ((got >= 0.5) == (yt == 1)).mean()
    assert accuracy >= 0.9


def test_a_head_refuses_another_models_embedding(tmp_path):
    x, y = separable_embeddings(60, 32, seed=1)
    src = tmp_path / "train.parquet"
    write_embeddings(src, {"emb": x, "label": np.where(y == 1, "watermark", "clean").tolist()})
    from mega_data_factory.models.train_head import train_head

    head = tmp_path / "wm"
    train_head(head, task="watermark", embeddings=src, embedding_field="emb", max_iter=50, l2=0.1)
    write_embeddings(tmp_path / "in" / "e.parquet", {"id": ["a", "b"], "emb": embeddings(2, 48)})
    op = {"name": "image_watermark_refiner", "params": {"model_path": str(head)}}
    with pytest.raises(mdf.ConfigError, match="48-d vectors but this head takes 32-d"):
        run(tmp_path, [op])
