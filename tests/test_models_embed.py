"""Model operators on tiny randomly initialised CLIP/SigLIP models saved in the real formats:
Rust preprocessing against the HF (PIL) image processors, each operator through YAML against the
same model run directly in PyTorch, rejects for bad images, and the errors a user meets (missing
or corrupt weights, CUDA not available, torch not installed)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from model_helpers import (
    CLIP_DIM,
    IMAGE_SIZE,
    SIGLIP_DIM,
    captions,
    clip_processor,
    make_tiny_clip,
    make_tiny_siglip,
    read_rows,
    sample_images,
    siglip_processor,
    write_parquet,
)

import mega_data_factory as mdf
from conftest import REPO, rejects_of, stats_of

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
Image = pytest.importorskip("PIL.Image")

from mega_data_factory import _native  # noqa: E402
from mega_data_factory.models.clip import hf_clip_name  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "clip": make_tiny_clip(root / "tiny-clip"),
        "siglip": make_tiny_siglip(root / "tiny-siglip"),
    }


def is_png(data: bytes) -> bool:
    return data.startswith(b"\x89PNG")


def run_yaml(tmp_path: Path, name: str, operators: list[dict], images, workers=1, **columns):
    """Writes the images (and extra columns) to parquet and a YAML config, runs it, returns
    (rows by id, stats, rejects)."""
    src = write_parquet(tmp_path / f"{name}-in" / "images.parquet", images, **columns)
    out = tmp_path / f"{name}-out"
    cfg = {
        "data_loader": {"type": "ParquetLoader", "params": {"paths": str(src)}},
        "stages": [{"name": "models", "operators": operators}],
        "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
        "executor": {"batch_size": 7},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    mdf.run(str(path), progress="off", workers=workers, overwrite=True)
    return {r["id"]: r for r in read_rows(out)}, stats_of(out), rejects_of(out), out


def reference_embeddings(model, processor, images, encode) -> np.ndarray:
    """The same model run directly: PIL image → HF processor → features → L2 norm."""
    pil = [Image.open(io.BytesIO(b)) for _, b in images]
    pixels = processor(images=pil, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = encode(pixel_values=pixels)
    vectors = out if isinstance(out, torch.Tensor) else out.pooler_output
    return torch.nn.functional.normalize(vectors.float(), dim=-1).numpy()


# ---- preprocessing --------------------------------------------------------------------------


@pytest.mark.parametrize("fit", ["clip", "squash"])
@pytest.mark.parametrize("size", [IMAGE_SIZE, 224])
def test_rust_preprocessing_matches_the_hf_image_processor(fit, size):
    """PNG: identical uint8 pixels (Pillow's bicubic reproduced, HF's crop offsets). JPEG: a
    different decoder (zune-jpeg vs libjpeg-turbo, chroma upsampling differs): mean < 0.6 levels,
    99th percentile <= 3, max <= 32."""
    proc_class = (
        getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
        if fit == "clip"
        else getattr(transformers, "SiglipImageProcessorPil", None)
        or transformers.SiglipImageProcessor
    )
    if fit == "clip":
        proc = proc_class(
            size={"shortest_edge": size},
            crop_size={"height": size, "width": size},
            do_rescale=False,
            do_normalize=False,
        )
    else:
        proc = proc_class(
            size={"height": size, "width": size}, do_rescale=False, do_normalize=False
        )
    images = sample_images(16, seed=3)
    batch = pa.record_batch({"image": pa.array([b for _, b in images], pa.binary())})
    pixels, rows, errors = _native.preprocess_images(batch, "image", size, fit, "bicubic", None, 2)
    assert rows == list(range(16)) and errors == []
    ours = np.frombuffer(bytes(pixels), np.uint8).reshape(16, size, size, 3).astype(np.int32)
    for i, (_, data) in enumerate(images):
        ref = proc(images=Image.open(io.BytesIO(data)), return_tensors="np")["pixel_values"][0]
        ref = np.rint(ref.transpose(1, 2, 0)).astype(np.int32)
        diff = np.abs(ours[i] - ref)
        if is_png(data):
            assert diff.max() == 0, f"image {i}: max diff {diff.max()}"
        else:
            # Measured on 48 such JPEGs: mean 0.43 levels, 99th percentile 2, max 24 (isolated
            # pixels of a 17x23 image upscaled to 224x224).
            p99 = np.percentile(diff, 99)
            assert diff.mean() < 0.6 and p99 <= 3 and diff.max() <= 32, (i, diff.max(), p99)


def test_bad_images_are_per_row_errors_not_zero_images():
    good = sample_images(2)
    values = [good[0][1], b"\xff\xd8\xff\xe0 truncated jpeg", None, b"plain text", good[1][1]]
    batch = pa.record_batch({"image": pa.array(values, pa.binary())})
    pixels, rows, errors = _native.preprocess_images(batch, "image", 16, "clip")
    assert rows == [0, 4]
    assert len(pixels) == 2 * 16 * 16 * 3
    reasons = dict(errors)
    assert sorted(reasons) == [1, 2, 3]
    assert reasons[2].startswith("missing_field")
    assert all(
        r.split(":")[0] in ("undecodable", "unsupported_format", "truncated", "bad_header", "empty")
        for r in (reasons[1], reasons[3])
    ), reasons


# ---- operators through YAML -----------------------------------------------------------------


def test_clip_embeddings_equal_pytorch_and_are_deterministic(tmp_path, models):
    images = sample_images(12)
    op = {
        "name": "image_clip_embedding_refiner",
        "params": {"model_name": str(models["clip"]), "inference_batch_size": 5, "device": "cpu"},
    }
    rows, stats, rejects, out = run_yaml(tmp_path, "clip", [op], images)
    column = "image_clip_emb_tiny_clip"
    assert not rejects and stats["output_records"] == 12
    schema = pa.parquet.read_schema(sorted(out.glob("part-*.parquet"))[0])
    assert schema.field(column).type == pa.list_(pa.float32(), CLIP_DIM)
    ours = np.array([rows[i][column] for i, _ in images], dtype=np.float32)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)

    model = transformers.CLIPModel.from_pretrained(str(models["clip"])).eval()
    ref = reference_embeddings(
        model, clip_processor(models["clip"]), images, model.get_image_features
    )
    for i, (_, data) in enumerate(images):
        if is_png(data):
            np.testing.assert_allclose(ours[i], ref[i], atol=1e-5)
        else:  # JPEG: a different decoder, pixels within a few levels
            assert float(ours[i] @ ref[i]) > 0.995

    # Deterministic: another run with other worker and batch counts gives the same vectors.
    again, *_ = run_yaml(tmp_path, "clip2", [op], images, workers=2)
    for i, _ in images:
        assert again[i][column] == rows[i][column]


def test_openclip_names_map_to_their_hf_conversions():
    assert hf_clip_name("ViT-L-14", "openai") == "openai/clip-vit-large-patch14"
    assert hf_clip_name("ViT-B-32", "openai") == "openai/clip-vit-base-patch32"
    assert hf_clip_name("org/some-clip", None) == "org/some-clip"
    with pytest.raises(mdf.ConfigError, match="no mapped Hugging Face conversion"):
        hf_clip_name("ViT-B-32", "datacomp_xl_s13b_b90k")


def test_siglip_embeddings_equal_pytorch(tmp_path, models):
    images = sample_images(9, seed=5)
    op = {
        "name": "image_siglip_embedding_refiner",
        "params": {
            "model_name": str(models["siglip"]),
            "feature_field_name": "emb",
            "inference_batch_size": 4,
            "device": "cpu",  # float32, to compare with the reference within 1e-5
        },
    }
    rows, stats, rejects, _ = run_yaml(tmp_path, "siglip", [op], images)
    assert not rejects
    ours = np.array([rows[i]["emb"] for i, _ in images], dtype=np.float32)
    assert ours.shape == (9, SIGLIP_DIM)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    model = transformers.SiglipModel.from_pretrained(str(models["siglip"])).eval()
    ref = reference_embeddings(
        model, siglip_processor(models["siglip"]), images, model.get_image_features
    )
    for i, (_, data) in enumerate(images):
        if is_png(data):
            np.testing.assert_allclose(ours[i], ref[i], atol=1e-5)
        else:
            assert float(ours[i] @ ref[i]) > 0.995


def test_auto_device_takes_the_gpu_when_there_is_one(tmp_path, models):
    """`device: auto` runs on CUDA when the machine has it (half precision by default: vectors
    close to the CPU's float32 ones, not equal) and on the CPU otherwise (the same vectors as
    `device: cpu`). On a GPU machine `device: cuda` with `use_fp16: false` is checked too."""
    images = sample_images(8, seed=11)
    column = "image_clip_emb_tiny_clip"

    def embed(name: str, **params) -> np.ndarray:
        params["model_name"] = str(models["clip"])
        op = {"name": "image_clip_embedding_refiner", "params": params}
        rows, _, rejects, _ = run_yaml(tmp_path, name, [op], images)
        assert not rejects
        return np.array([rows[i][column] for i, _ in images], dtype=np.float32)

    cpu, auto = embed("cpu", device="cpu"), embed("auto")
    if not torch.cuda.is_available():
        np.testing.assert_array_equal(auto, cpu)
        return
    assert not np.array_equal(auto, cpu), "auto did not run in half precision on the GPU"
    assert float((auto * cpu).sum(axis=1).min()) > 0.999
    full = embed("cuda32", device="cuda", use_fp16=False)
    assert float((full * cpu).sum(axis=1).min()) > 0.9999


def test_clip_score_is_the_cosine_and_min_score_filters(tmp_path, models):
    images = [im for im in sample_images(10, seed=7) if is_png(im[1])]
    texts = captions(len(images))
    model = transformers.CLIPModel.from_pretrained(str(models["clip"])).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(models["clip"]))
    img = reference_embeddings(
        model, clip_processor(models["clip"]), images, model.get_image_features
    )
    with torch.no_grad():
        t = model.get_text_features(**tok(texts, padding=True, return_tensors="pt"))
    txt = torch.nn.functional.normalize(
        (t if isinstance(t, torch.Tensor) else t.pooler_output).float(), dim=-1
    ).numpy()
    expected = (img * txt).sum(axis=1)
    threshold = float(np.median(expected))
    op = {
        "name": "image_text_clip_score",
        # float32 on the CPU, to compare with the reference within 1e-5
        "params": {"model_name": str(models["clip"]), "min_score": threshold, "device": "cpu"},
    }
    rows, stats, rejects, _ = run_yaml(tmp_path, "score", [op], images, text=texts)
    assert not rejects
    kept = {i for i, _ in images if expected[[j for j, _ in images].index(i)] >= threshold}
    assert set(rows) == kept
    for k, (i, _) in enumerate(images):
        if i in rows:
            assert rows[i]["clip_score"] == pytest.approx(expected[k], abs=1e-5)
    [score_op] = stats["operators"]
    assert score_op["dropped"] == {"clip_score_below_min": len(images) - len(kept)}
    assert stats["output_records"] == len(kept)


def test_clip_score_can_reuse_the_embedding_column(tmp_path, models):
    images = sample_images(6)
    texts = captions(6)
    clip = {"model_name": str(models["clip"])}
    direct, *_ = run_yaml(
        tmp_path, "direct", [{"name": "image_text_clip_score", "params": clip}], images, text=texts
    )
    ops = [
        {"name": "image_clip_embedding_refiner", "params": clip},
        {
            "name": "image_text_clip_score",
            "params": {**clip, "image_embedding_field": "image_clip_emb_tiny_clip"},
        },
    ]
    reused, *_ = run_yaml(tmp_path, "reused", ops, images, text=texts)
    for i, _ in images:
        assert reused[i]["clip_score"] == pytest.approx(direct[i]["clip_score"], abs=1e-6)


def test_long_captions_are_truncated_to_the_context(tmp_path, models):
    images = sample_images(2)
    long = " ".join(["word"] * 500)
    op = {"name": "image_text_clip_score", "params": {"model_name": str(models["clip"])}}
    rows, _, rejects, _ = run_yaml(tmp_path, "long", [op], images, text=[long, "short"])
    assert not rejects and all(-1.0 <= r["clip_score"] <= 1.0 for r in rows.values())


def test_bad_images_and_captions_are_counted_rejects(tmp_path, models):
    images = sample_images(4)
    images.insert(1, ("corrupt", b"\x89PNG\r\n\x1a\n garbage"))
    images.insert(3, ("null", None))
    texts = captions(len(images))
    texts[4] = None
    ops = [
        {"name": "image_clip_embedding_refiner", "params": {"model_name": str(models["clip"])}},
        {"name": "image_text_clip_score", "params": {"model_name": str(models["clip"])}},
    ]
    rows, stats, rejects, _ = run_yaml(tmp_path, "bad", ops, images, text=texts)
    assert "corrupt" not in rows and "null" not in rows
    assert len(rows) == len(images) - 3
    assert all(r["image_clip_emb_tiny_clip"] is not None for r in rows.values())
    assert stats["rejected_records"] == 3
    reasons = sorted(r["reason"] for r in rejects)
    assert len(reasons) == 3, rejects
    assert reasons.count("missing_field") == 2, reasons  # the null image, the null caption
    assert set(reasons) - {"missing_field"} <= {"undecodable", "truncated", "bad_header"}, reasons


# ---- errors ---------------------------------------------------------------------------------


def config_with(op: dict, tmp_path: Path) -> dict:
    src = write_parquet(tmp_path / "in" / "images.parquet", sample_images(2))
    return {
        "data_loader": {"type": "ParquetLoader", "params": {"paths": str(src)}},
        "stages": [{"name": "models", "operators": [op]}],
        "data_writer": {
            "type": "ParquetDataWriter",
            "params": {"output_path": str(tmp_path / "o")},
        },
    }


def test_missing_weights_name_what_to_download(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-model"
    op = {"name": "image_clip_embedding_refiner", "params": {"model_name": str(missing)}}
    with pytest.raises(mdf.ConfigError, match="no such directory"):
        mdf.validate(config_with(op, tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    op = {"name": "image_siglip_embedding_refiner", "params": {"model_name": "mdf-test/absent"}}
    with pytest.raises(mdf.ConfigError) as err:
        mdf.validate(config_with(op, tmp_path))
    text = str(err.value)
    assert "hf download mdf-test/absent" in text and "Hugging Face cache" in text


def test_corrupt_checkpoint_stops_the_run_with_a_clear_error(tmp_path, models):
    broken = tmp_path / "broken-clip"
    shutil.copytree(models["clip"], broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    op = {"name": "image_clip_embedding_refiner", "params": {"model_name": str(broken)}}
    with pytest.raises(mdf.ConfigError, match="corrupt"):
        mdf.run(config_with(op, tmp_path), progress="off")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_cuda_is_an_error_not_a_fallback(tmp_path, models):
    op = {
        "name": "image_clip_embedding_refiner",
        "params": {"model_name": str(models["clip"]), "device": "cuda"},
    }
    with pytest.raises(mdf.ConfigError, match="CUDA is not available"):
        mdf.run(config_with(op, tmp_path), progress="off")


def test_bad_params_fail_at_validate(tmp_path, models):
    for params, message in [
        ({"device": "gpu"}, "device must be"),
        ({"inference_batch_size": 0}, "inference_batch_size"),
        ({"half_precision": "int8"}, "half_precision"),
    ]:
        op = {
            "name": "image_clip_embedding_refiner",
            "params": {"model_name": str(models["clip"]), **params},
        }
        with pytest.raises(mdf.ConfigError, match=message):
            mdf.validate(config_with(op, tmp_path))


def test_model_operators_are_listed_and_described():
    names = {c["name"] for c in mdf.list_components()}
    assert {
        "image_clip_embedding_refiner",
        "image_siglip_embedding_refiner",
        "image_text_clip_score",
    } <= names
    props = mdf.describe("image_clip_embedding_refiner")["params_schema"]["properties"]
    assert props["model_name"]["default"] == "ViT-B-32"
    assert props["inference_batch_size"]["default"] == 32
    assert "float32" in props["use_fp16"]["description"]


def test_without_torch_names_are_known_and_building_says_what_to_install(tmp_path):
    """A subprocess where importing torch fails."""
    cfg = config_with({"name": "image_clip_embedding_refiner"}, tmp_path)
    code = f"""
import sys, json
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'transformers'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import mega_data_factory as mdf
names = {{c['name'] for c in mdf.list_components()}}
assert 'image_text_clip_score' in names, names
try:
    mdf.validate(json.loads({json.dumps(json.dumps(cfg))}))
except mdf.ConfigError as e:
    print('ERROR', e)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=os.environ
    )
    assert out.returncode == 0, out.stderr
    assert "pip install 'mega-data-factory[models]'" in out.stdout


def test_embedding_column_helpers_round_trip_with_nulls_and_bad_rows():
    from mega_data_factory.models import embedding_column, read_embeddings, scores_column

    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    column = embedding_column(vectors, [0, 2, 3], 4)
    assert column.type == pa.list_(pa.float32(), 2)
    assert column.to_pylist() == [[0.0, 1.0], None, [2.0, 3.0], [4.0, 5.0]]
    batch = pa.record_batch({"e": column})
    matrix, rows, rejects = read_embeddings(batch, "e", 2)
    assert rows == [0, 2, 3] and matrix.flags.writeable
    np.testing.assert_array_equal(matrix, vectors)
    assert [(r, m.split(":")[0]) for r, m in rejects] == [(1, "missing_field")]
    _, rows, rejects = read_embeddings(batch, "e", 3)
    assert rows == [] and {m.split(":")[0] for _, m in rejects} == {
        "missing_field",
        "wrong_dimension",
    }
    full = pa.record_batch({"e": embedding_column(vectors, [0, 1, 2], 3)})
    matrix, rows, rejects = read_embeddings(full, "e")
    assert rows == [0, 1, 2] and not rejects and matrix.flags.writeable
    _, rows, rejects = read_embeddings(full, "absent")
    assert rows == [] and len(rejects) == 3
    assert scores_column(np.array([0.5]), [1], 2).to_pylist() == [None, 0.5]


def test_model_loads_on_first_batch_once_per_process(tmp_path, models):
    """Validation (the driver's build) loads no weights; in a run, two operators on the same
    weights share one loaded model."""
    from mega_data_factory.models import base

    base.clear_model_cache()
    clip = {"model_name": str(models["clip"])}
    ops = [
        {"name": "image_clip_embedding_refiner", "params": clip},
        {"name": "image_text_clip_score", "params": clip},
    ]
    cfg = config_with(ops[0], tmp_path)
    cfg["stages"][0]["operators"] = ops
    mdf.validate(cfg)
    assert not base._MODELS
    images = sample_images(8)
    run_yaml(tmp_path, "shared", ops, images, workers=2, text=captions(8))
    clip_models = [k for k in base._MODELS if k[0].endswith(".clip") and k[1] == clip["model_name"]]
    assert len(clip_models) == 1, list(base._MODELS)
