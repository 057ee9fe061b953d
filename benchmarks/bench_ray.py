"""The same pipeline on the local runner and on the Ray runner, on this machine.

Pipeline: JSONL.gz (generated web-like documents, one shard per file) -> Gopher repetition ->
Gopher quality -> text length -> Parquet. The local runner uses `--workers` threads; the Ray
runner gets a local Ray cluster with `--workers` CPUs, started before the clock starts (a
cluster is long-lived; its start-up is printed separately). Each runner runs `--repeat` times
into a fresh directory; the best wall time counts. Throughput = input records / wall seconds,
and the Ray overhead = 1 - ray throughput / local throughput. Both outputs are checked to be
byte-identical.

    pip install '.[test]'            # ray
    python benchmarks/bench_ray.py --docs 200000 --files 16 --workers 2
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_docs import make_doc  # noqa: E402

import mega_data_factory as mdf  # noqa: E402


def make_inputs(root: Path, docs: int, files: int) -> Path:
    data = root / f"ray-bench-{docs}-{files}"
    if (data / "done").exists():
        return data
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    rng = random.Random(7)
    per_file = docs // files
    for f in range(files):
        with gzip.open(data / f"{f:03d}.jsonl.gz", "wt", encoding="utf-8", compresslevel=1) as out:
            for i in range(f * per_file, (f + 1) * per_file):
                out.write(json.dumps(make_doc(rng, i)) + "\n")
    (data / "done").write_text("")
    return data


def pipeline(data: Path, out: Path) -> dict:
    return {
        "data_loader": {"type": "JsonlLoader", "params": {"paths": str(data / "*.jsonl.gz")}},
        "stages": [
            {
                "name": "quality",
                "operators": [
                    {"name": "gopher_repetition_filter"},
                    {"name": "gopher_quality_filter"},
                    {"name": "text_length_filter", "params": {"min_length": 200}},
                ],
            }
        ],
        "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
        "executor": {"batch_size": 2000},
    }


def timed(runs: int, out_root: Path, fn) -> tuple[float, dict]:
    best, stats = float("inf"), {}
    for i in range(runs):
        out = out_root / f"run{i}"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        stats = fn(out)
        best = min(best, time.perf_counter() - start)
    return best, stats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=200_000)
    p.add_argument("--files", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--work-dir", type=Path, default=HERE / "data")
    args = p.parse_args()

    import ray

    data = make_inputs(args.work_dir, args.docs, args.files)
    out = args.work_dir / "ray-bench-out"

    local_wall, local_stats = timed(
        args.repeat,
        out / "local",
        lambda o: mdf.run(pipeline(data, o), workers=args.workers, progress="off"),
    )
    started = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - started
    try:
        ray_wall, ray_stats = timed(
            args.repeat,
            out / "ray",
            lambda o: mdf.run(pipeline(data, o), executor="ray", progress="off"),
        )
    finally:
        ray.shutdown()

    def files(run: Path) -> dict[str, bytes]:
        return {f.name: f.read_bytes() for f in sorted(run.glob("part-*"))}

    last = f"run{args.repeat - 1}"
    identical = files(out / "local" / last) == files(out / "ray" / last)
    n = local_stats["input_records"]
    assert ray_stats["input_records"] == n
    local_rps, ray_rps = n / local_wall, n / ray_wall
    print(f"input: {n} documents in {args.files} shards; kept {local_stats['output_records']}")
    print(f"local runner ({args.workers} threads): {local_wall:.2f} s, {local_rps:,.0f} docs/s")
    print(
        f"ray runner ({args.workers} CPUs, 1 node): {ray_wall:.2f} s, {ray_rps:,.0f} docs/s "
        f"(cluster start-up {ray_start:.1f} s, not counted)"
    )
    print(f"ray overhead: {100 * (1 - ray_rps / local_rps):.1f} % ; outputs identical: {identical}")


if __name__ == "__main__":
    main()
