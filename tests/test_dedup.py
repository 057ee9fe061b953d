"""Dedup through the Python front: `mdf dedup-plan`, exact dedup keeping the first copy with 1
and 2 workers, and a SIGKILL in a dedup phase followed by a resume."""

from __future__ import annotations

import json
import os
import signal
import time

import pyarrow.parquet as pq
import pytest
from test_cli import mdf
from test_kill_resume import _run_cli

import mega_data_factory as api
from conftest import REPO, config, output_files, stats_of, write_jsonl


def test_dedup_plan_prints_the_s_curve_and_phase_sizes():
    out = mdf("dedup-plan", "--docs", "10000000", "--partitions", "64")
    assert out.returncode == 0, out.stderr
    assert "0.80    0.9235" in out.stdout  # 1 - (1 - 0.8^8)^14
    for phase in ("keys", "group", "merge", "filter"):
        assert phase in out.stdout
    exact = mdf("dedup-plan", "--docs", "100000000", "--method", "exact")
    assert exact.returncode == 0 and "merge" not in exact.stdout
    assert "pieces" not in exact.stdout  # 100M x 76 B / 64 partitions fits in 1024 MiB
    # 10M MinHash docs in one partition: 14 x 76 B x 10M = 9.9 GiB, split into 10 pieces.
    split = mdf("dedup-plan", "--docs", "10000000", "--partitions", "1")
    assert "split into 10 pieces" in split.stdout, split.stdout
    verified = mdf("dedup-plan", "--docs", "1000", "--jaccard-threshold", "0.7")
    assert verified.returncode == 0, verified.stderr
    assert "set files (6,676 B per document)" in verified.stdout  # 12 + 8 × 5000 / 6
    assert "set files" not in out.stdout


def test_exact_dedup_keeps_first_copy_whatever_the_worker_count(tmp_path):
    records = [
        {"id": f"d{i}", "text": f"Text  number {i % 37}" if i % 2 else f"text number {i % 37}"}
        for i in range(300)
    ]
    for i in range(3):
        write_jsonl(tmp_path / "in" / f"{i}.jsonl", records[i * 100 : (i + 1) * 100])
    kept = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        cfg = {
            "data_loader": {"type": "JsonlLoader", "params": {"paths": str(tmp_path / "in")}},
            "stages": [{"name": "d", "operators": [{"name": "text_exact_deduplicator"}]}],
            "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
        }
        stats = api.run(cfg, workers=workers, progress="off")
        assert stats["output_records"] == 37
        kept.append(
            [
                r["id"]
                for f in sorted(out.glob("part-*.parquet"))
                for r in pq.read_table(f).to_pylist()
            ]
        )
    assert kept[0] == kept[1] == [f"d{i}" for i in range(37)]


@pytest.mark.parametrize("where", ["keys", "final"])
def test_sigkill_in_a_dedup_phase_then_resume_gives_identical_output(tmp_path, where):
    """Killed while the shards' keys are extracted (slow operator before the dedup) or while the
    output is written (slow operator after it): the resumed run keeps exactly the same rows."""
    for f in range(8):
        recs = [{"id": f"d{f}-{i}", "text": f"Text {(f * 150 + i) % 700} here"} for i in range(150)]
        write_jsonl(tmp_path / "in" / f"{f:02d}.jsonl", recs)
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests"), "MDF_TEST_SLEEP": "0.1"}
    dedup = {"name": "text_exact_deduplicator", "params": {"num_partitions": 4}}
    ops = [{"name": "slow_pass"}, dedup] if where == "keys" else [dedup, {"name": "slow_pass"}]
    cfgs = {}
    for name in ("reference", "killed"):
        cfg = config(
            tmp_path / "in",
            tmp_path / name,
            operators=ops,
            imports=["user_ops.my_filters"],
            executor={"batch_size": 50},
        )
        cfgs[name] = tmp_path / f"{name}.json"
        cfgs[name].write_text(json.dumps(cfg))
    ref = _run_cli(cfgs["reference"], env)
    assert ref.wait(timeout=600) == 0, ref.stderr.read()

    marker_dir = tmp_path / "killed" / "_mdf" / ("global/g00/done" if where == "keys" else "done")
    proc = _run_cli(cfgs["killed"], env)

    def markers() -> int:
        return sum(1 for p in marker_dir.glob("*") if not p.name.startswith("."))

    deadline = time.time() + 300
    while time.time() < deadline and markers() < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < markers() < 8, f"kill landed at {markers()} tasks: not mid-phase"

    resumed = _run_cli(cfgs["killed"], env)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert output_files(tmp_path / "killed") == output_files(tmp_path / "reference")
    assert stats_of(tmp_path / "killed")["output_records"] == 700


def test_dedup_plan_sizes_the_bloom_filter():
    out = mdf("dedup-plan", "--method", "bloom", "--docs", "1000000", "--ngrams-per-doc", "500")
    assert out.returncode == 0, out.stderr
    # 5e8 n-grams at 1 %: 9.59 bits each, 7 hash functions (BFF's sizing).
    assert "9.59 bits per n-gram" in out.stdout and "7 hash functions" in out.stdout


def _bff_reference(docs: list[tuple[str, str]], n: int = 13, threshold: float = 0.8) -> dict:
    """BFF `old_both` with an exact set of n-grams instead of a Bloom filter. The generated
    texts are single-space-separated alphanumeric words, so BFF's UAX #29 tokens are the words."""
    seen: set[tuple[str, ...]] = set()
    kept = {}
    for doc_id, text in docs:
        cuts = [0, *[i for i, c in enumerate(text) if c == "\n"], len(text)]
        contained_all = total_all = 0
        out = []
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            words = text[a:b].split()
            grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
            contained = sum(g in seen for g in grams)
            contained_all += contained
            total_all += len(grams)
            if grams and contained / len(grams) > threshold:
                continue
            seen.update(grams)
            out.append(text[a:b])
        whole = total_all > 0 and contained_all / total_all > threshold
        if not whole and "".join(out).strip():
            kept[doc_id] = "".join(out)
    return kept


def test_bloom_dedup_agrees_with_an_exact_bff_simulation_for_1_and_2_workers(tmp_path):
    import random

    rng = random.Random(3)
    pool = [
        " ".join(f"w{rng.randrange(3000)}" for _ in range(rng.randint(14, 60))) for _ in range(30)
    ]
    docs = []
    for i in range(600):
        if i > 20 and rng.random() < 0.1:
            text = rng.choice(docs)[1]
        else:
            parts = [
                rng.choice(pool)
                if rng.random() < 0.5
                else " ".join(f"v{rng.randrange(10**6)}" for _ in range(rng.randint(5, 50)))
                for _ in range(rng.randint(1, 5))
            ]
            text = "\n".join(parts)
        docs.append((f"d{i}", text))
    for f in range(3):
        write_jsonl(
            tmp_path / "in" / f"{f}.jsonl",
            [{"id": d, "text": t} for d, t in docs[f * 200 : (f + 1) * 200]],
        )
    expected = _bff_reference(docs)
    assert (
        100 < len(docs) - len(expected)
        and sum(expected.get(d, t) != t for d, t in docs if d in expected) > 50
    )
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        cfg = {
            "data_loader": {"type": "JsonlLoader", "params": {"paths": str(tmp_path / "in")}},
            "stages": [{"name": "d", "operators": [{"name": "bloom_deduplicator"}]}],
            "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
        }
        stats = api.run(cfg, workers=workers, progress="off")
        op = stats["operators"][0]
        assert op["counters"]["documents_removed"] == sum(op["dropped"].values())
        assert op["counters"]["paragraphs_removed"] > 0
        outputs.append(
            {
                r["id"]: r["text"]
                for f in sorted(out.glob("part-*.parquet"))
                for r in pq.read_table(f).to_pylist()
            }
        )
    assert outputs[0] == outputs[1]
    # 1 % FP per n-gram: a paragraph flips only if > 80 % of its n-grams are false positives.
    differing = [d for d in set(outputs[0]) | set(expected) if outputs[0].get(d) != expected.get(d)]
    assert len(differing) <= 3, differing


def test_minhash_jaccard_threshold_keeps_lsh_false_positives(tmp_path):
    """A loose LSH (20 bands of 1 hash) makes pairs at Jaccard ≈ 0.3 candidates; with
    `jaccard_threshold: 0.7` they stay, while exact copies and one-word edits go."""

    def words(seed: int, n: int = 60) -> list[str]:
        # Letters only: the text is simplified before shingling, digits become 0.
        def word(k: int) -> str:
            return "".join(chr(97 + (k // 26**p) % 26) for p in range(4))

        return [word(seed * 1000 + i) for i in range(n)]

    records = []
    for i in range(10):
        original = words(i)
        records.append({"id": f"o{i}", "text": " ".join(original)})
    for i in range(10):
        original = words(i)
        if i % 2:
            # 30 of 60 words replaced: 5-word shingles at Jaccard 26/86 ≈ 0.3.
            variant = original[:30] + words(100 + i, 30)
        else:
            variant = original[:-1] + ["edited"]  # Jaccard 55/57
        records.append({"id": f"v{i}", "text": " ".join(variant)})
    write_jsonl(tmp_path / "in" / "0.jsonl", records[:12])
    write_jsonl(tmp_path / "in" / "1.jsonl", records[12:])
    params = {"num_buckets": 20, "hashes_per_bucket": 1, "num_partitions": 3}
    kept = {}
    for name, extra in (("plain", {}), ("verified", {"jaccard_threshold": 0.7})):
        out = tmp_path / name
        op = {"name": "minhash_deduplicator", "params": {**params, **extra}}
        stats = api.run(config(tmp_path / "in", out, [op]), workers=2, progress="off")
        kept[name] = [
            r["id"]
            for f in sorted(out.glob("part-*.parquet"))
            for r in pq.read_table(f).to_pylist()
        ]
        counters = stats["operators"][0].get("counters", {})
        assert stats_of(out)["operators"][0].get("counters", {}) == counters
        if extra:
            # 10 candidate pairs: 5 accepted at the first comparison, 5 rejected (maybe more
            # than once, one group per shared band).
            assert counters["jaccard_candidate_docs"] == 20
            assert counters["jaccard_pairs_rejected"] >= 5
            assert counters["jaccard_pairs_checked"] - counters["jaccard_pairs_rejected"] >= 5
            assert counters["jaccard_set_file_bytes"] == 20 * (12 + 8 * 56)
            # The set files are dedup state, removed at finalize like the key files.
            assert not (out / "_mdf" / "global" / "g00" / "sets").exists()
        else:
            assert "jaccard_pairs_checked" not in counters
    originals = [f"o{i}" for i in range(10)]
    assert kept["plain"] == originals
    assert kept["verified"] == originals + [f"v{i}" for i in range(1, 10, 2)]
    bad = {
        "name": "minhash_deduplicator",
        "params": {"jaccard_threshold": 0.7, "keeper": "datatrove"},
    }
    with pytest.raises(api.ConfigError, match="jaccard_threshold"):
        api.run(config(tmp_path / "in", tmp_path / "bad", [bad]), progress="off")
