"""BFF-style Bloom-filter dedup (`bloom_deduplicator`, DCLM parameters: 13-grams, threshold 0.8,
FP rate 0.01, `old_both`) on generated documents with repeated paragraphs and documents.

Documents: 1-8 paragraphs of 20-120 words from a 20,000-word vocabulary; 35 % of paragraphs are
drawn from a pool of 20,000 paragraphs (so they repeat), 8 % of documents are copies of an
earlier one. mdf runs with 1 worker; the figures are docs/s per CPU-second (end to end and per
phase, from `phase_seconds`), peak RSS, and the scan's filter report (`scan.json`).

With `--dolma`, also runs `dolma dedupe` (Dolma's Bloom-filter deduper, paragraph mode
`by_ngram` 13-grams, overlap 0.8, 1 process, filter sized for the same n-gram count and FP rate)
on the same documents, if the `dolma` package is installed. Dolma only writes duplicate-span
attributes; removing them is a separate `dolma mix` step not timed here. Dolma's semantics differ
from BFF's (threshold `>=`, paragraph spans), so only the speed is compared.

    python benchmarks/bench_bloom.py --docs 100000 [--dolma]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
from pathlib import Path

from bench_length_filter import measure

MDF = r"""
import sys, mega_data_factory as mdf
mdf.run(sys.argv[1], workers=1, progress="off")
"""


def generate(path: Path, docs: int, files: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    vocab = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        for _ in range(20_000)
    ]

    def paragraph() -> str:
        return " ".join(rng.choices(vocab, k=rng.randint(20, 120))).capitalize() + "."

    pool = [paragraph() for _ in range(20_000)]
    path.mkdir(parents=True, exist_ok=True)
    outs = [gzip.open(path / f"part-{i:03d}.jsonl.gz", "wt") for i in range(files)]
    texts: list[str] = []
    for n in range(docs):
        if texts and rng.random() < 0.08:
            text = rng.choice(texts[-5000:])
        else:
            parts = [
                rng.choice(pool) if rng.random() < 0.35 else paragraph()
                for _ in range(rng.randint(1, 8))
            ]
            text = "\n".join(parts)
        texts.append(text)
        rec = {"id": f"d{n}", "text": text, "source": "bench", "added": "", "created": ""}
        outs[n * files // docs].write(json.dumps(rec) + "\n")
    for f in outs:
        f.close()


def run_mdf(data: Path, work: Path, py: str) -> tuple[dict, dict, dict]:
    out = work / "mdf"
    shutil.rmtree(out, ignore_errors=True)
    cfg = work / "mdf.json"
    cfg.write_text(
        json.dumps(
            {
                "data_loader": {
                    "type": "JsonlLoader",
                    "params": {"paths": str(data / "*.jsonl.gz")},
                },
                "stages": [{"name": "dedup", "operators": [{"name": "bloom_deduplicator"}]}],
                "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
                "executor": {"batch_size": 2048},
            }
        )
    )
    m = measure([py, "-c", MDF, str(cfg)])
    stats = json.loads((out / "_mdf" / "stats.json").read_text())
    scan = json.loads((out / "_mdf" / "global" / "g00" / "scan.json").read_text())
    return m, stats, scan


def run_dolma(data: Path, work: Path, ngrams: int) -> dict | None:
    dolma = shutil.which("dolma") or str(Path(sys.executable).parent / "dolma")
    if not Path(dolma).exists():
        print("dolma: not installed (pip install dolma), skipped")
        return None
    root = work / "dolma"
    shutil.rmtree(root, ignore_errors=True)
    (root / "documents").mkdir(parents=True)
    for f in data.glob("*.jsonl.gz"):
        shutil.copy(f, root / "documents" / f.name)
    cfg = {
        "documents": [str(root / "documents" / "*.jsonl.gz")],
        "dedupe": {
            "name": "bff",
            "paragraphs": {
                "attribute_name": "bff_duplicate_paragraph_spans",
                "by_ngram": {"ngram_length": 13, "stride": 1, "overlap_threshold": 0.8},
            },
            "skip_empty": True,
        },
        "bloom_filter": {
            "file": str(root / "bloom.bin"),
            "read_only": False,
            # Dolma sizes its filter by the number of items inserted: here, n-grams.
            "estimated_doc_count": ngrams,
            "desired_false_positive_rate": 0.01,
        },
        "processes": 1,
    }
    path = root / "dedupe.json"
    path.write_text(json.dumps(cfg))
    return measure([dolma, "-c", str(path), "dedupe"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-bloom"))
    ap.add_argument("--dolma", action="store_true", help="also time `dolma dedupe`")
    args = ap.parse_args()
    data = args.work / f"data-{args.docs}"
    if not data.exists():
        generate(data, args.docs, args.files)
    py = sys.executable
    m, stats, scan = run_mdf(data, args.work, py)
    n = args.docs
    op = stats["operators"][0]
    print(f"{n:,} documents, mdf bloom_deduplicator (DCLM defaults), 1 worker")
    print(
        f"end to end: {m['wall']:.1f} s wall, {m['cpu']:.1f} CPU-s, "
        f"{n / m['cpu']:,.0f} docs/s per core, peak RSS {m['rss_mib']:.0f} MiB"
    )
    for phase, secs in stats.get("phase_seconds", {}).items():
        print(f"  {phase:<16} {secs:7.2f} s wall  {n / max(secs, 1e-9):>12,.0f} docs/s")
    print(
        f"kept {stats['output_records']:,}; dropped {op['dropped']}; counters {op.get('counters')}"
    )
    print(
        f"filter {scan['filter_bytes'] / 2**20:.1f} MiB, k = {scan['hash_functions']}, "
        f"expected FP {scan['expected_fp_rate']:.4f} for {scan['expected_ngrams']:,} n-grams; "
        f"{scan['ngrams_looked_up']:,} looked up, {scan['ngrams_inserted']:,} inserted, "
        f"fill {scan['filter_fill_ratio']:.3f}"
    )
    if args.dolma:
        d = run_dolma(data, args.work, scan["expected_ngrams"])
        if d is not None:
            print(
                f"dolma dedupe (paragraph by_ngram 13, attributes only): {d['wall']:.1f} s wall, "
                f"{d['cpu']:.1f} CPU-s, {n / d['cpu']:,.0f} docs/s per core, "
                f"peak RSS {d['rss_mib']:.0f} MiB; mdf/dolma per core: {d['cpu'] / m['cpu']:.2f}x"
            )


if __name__ == "__main__":
    main()
