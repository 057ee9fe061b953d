"""Semantic (embedding) dedup: mdf's `embedding_deduplicator` against the same algorithm in numpy.

Data: `--records` L2-normalised float32 embeddings of dimension `--dim`, drawn around
`--topics` random directions (two records of one topic have cosine about 0.5), of which
`--dup-fraction` are near copies of an earlier record at a cosine uniform in [0.98, 1.0]; written
as a FixedSizeList column to `--files` Parquet files.

Both run SemDedup with the same parameters and one core: spherical k-means (k-means++ then
`--iterations` Lloyd steps) on a sample of `--sample-size` records, every record routed to its
nearest centroid, all pairs within each k-means cluster compared, pairs with cosine >= 1 - eps
joined into components, the first record of each component kept. numpy uses a uniform random
sample and its own k-means++ draws (mdf samples by a hash of the record position), so the k-means
partitions, and the few pairs split across them, differ slightly; the kept counts are printed.
numpy runs with BLAS limited to one thread; its time excludes reading and writing Parquet
(mdf's includes them). Prints records/s per CPU-second for both.

    python benchmarks/bench_embedding_dedup.py --records 200000 --dim 512
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench_length_filter import measure

MDF = r"""
import sys, mega_data_factory as mdf
mdf.run(sys.argv[1], workers=1, progress="off")
"""

NUMPY = r"""
import json, sys, time
import numpy as np
import pyarrow.parquet as pq
from pathlib import Path

data = sys.argv[1]
k, sample_size, iters = map(int, sys.argv[2:5])
eps, seed, dim = float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
columns = [pq.read_table(f, columns=["emb"]).column("emb").combine_chunks()
           for f in sorted(Path(data).glob("*.parquet"))]
X = np.concatenate([c.flatten().to_numpy().reshape(-1, dim) for c in columns])
start = time.process_time()
n = len(X)
rng = np.random.default_rng(seed)
S = X[np.sort(rng.choice(n, size=min(sample_size, n), replace=False))]
# k-means++ (squared distance 2 - 2 cos for unit vectors)
C = [S[rng.integers(len(S))]]
d2 = np.maximum(2 - 2 * S @ C[0], 0)
while len(C) < min(k, len(S)):
    i = rng.choice(len(S), p=d2 / d2.sum()) if d2.sum() > 0 else rng.integers(len(S))
    C.append(S[i])
    d2 = np.minimum(d2, np.maximum(2 - 2 * S @ S[i], 0))
C = np.array(C)
assign = None
for _ in range(iters):
    a = np.argmax(S @ C.T, axis=1)
    if assign is not None and np.array_equal(a, assign):
        break
    assign = a
    sums = np.zeros_like(C, dtype=np.float64)
    np.add.at(sums, a, S)
    norms = np.linalg.norm(sums, axis=1)
    ok = norms > 0
    C[ok] = (sums[ok] / norms[ok, None]).astype(np.float32)
fit_s = time.process_time() - start
labels = np.concatenate([np.argmax(X[i:i + 65536] @ C.T, axis=1) for i in range(0, n, 65536)])
parent = np.arange(n)
def root(i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i
for c in range(len(C)):
    idx = np.flatnonzero(labels == c)
    if len(idx) < 2:
        continue
    sims = X[idx] @ X[idx].T
    ii, jj = np.nonzero(np.triu(sims >= np.float32(1 - eps), 1))
    for i, j in zip(idx[ii], idx[jj]):
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
kept = sum(1 for i in range(n) if root(i) == i)
print(json.dumps({"kept": kept, "seconds": time.process_time() - start, "fit_seconds": fit_s}))
"""


def generate(path: Path, args: argparse.Namespace) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(5)
    n, d = args.records, args.dim

    def unit(m):
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    topics = unit(rng.standard_normal((args.topics, d)))
    X = unit(topics[rng.integers(args.topics, size=n)] + rng.standard_normal((n, d)) / np.sqrt(d))
    copies = np.sort(
        rng.choice(np.arange(n // 10, n), size=int(n * args.dup_fraction), replace=False)
    )
    sources = (rng.random(len(copies)) * copies).astype(np.int64)
    U = X[sources]
    W = rng.standard_normal(U.shape)
    W = unit(W - np.sum(W * U, axis=1, keepdims=True) * U)
    cos = rng.uniform(0.98, 1.0, size=(len(copies), 1))
    X[copies] = cos * U + np.sqrt(1 - cos**2) * W
    X = X.astype(np.float32)
    path.mkdir(parents=True)
    per = -(-n // args.files)
    for f in range(args.files):
        part = X[f * per : (f + 1) * per]
        ids = pa.array([f"r{i}" for i in range(f * per, f * per + len(part))])
        emb = pa.FixedSizeListArray.from_arrays(pa.array(part.reshape(-1)), d)
        pq.write_table(pa.table({"id": ids, "emb": emb}), path / f"part-{f:03}.parquet")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--topics", type=int, default=1000)
    ap.add_argument("--dup-fraction", type=float, default=0.2)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--clusters", type=int, default=200)
    ap.add_argument("--sample-size", type=int, default=20_000)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--eps", type=float, default=0.01)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-embedding-dedup"))
    ap.add_argument("--skip-numpy", action="store_true")
    args = ap.parse_args()
    data = args.work / f"data-{args.records}x{args.dim}"
    if not data.exists():
        generate(data, args)
    py = sys.executable
    n = args.records

    out = args.work / "mdf"
    shutil.rmtree(out, ignore_errors=True)
    cfg = args.work / "mdf.json"
    params = {
        "embedding_field": "emb",
        "num_clusters": args.clusters,
        "sample_size": args.sample_size,
        "kmeans_iterations": args.iterations,
        "eps": args.eps,
    }
    cfg.write_text(
        json.dumps(
            {
                "data_loader": {"type": "ParquetLoader", "params": {"paths": str(data)}},
                "stages": [
                    {
                        "name": "dedup",
                        "operators": [{"name": "embedding_deduplicator", "params": params}],
                    }
                ],
                "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
                "executor": {"batch_size": 4096},
            }
        )
    )
    ours = measure([py, "-c", MDF, str(cfg)])
    stats = json.loads((out / "_mdf" / "stats.json").read_text())
    print(f"{n:,} embeddings x {args.dim}, {args.clusters} clusters, eps {args.eps}, 1 worker")
    for phase, secs in stats.get("phase_seconds", {}).items():
        print(f"  mdf {phase:<18} {secs:7.2f} s wall")
    print(
        f"mdf: {ours['cpu']:.1f} CPU-s, {n / ours['cpu']:,.0f} records/s per core, "
        f"peak RSS {ours['rss_mib']:.0f} MiB, kept {stats['output_records']:,}"
    )
    if not args.skip_numpy:
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        cmd = [py, "-c", NUMPY, str(data), str(args.clusters), str(args.sample_size)]
        cmd += [str(args.iterations), str(args.eps), "7", str(args.dim)]
        run = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        res = json.loads(run.stdout)
        print(
            f"numpy (1 BLAS thread, compute only): {res['seconds']:.1f} CPU-s "
            f"(k-means fit {res['fit_seconds']:.1f}), "
            f"{n / res['seconds']:,.0f} records/s per core, kept {res['kept']:,}"
        )
        print(f"mdf end to end vs numpy compute: {res['seconds'] / ours['cpu']:.2f}x")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
