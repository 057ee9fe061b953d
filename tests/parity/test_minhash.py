"""MinHash dedup against datatrove 0.10.1: signatures bit for bit, the removed set of the full
4-stage pipeline (signature → buckets → cluster → filter), and removal rates per Jaccard bin
against the theoretical S-curve 1 - (1 - s^r)^b."""

from __future__ import annotations

import json
import math
import random
import sys
import types
from pathlib import Path

import pytest

from parity.common import run_mdf, write_jsonl


def _stub_tokenizers() -> None:
    """datatrove.pipeline.dedup imports its exact-substring step, which imports `tokenizers` at
    module level; MinHash never uses it. A stub stands in when the package is absent."""
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        stub = types.ModuleType("tokenizers")
        stub.Tokenizer = object
        processors = types.ModuleType("tokenizers.processors")
        processors.TemplateProcessing = object
        stub.processors = processors
        sys.modules["tokenizers"] = stub
        sys.modules["tokenizers.processors"] = processors


def _xxhash_takes_str() -> bool:
    """datatrove 0.10.1 hashes shingles with `xxhash.xxh64_intdigest(str)`, which recent xxhash
    releases refuse; without a compatible xxhash datatrove's MinHash cannot run."""
    try:
        import xxhash

        xxhash.xxh64_intdigest("a")
    except (ImportError, TypeError):
        return False
    return True


_stub_tokenizers()
if not _xxhash_takes_str():
    pytest.skip(
        "datatrove's MinHash needs an xxhash that hashes str (not installed)",
        allow_module_level=True,
    )
dt_minhash = pytest.importorskip("datatrove.pipeline.dedup.minhash")
native = pytest.importorskip("mega_data_factory._native")

BANDS, ROWS = 14, 8


def _vocab(rng: random.Random, n: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyzéèüñ"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(n)]


def _text(rng: random.Random, vocab: list[str], n: int) -> str:
    out = []
    for i in range(n):
        w = rng.choice(vocab)
        if rng.random() < 0.08:
            w = w.capitalize() + rng.choice([",", ".", "!", " 12", " 3.5", "—", "’s"])
        out.append(w)
        if i % 17 == 16:
            out.append("\n")
    return " ".join(out)


def _edit(rng: random.Random, vocab: list[str], text: str, rate: float) -> str:
    words = text.split(" ")
    return " ".join(rng.choice(vocab) if rng.random() < rate else w for w in words)


def corpus(seed: int = 7, clusters: int = 600, uniques: int = 1200) -> list[dict]:
    """Near-duplicate clusters (edits at rates 0–40 %, exact copies) and unique documents,
    shuffled; a few texts too short to have shingles."""
    rng = random.Random(seed)
    vocab = _vocab(rng, 3000)
    texts = []
    for _ in range(clusters):
        base = _text(rng, vocab, rng.randint(60, 250))
        texts.append(base)
        for _ in range(rng.randint(1, 3)):
            texts.append(_edit(rng, vocab, base, rng.choice([0.0, 0.02, 0.05, 0.1, 0.2, 0.4])))
    texts += [_text(rng, vocab, rng.randint(30, 250)) for _ in range(uniques)]
    texts += ["too short", "Four words only here"]
    rng.shuffle(texts)
    return [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)]


def datatrove_signature(step, text: str) -> list[int]:
    shingles = step.get_shingles(text)
    if shingles.size == 0:
        return []
    return [v for band in step.get_signature(shingles) for v in band]


def test_signatures_equal_datatrove(tmp_path):
    docs = corpus(clusters=200, uniques=400)
    step = dt_minhash.MinhashDedupSignature(output_folder=str(tmp_path / "sigs"))
    ours = native.minhash_signatures([d["text"] for d in docs], 5, BANDS * ROWS, 1)
    diffs = [
        d["id"]
        for d, o in zip(docs, ours, strict=True)
        if o != datatrove_signature(step, d["text"])
    ]
    print(f"signatures: {len(docs) - len(diffs)}/{len(docs)} identical")
    assert not diffs, diffs[:10]


def datatrove_kept(src: Path, work: Path) -> set[str]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    cfg = dt_minhash.MinhashConfig()
    runs = [
        (
            [
                JsonlReader(str(src)),
                dt_minhash.MinhashDedupSignature(str(work / "sigs"), config=cfg),
            ],
            1,
        ),
        (
            [dt_minhash.MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=cfg)],
            BANDS,
        ),
        ([dt_minhash.MinhashDedupCluster(str(work / "buckets"), str(work / "ids"), config=cfg)], 1),
        (
            [
                JsonlReader(str(src)),
                dt_minhash.MinhashDedupFilter(str(work / "ids")),
                JsonlWriter(str(work / "kept"), compression=None),
            ],
            1,
        ),
    ]
    for i, (pipeline, tasks) in enumerate(runs):
        LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=1, logging_dir=str(work / f"logs{i}")
        ).run()
    return {
        json.loads(line)["id"]
        for f in (work / "kept").glob("*.jsonl")
        for line in f.read_text(encoding="utf-8").splitlines()
        if line
    }


@pytest.fixture(scope="module")
def dt_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dt")
    docs = corpus()
    src = write_jsonl(tmp / "in" / "docs.jsonl", docs, compress=False)
    return docs, src, datatrove_kept(src.parent, tmp / "dt")


@pytest.mark.parametrize("keeper", ["datatrove", "first"])
def test_removed_set_agrees_with_datatrove_pipeline(tmp_path, dt_run, keeper):
    """Same clusters; with `keeper: datatrove` the same members are kept. With the default
    `first` keeper the removed set differs only by which member of a cluster stays."""
    docs, src, theirs = dt_run
    op = {"name": "minhash_deduplicator", "params": {"keeper": keeper}}
    kept, dropped = run_mdf(src, tmp_path / "out", [op], columns=["id"])
    assert len(kept) + len(dropped) == len(docs)
    agree = sum((d["id"] in kept) == (d["id"] in theirs) for d in docs)
    rate = agree / len(docs)
    print(
        f"minhash removed-set agreement (keeper {keeper}): {agree}/{len(docs)} = {rate:.4f} "
        f"(datatrove removed {len(docs) - len(theirs)}, mdf removed {len(dropped)})"
    )
    assert len(dropped) > 300
    assert len(dropped) == len(docs) - len(theirs)
    if keeper == "datatrove":
        assert rate >= 0.99


def test_removal_rate_follows_the_s_curve(tmp_path):
    """Isolated pairs (original, edited copy): the copy is removed iff the pair is a candidate,
    so per bin of true shingle Jaccard the removal rate must match the mean of
    1 - (1 - s^8)^14 within sampling error."""
    rng = random.Random(11)
    vocab = _vocab(rng, 50_000)
    step = dt_minhash.MinhashDedupSignature(output_folder=str(tmp_path / "sigs"))
    docs, pairs = [], []
    for i in range(1500):
        base = " ".join(rng.choice(vocab) for _ in range(rng.randint(150, 300)))
        copy = _edit(rng, vocab, base, rng.uniform(0.01, 0.12))
        a, b = set(step.get_shingles(base).ravel()), set(step.get_shingles(copy).ravel())
        pairs.append((f"b{i}", len(a & b) / len(a | b)))
        docs += [{"id": f"a{i}", "text": base}, {"id": f"b{i}", "text": copy}]
    src = write_jsonl(tmp_path / "in.jsonl", docs, compress=False)
    kept, _ = run_mdf(src, tmp_path / "out", [{"name": "minhash_deduplicator"}], columns=["id"])
    bins: dict[int, list] = {}
    for doc_id, s in pairs:
        bins.setdefault(int(s * 20), []).append((doc_id not in kept, 1 - (1 - s**ROWS) ** BANDS))
    checked = 0
    for b, rows in sorted(bins.items()):
        if len(rows) < 40:
            continue
        removed = sum(r for r, _ in rows) / len(rows)
        expected = sum(p for _, p in rows) / len(rows)
        sigma = math.sqrt(max(expected * (1 - expected), 0.01) / len(rows))
        print(
            f"Jaccard [{b / 20:.2f}, {(b + 1) / 20:.2f}): n={len(rows)} "
            f"removed={removed:.3f} theory={expected:.3f}"
        )
        assert abs(removed - expected) <= 4 * sigma + 0.01, (b, removed, expected)
        checked += 1
    assert checked >= 4
