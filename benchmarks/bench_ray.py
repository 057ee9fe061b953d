"""The same pipeline on the local runner and on the Ray runner, on this machine.

Pipeline: JSONL.gz (generated web-like documents, one shard per file) -> Gopher repetition ->
Gopher quality -> text length -> Parquet. The local runner uses `--workers` threads; the Ray
runner gets a local Ray cluster with `--workers` CPUs, started before the clock starts (a
cluster is long-lived; its start-up is printed separately). Each runner runs `--repeat` times
into a fresh directory; the best wall time counts. Throughput = input records / wall seconds,
and the Ray overhead = 1 - ray throughput / local throughput. Both outputs are checked to be
byte-identical.

On a shared machine wall time depends on what else runs, so the CPU time of each runner is
measured too: the local runner's process, and for Ray the driver plus every process of the
local Ray instance (raylet, GCS, workers: all descendants of the driver). Documents per
CPU-second and the overhead in CPU time are printed beside the wall-clock figures.

    pip install '.[test]'            # ray
    python benchmarks/bench_ray.py --docs 200000 --files 16 --workers 2
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
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


def tree_cpu_seconds() -> float:
    """CPU seconds of this process plus all its live descendants (from /proc)."""
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parent[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    me = os.getpid()

    def descends(pid: int) -> bool:
        while pid > 1:
            if pid == me:
                return True
            pid = parent.get(pid, 0)
        return False

    others = sum(t for pid, t in ticks.items() if pid != me and descends(pid))
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime + others / os.sysconf("SC_CLK_TCK")


def timed(runs: int, out_root: Path, fn) -> tuple[float, float, dict]:
    """Best wall seconds, the CPU seconds of that run, and its stats."""
    best, best_cpu, stats = float("inf"), 0.0, {}
    for i in range(runs):
        out = out_root / f"run{i}"
        shutil.rmtree(out, ignore_errors=True)
        cpu = tree_cpu_seconds()
        start = time.perf_counter()
        stats = fn(out)
        wall = time.perf_counter() - start
        if wall < best:
            best, best_cpu = wall, tree_cpu_seconds() - cpu
    return best, best_cpu, stats


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

    local_wall, local_cpu, local_stats = timed(
        args.repeat,
        out / "local",
        lambda o: mdf.run(pipeline(data, o), workers=args.workers, progress="off"),
    )
    started = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - started
    try:
        ray_wall, ray_cpu, ray_stats = timed(
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
    print(
        f"local runner ({args.workers} threads): {local_wall:.2f} s wall, {local_rps:,.0f} docs/s; "
        f"{local_cpu:.1f} CPU s, {n / local_cpu:,.0f} docs per CPU-second"
    )
    print(
        f"ray runner ({args.workers} CPUs, 1 node): {ray_wall:.2f} s wall, {ray_rps:,.0f} docs/s; "
        f"{ray_cpu:.1f} CPU s, {n / ray_cpu:,.0f} docs per CPU-second "
        f"(cluster start-up {ray_start:.1f} s, not counted)"
    )
    print(
        f"ray overhead: {100 * (1 - ray_rps / local_rps):.1f} % in wall-clock throughput, "
        f"{100 * (ray_cpu / local_cpu - 1):.1f} % in CPU time; outputs identical: {identical}"
    )


if __name__ == "__main__":
    main()
