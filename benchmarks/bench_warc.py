"""WARC reading throughput: FastWARC vs mdf's WarcLoader on the same gzip WARC.

Writes (once) a >= 200 MB gzip WARC in CommonCrawl's layout (one gzip member per record;
warcinfo, then request/response/metadata per page) from the real pages of
../shared/data/article-extraction/html (or generated pages when that directory is missing),
then in one run times:

- FastWARC (`pip install fastwarc`): ArchiveIterator over `response` records with HTTP parsing
  (`parse_http=True`), reading every payload;
- mdf: the `warc_count` example (`cargo build --release -p mdf-warc --example warc_count`), which
  runs WarcLoader (reading, decompressing, HTTP parsing, payload decoding) over the same records
  into Arrow batches, on 1 thread and on `--threads` threads (byte-range shards of one file).

Prints records/s and MB/s (compressed input) for each and the ratios.

    pip install '.[bench]'   # fastwarc
    cargo build --release -p mdf-warc --example warc_count
    python benchmarks/bench_warc.py [--size-mb 200] [--threads N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGES = REPO.parent / "shared" / "data" / "article-extraction" / "html"


def load_pages() -> list[bytes]:
    if PAGES.is_dir():
        pages = [
            gzip.decompress(p.read_bytes()) if p.name.endswith(".gz") else p.read_bytes()
            for p in sorted(PAGES.iterdir())
            if p.is_file()
        ]
        if pages:
            return pages
    rng = random.Random(1)
    words = [f"w{i}" for i in range(5000)]
    return [
        (
            "<html><body>"
            + "".join(
                "<p>" + " ".join(rng.choices(words, k=60)) + "</p>"
                for _ in range(rng.randint(5, 60))
            )
            + "</body></html>"
        ).encode()
        for _ in range(200)
    ]


def record(warc_type: str, headers: dict[str, str], block: bytes, rng: random.Random) -> bytes:
    head = {
        "WARC-Type": warc_type,
        "WARC-Date": "2024-12-01T12:00:00Z",
        "WARC-Record-ID": f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>",
        **headers,
        "Content-Length": str(len(block)),
    }
    text = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
    return text.encode() + block + b"\r\n\r\n"


def member(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return buf.getvalue()


def write_warc(path: Path, size_mb: float) -> int:
    pages = load_pages()
    rng = random.Random(7)
    target = int(size_mb * 1e6)
    responses = 0
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        info = record("warcinfo", {"Content-Type": "application/warc-fields"}, b"x: y\r\n", rng)
        out.write(member(info))
        written = 0
        while written < target:
            body = pages[responses % len(pages)]
            # Vary each copy a little so members differ.
            body = body.replace(b"</body>", f"<!-- copy {responses} -->".encode() + b"</body>", 1)
            url = f"https://site{responses % 9973}.example.com/page/{responses}"
            req = f"GET /page/{responses} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            http = (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            for typ, ct, block in (
                ("request", "application/http; msgtype=request", req),
                ("response", "application/http; msgtype=response", http),
                ("metadata", "application/warc-fields", b"fetchTimeMs: 120\r\n"),
            ):
                m = member(record(typ, {"WARC-Target-URI": url, "Content-Type": ct}, block, rng))
                out.write(m)
                written += len(m)
            responses += 1
    tmp.rename(path)
    return responses


def bench_fastwarc(path: Path) -> tuple[int, float, float]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    c0 = time.process_time()
    t0 = time.perf_counter()
    n = 0
    payload = 0
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
            payload += len(rec.reader.read())
            n += 1
    return n, time.perf_counter() - t0, time.process_time() - c0


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def bench_mdf(path: Path, threads: int, binary: Path) -> tuple[int, float, float]:
    args = [str(binary), "--types", "response", "--all-mime", "--threads", str(threads)]
    if threads > 1:
        args += ["--shard-mb", str(max(1.0, path.stat().st_size / 1e6 / (threads * 4)))]
    c0 = children_cpu()
    t0 = time.perf_counter()
    out = subprocess.run(args + [str(path)], check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    result = json.loads(out.strip().splitlines()[-1])
    assert not result["rejects"], result
    return result["rows"], wall, children_cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=float, default=200.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "data" / "bench.warc.gz")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    ap.add_argument("--binary", type=Path, default=target / "release" / "examples" / "warc_count")
    a = ap.parse_args()
    if not a.binary.exists():
        sys.exit(f"{a.binary} missing: cargo build --release -p mdf-warc --example warc_count")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    if not a.out.exists() or a.out.stat().st_size < a.size_mb * 1e6:
        t0 = time.perf_counter()
        n = write_warc(a.out, a.size_mb)
        print(f"wrote {a.out} ({n} pages) in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    mb = a.out.stat().st_size / 1e6
    # Warm the page cache so the first contender does not pay for the disk.
    a.out.read_bytes()
    runs = {"fastwarc": [], "mdf 1 thread": [], f"mdf {a.threads} threads": []}
    counts = {}
    for _ in range(a.repeat):
        for name in runs:
            if name == "fastwarc":
                n, wall, cpu = bench_fastwarc(a.out)
            else:
                n, wall, cpu = bench_mdf(a.out, int(name.split()[1]), a.binary)
            counts.setdefault(name, n)
            assert counts[name] == n
            runs[name].append((wall, cpu))
    assert len(set(counts.values())) == 1, counts
    n = counts["fastwarc"]
    print(f"{mb:.0f} MB gzip WARC, {n} response records, best of {a.repeat}, {os.cpu_count()} CPUs")
    # Wall time is what a user waits; CPU time (user + system) is the per-core cost and is the
    # fairer figure on a shared machine.
    best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in runs.items()}
    for name, (wall, cpu) in best.items():
        print(
            f"{name:>16}: {n / wall:8.0f} records/s {mb / wall:7.1f} MB/s (wall {wall:.2f} s); "
            f"per CPU-second {n / cpu:8.0f} records {mb / cpu:7.1f} MB (cpu {cpu:.2f} s)"
        )
    base_wall, base_cpu = best["fastwarc"]
    for name, (wall, cpu) in best.items():
        if name != "fastwarc":
            print(
                f"{name} / fastwarc: {base_wall / wall:.2f}x wall, "
                f"{base_cpu / cpu:.2f}x per CPU-second"
            )


if __name__ == "__main__":
    main()
