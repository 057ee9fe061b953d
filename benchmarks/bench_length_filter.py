"""JSONL.gz -> text length filter -> Parquet, mdf against datatrove on the same files.

Generates the input once (>= 1M documents by default), then runs, each in its own process:
  * mdf with 1 worker and with 2 workers,
  * datatrove: JsonlReader -> LambdaFilter -> ParquetWriter, 1 worker,
  * mdf with 1 worker on a quarter of the input (peak RSS must not grow with input size),
and prints wall time, docs/s, docs per CPU-second (per core), peak RSS and the ratios.

    pip install '.[bench]'
    python benchmarks/bench_length_filter.py --docs 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIN_LEN, MAX_LEN = 100, 20_000

DATATROVE = """
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.filters import LambdaFilter
from datatrove.pipeline.writers import ParquetWriter
data, out, tasks, codec = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
codec = None if codec == "none" else codec
LocalPipelineExecutor(
    pipeline=[
        JsonlReader(data, glob_pattern="*.jsonl.gz"),
        LambdaFilter(lambda doc: {lo} <= len(doc.text) <= {hi}),
        ParquetWriter(out, compression=codec),
    ],
    tasks=tasks, workers=1, logging_dir=out + "_logs",
).run()
""".replace("{lo}", str(MIN_LEN)).replace("{hi}", str(MAX_LEN))


# Runs the measured command as a grandchild and reports its rusage. A child started straight
# from this (possibly large) process would report this process's peak RSS as its own: Linux
# carries the resident size of the replaced image over into `ru_maxrss` at exec.
_LAUNCHER = r"""
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"code": os.waitstatus_to_exitcode(status),
               "cpu": usage.ru_utime + usage.ru_stime, "rss_kib": usage.ru_maxrss}, f)
"""


def measure(cmd: list[str], env: dict | None = None) -> dict:
    """Runs cmd in its own process; returns wall seconds, CPU seconds and peak RSS (MiB)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, report.name, *cmd],
            env=env,
            stderr=subprocess.PIPE,
        )
        wall = time.perf_counter() - start
        usage = json.loads(Path(report.name).read_text() or "{}")
    if done.returncode != 0 or usage.get("code") != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{done.stderr.decode()[-3000:]}")
    return {"wall": wall, "cpu": usage["cpu"], "rss_mib": usage["rss_kib"] / 1024}


def mdf_config(data: Path, out: Path, workers: int, codec: str) -> Path:
    cfg = {
        "data_loader": {"type": "JsonlLoader", "params": {"paths": str(data / "*.jsonl.gz")}},
        "stages": [
            {
                "name": "filter",
                "operators": [
                    {
                        "name": "text_length_filter",
                        "params": {"min_length": MIN_LEN, "max_length": MAX_LEN},
                    }
                ],
            }
        ],
        "data_writer": {
            "type": "ParquetDataWriter",
            "params": {"output_path": str(out), "compression": codec},
        },
        # batch_size left at its default (1000, as in the recipes): 4096-record batches (7 MB of
        # text) fall out of the core's cache between steps and took 8 % more CPU here.
        "executor": {"num_workers": workers},
    }
    path = out.parent / f"{out.name}.json"
    path.write_text(json.dumps(cfg))
    return path


def run_mdf(data: Path, out: Path, workers: int, codec: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cfg = mdf_config(data, out, workers, codec)
    m = measure(
        [shutil.which("mdf") or "mdf", "run", "-c", str(cfg), "--overwrite", "--progress", "off"]
    )
    stats = json.loads((out / "_mdf" / "stats.json").read_text())
    m.update(docs=stats["input_records"], kept=stats["output_records"])
    return m


def run_datatrove(data: Path, out: Path, tasks: int, codec: str) -> dict:
    import pyarrow.parquet as pq

    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(str(out) + "_logs", ignore_errors=True)
    m = measure([sys.executable, "-c", DATATROVE, str(data), str(out), str(tasks), codec])
    m["kept"] = sum(pq.read_metadata(p).num_rows for p in out.rglob("*.parquet"))
    return m


def median_by_cpu(runs: list[dict]) -> dict:
    """The run with the median CPU time (the upper one of an even count)."""
    return sorted(runs, key=lambda m: m["cpu"])[len(runs) // 2]


def generate(data: Path, docs: int, files: int) -> None:
    marker = data / f".generated-{docs}-{files}"
    if marker.exists():
        return
    shutil.rmtree(data, ignore_errors=True)
    subprocess.run(
        [
            sys.executable,
            str(HERE / "gen_docs.py"),
            "--docs",
            str(docs),
            "--files",
            str(files),
            "--out",
            str(data / "docs.jsonl.gz"),
        ],
        check=True,
    )
    marker.touch()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--work", type=Path, default=HERE / "data")
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run mdf (1 worker) and datatrove this many times, alternately, and report each "
        "round's ratio and their median (on a noisy machine both tools should see the same "
        "conditions; default: 1)",
    )
    ap.add_argument(
        "--compression",
        default="snappy",
        choices=["snappy", "zstd", "lz4", "none"],
        help="Parquet codec for both tools (default: datatrove's default, snappy)",
    )
    args = ap.parse_args()
    data = args.work / "length_filter_input"
    small = args.work / "length_filter_input_quarter"
    generate(data, args.docs, args.files)
    generate(small, args.docs // 4, max(1, args.files // 4))
    out = args.work / "out"
    out.mkdir(parents=True, exist_ok=True)

    rows = {}
    codec = args.compression
    rounds = []  # (mdf, datatrove) of each round
    for _ in range(max(1, args.rounds)):
        mdf = run_mdf(data, out / "mdf1", 1, codec)
        dt = None
        if not args.skip_datatrove:
            dt = run_datatrove(data, out / "datatrove", args.files, codec)
            dt["docs"] = args.docs
        rounds.append((mdf, dt))
    # The table shows each tool's median-CPU round.
    rows["mdf, 1 worker"] = median_by_cpu([m for m, _ in rounds])
    rows["mdf, 2 workers"] = run_mdf(data, out / "mdf2", 2, codec)
    rows["mdf, 1 worker, 1/4 input"] = run_mdf(small, out / "mdf_small", 1, codec)
    if not args.skip_datatrove:
        rows["datatrove, 1 worker"] = median_by_cpu([d for _, d in rounds])
        kept = {name: m["kept"] for name, m in rows.items() if "1/4" not in name}
        if len(set(kept.values())) != 1:
            sys.exit(f"the runs kept different numbers of documents: {kept}")

    print(
        f"\nJSONL.gz -> length filter [{MIN_LEN}, {MAX_LEN}] -> Parquet; "
        f"{args.docs:,} docs in {args.files} files; {os.cpu_count()} cores\n"
    )
    print(f"{'run':<28}{'wall s':>9}{'docs/s':>12}{'docs/CPU-s':>13}{'peak RSS MiB':>14}")
    for name, m in rows.items():
        n = m.get("docs", args.docs)
        print(
            f"{name:<28}{m['wall']:>9.2f}{n / m['wall']:>12,.0f}{n / m['cpu']:>13,.0f}"
            f"{m['rss_mib']:>14.0f}"
        )
    one, two = rows["mdf, 1 worker"], rows["mdf, 2 workers"]
    print(f"\nspeed-up 1 -> 2 workers: {one['wall'] / two['wall']:.2f}x")
    print(
        f"peak RSS, full vs 1/4 input: {one['rss_mib']:.0f} vs "
        f"{rows['mdf, 1 worker, 1/4 input']['rss_mib']:.0f} MiB"
    )
    if "datatrove, 1 worker" in rows:
        ratios = sorted(d["cpu"] / m["cpu"] for m, d in rounds)
        per_round = ", ".join(f"{d['cpu'] / m['cpu']:.1f}x" for m, d in rounds)
        dt = rows["datatrove, 1 worker"]
        print(
            f"mdf vs datatrove per core (docs per CPU-second): "
            f"{ratios[len(ratios) // 2]:.1f}x (median of {len(rounds)} round(s): {per_round}); "
            f"wall, 1 worker each: {dt['wall'] / one['wall']:.1f}x"
        )
        print(
            "CPU seconds per round, mdf / datatrove: "
            + ", ".join(f"{m['cpu']:.2f} / {d['cpu']:.2f}" for m, d in rounds)
        )


if __name__ == "__main__":
    main()
