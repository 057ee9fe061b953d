"""Exact dedup at scale: N generated documents (a share of them exact copies of earlier ones,
in another case and spacing), `text_exact_deduplicator` with 1 worker. Prints the time of each
phase, the key extraction rate (docs per CPU-second inside the operator) and peak RSS.

    python benchmarks/scale_exact_dedup.py --docs 10000000 --partitions 256
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

from bench_length_filter import measure

MDF = r"""
import sys, mega_data_factory as mdf
mdf.run(sys.argv[1], workers=int(sys.argv[2]), progress="off")
"""


def generate(path: Path, docs: int, files: int, dup: float) -> None:
    rng = random.Random(1)
    path.mkdir(parents=True, exist_ok=True)
    outs = [open(path / f"part-{i:03d}.jsonl", "w") for i in range(files)]
    for n in range(docs):
        if n and rng.random() < dup:
            text = f"Document  NUMBER {rng.randrange(n)} of the corpus"
        else:
            text = f"document number {n} of the corpus"
        outs[n * files // docs].write(f'{{"id":"d{n}","text":"{text}"}}\n')
    for f in outs:
        f.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=2_000_000)
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--dup", type=float, default=0.3)
    ap.add_argument("--partitions", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/scale-exact"))
    args = ap.parse_args()
    data = args.work / f"data-{args.docs}"
    if not data.exists():
        generate(data, args.docs, args.files, args.dup)
    out = args.work / "out"
    shutil.rmtree(out, ignore_errors=True)
    cfg = args.work / "cfg.json"
    op = {"name": "text_exact_deduplicator", "params": {"num_partitions": args.partitions}}
    cfg.write_text(
        json.dumps(
            {
                "data_loader": {"type": "JsonlLoader", "params": {"paths": str(data)}},
                "stages": [{"name": "dedup", "operators": [op]}],
                "data_writer": {"type": "JsonlDataWriter", "params": {"output_path": str(out)}},
                "executor": {"batch_size": 8192},
            }
        )
    )
    m = measure([sys.executable, "-c", MDF, str(cfg), str(args.workers)])
    stats = json.loads((out / "_mdf" / "stats.json").read_text())
    op_stats = stats["operators"][0]
    print(f"{args.docs:,} documents, {args.workers} worker(s), {args.partitions} partitions")
    for phase, secs in stats["phase_seconds"].items():
        print(f"  {phase:<16} {secs:8.1f} s  ({args.docs / secs:,.0f} docs/s)")
    print(f"key extraction: {args.docs / op_stats['seconds']:,.0f} docs per CPU-second")
    print(
        f"end to end: {m['wall']:.1f} s wall, {m['cpu']:.1f} s CPU, peak RSS {m['rss_mib']:.0f} MiB"
    )
    print(f"kept {stats['output_records']:,}, removed {op_stats['dropped'].get('duplicate', 0):,}")


if __name__ == "__main__":
    main()
