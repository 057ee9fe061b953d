"""MinHash dedup, mdf against datatrove 0.10.1's four stages, on the same generated documents.

Documents: near-duplicate clusters (copies of a base text with 0-20 % of words replaced) and
unique texts, 50-400 words from a 20,000-word vocabulary, in `--files` JSONL files. Both tools
use the FineWeb config (5-grams, 14 bands x 8 hashes, seed 1) and 1 worker. datatrove runs
signature (one task per file), buckets (14 tasks), cluster (1 task) and filter (one task per
file), each stage in its own process; mdf runs one pipeline whose phases are timed separately
(`phase_seconds` in its stats). Prints docs/s per core per stage, end to end, and the ratio.

    pip install '.[bench]' xxhash<4
    python benchmarks/bench_minhash.py --docs 1000000
    python benchmarks/bench_minhash.py --docs 10000000 --words 30 80 --mdf-only   # scale run
    python benchmarks/bench_minhash.py --docs 100000 --mdf-only --jaccard-threshold 0.7
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

from bench_length_filter import measure

DATATROVE = r"""
import sys, types
try:
    import tokenizers  # noqa: F401  (datatrove.pipeline.dedup imports it; MinHash never uses it)
except ImportError:
    t = types.ModuleType("tokenizers"); t.Tokenizer = object
    p = types.ModuleType("tokenizers.processors"); p.TemplateProcessing = object
    t.processors = p; sys.modules["tokenizers"] = t; sys.modules["tokenizers.processors"] = p
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import minhash as M
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

stage, data, work, files = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cfg = M.MinhashConfig()
if stage == "signature":
    pipe, tasks = [JsonlReader(data), M.MinhashDedupSignature(f"{work}/sigs", config=cfg)], files
elif stage == "buckets":
    pipe, tasks = [M.MinhashDedupBuckets(f"{work}/sigs", f"{work}/buckets", config=cfg)], 14
elif stage == "cluster":
    pipe, tasks = [M.MinhashDedupCluster(f"{work}/buckets", f"{work}/ids", config=cfg)], 1
else:
    pipe = [JsonlReader(data), M.MinhashDedupFilter(f"{work}/ids"),
            JsonlWriter(f"{work}/kept", compression=None)]
    tasks = files
LocalPipelineExecutor(pipe, tasks=tasks, workers=1, logging_dir=f"{work}/logs-{stage}").run()
"""

MDF = r"""
import sys, mega_data_factory as mdf
mdf.run(sys.argv[1], workers=1, progress="off")
"""


def generate(
    path: Path, docs: int, files: int, words: tuple[int, int] = (50, 400), seed: int = 5
) -> None:
    rng = random.Random(seed)
    vocab = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        for _ in range(20_000)
    ]
    path.mkdir(parents=True, exist_ok=True)
    outs = [open(path / f"part-{i:03d}.jsonl", "w") for i in range(files)]
    base = None
    for n in range(docs):
        if base is not None and rng.random() < 0.3:
            text = [
                rng.choice(vocab) if rng.random() < rng.choice([0.0, 0.05, 0.2]) else w
                for w in base
            ]
        else:
            text = [rng.choice(vocab) for _ in range(rng.randint(*words))]
            base = text
        rec = {"id": f"d{n}", "text": " ".join(text)}
        outs[n * files // docs].write(json.dumps(rec) + "\n")
    for f in outs:
        f.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-minhash"))
    ap.add_argument(
        "--reuse-datatrove",
        action="store_true",
        help="reuse datatrove's figures from an earlier run on the same documents",
    )
    ap.add_argument("--datatrove-only", action="store_true", help="measure datatrove only")
    ap.add_argument("--mdf-only", action="store_true", help="measure mdf only (scale runs)")
    ap.add_argument(
        "--words", type=int, nargs=2, default=(50, 400), help="words per unique document"
    )
    ap.add_argument("--partitions", type=int, default=64, help="mdf's num_partitions")
    ap.add_argument(
        "--jaccard-threshold", type=float, help="mdf: verify candidate pairs (with --mdf-only)"
    )
    ap.add_argument(
        "--keeper",
        choices=("first", "datatrove"),
        default="first",
        help="mdf's keeper: which member of a cluster stays (datatrove: its choice)",
    )
    args = ap.parse_args()
    lo, hi = args.words
    suffix = "" if (lo, hi) == (50, 400) else f"-{lo}-{hi}"
    data = args.work / f"data-{args.docs}{suffix}"
    if not data.exists():
        generate(data, args.docs, args.files, (lo, hi))
    py = sys.executable

    dt_work = args.work / "datatrove"
    dt_saved = args.work / f"datatrove-{args.docs}.json"
    if args.mdf_only:
        dt = None
    elif args.reuse_datatrove and dt_saved.exists():
        dt = json.loads(dt_saved.read_text())
    else:
        shutil.rmtree(dt_work, ignore_errors=True)
        dt = {}
        for stage in ("signature", "buckets", "cluster", "filter"):
            cmd = [py, "-c", DATATROVE, stage, str(data), str(dt_work), str(args.files)]
            dt[stage] = measure(cmd)
        dt["kept"] = sum(1 for f in (dt_work / "kept").glob("*.jsonl") for _ in open(f))
        dt_saved.write_text(json.dumps(dt))
    if args.datatrove_only:
        print(json.dumps(dt, indent=1))
        return

    out = args.work / "mdf"
    shutil.rmtree(out, ignore_errors=True)
    cfg = args.work / "mdf.json"
    minhash = {
        "name": "minhash_deduplicator",
        "params": {"num_partitions": args.partitions, "keeper": args.keeper},
    }
    if args.jaccard_threshold is not None:
        minhash["params"]["jaccard_threshold"] = args.jaccard_threshold
    cfg.write_text(
        json.dumps(
            {
                "data_loader": {"type": "JsonlLoader", "params": {"paths": str(data)}},
                "stages": [{"name": "dedup", "operators": [minhash]}],
                "data_writer": {"type": "JsonlDataWriter", "params": {"output_path": str(out)}},
                "executor": {"batch_size": 2048},
            }
        )
    )
    ours = measure([py, "-c", MDF, str(cfg)])
    stats = json.loads((out / "_mdf" / "stats.json").read_text())
    phases = stats.get("phase_seconds", {})

    n = args.docs
    if dt is None:
        print(f"{n:,} documents ({lo}-{hi} words when unique), mdf 1 worker")
        for phase, secs in phases.items():
            print(f"  {phase:<16} {secs:8.1f} s  ({n / secs:,.0f} docs/s)")
        print(
            f"end to end: {ours['wall']:.1f} s wall, {ours['cpu']:.1f} s CPU "
            f"({n / ours['cpu']:,.0f} docs/s per core), peak RSS {ours['rss_mib']:.0f} MiB"
        )
        print(f"kept {stats['output_records']:,}, removed {n - stats['output_records']:,}")
        counters = stats["operators"][0].get("counters")
        if counters:
            print(f"counters {json.dumps(counters)}")
        return
    kept_dt = dt.pop("kept")
    print(f"{n:,} documents, 1 worker each")
    print(f"{'stage':<28}{'datatrove docs/s':>18}{'mdf docs/s':>14}")
    pairs = [
        ("signature", "segment 0"),
        ("buckets", "dedup group 0"),
        ("cluster", "dedup merge 0"),
        ("filter", "segment 1"),
    ]
    for dt_stage, phase in pairs:
        dts = n / dt[dt_stage]["cpu"]
        ms = n / phases[phase] if phases.get(phase) else float("nan")
        print(f"{dt_stage + ' / ' + phase:<28}{dts:>18,.0f}{ms:>14,.0f}")
    dt_cpu = sum(m["cpu"] for m in dt.values())
    print(f"{'end to end (CPU s)':<28}{dt_cpu:>18.1f}{ours['cpu']:>14.1f}")
    print(
        f"end to end docs/s per core: datatrove {n / dt_cpu:,.0f}, mdf {n / ours['cpu']:,.0f}, "
        f"ratio {dt_cpu / ours['cpu']:.1f}x"
    )
    print(
        f"peak RSS MiB: datatrove max {max(m['rss_mib'] for m in dt.values()):.0f}, "
        f"mdf {ours['rss_mib']:.0f}"
    )
    print(f"kept: datatrove {kept_dt:,}, mdf {stats['output_records']:,}")
    if (dt_work / "kept").exists():
        dt_ids, mdf_ids = kept_ids(dt_work / "kept"), kept_ids(out)
        differ = len(dt_ids ^ mdf_ids)
        print(
            f"same decision (kept/removed) on {1 - differ / n:.4%} of documents "
            f"({differ:,} differ: {len(mdf_ids - dt_ids):,} kept by mdf only, "
            f"{len(dt_ids - mdf_ids):,} by datatrove only)"
        )


def kept_ids(folder: Path) -> set[str]:
    """The ids in the JSONL files of an output folder."""
    ids: set[str] = set()
    for path in sorted(folder.glob("*.jsonl")):
        with open(path) as f:
            ids.update(json.loads(line)["id"] for line in f)
    return ids


if __name__ == "__main__":
    main()
