"""`mdf dedup-plan`: sizing guidance for the dedup operators before a run — the MinHash S-curve
(probability that a pair at Jaccard s is removed) and the memory and disk of each phase.

The byte counts mirror the engine's on-disk formats (crates/mdf-dedup/src/partition.rs): a key
record is 28 bytes on disk (+ payload, none for the built-in operators) and 76 in a group
task's memory, a cluster entry 20 bytes, and
the merge phase's union-find about 24 bytes per document that has a candidate duplicate. With
`jaccard_threshold`, a set file holds 12 bytes + 8 per distinct shingle per document, and the
merge phase also holds the candidates' sets."""

from __future__ import annotations

import math

KEY_RECORD_BYTES = 28
# A group task holds the partition's raw records plus a sorted (key, doc, payload slice) view.
GROUP_BYTES_PER_KEY = KEY_RECORD_BYTES + 48
CLUSTER_ENTRY_BYTES = 20
UNION_BYTES_PER_DOC = 24
# A set-file record: doc u64, n u32, n hashes u64; the merge keeps a candidate's set with 12 bytes
# of index.
SET_RECORD_BYTES = 12
SET_BYTES_PER_SHINGLE = 8
# The key task streams its set file through a buffer of this size.
SET_WRITE_BUFFER = 1 << 20


def candidate_probability(s: float, bands: int, rows: int) -> float:
    return 1.0 - (1.0 - s**rows) ** bands


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1024
    return f"{n:.1f}"


def bloom_false_positive_rate(size_bytes: int, expected: int, hashes: int) -> float:
    """BFF's (1 - (1 - 1/m)^(k n))^k, m in bits."""
    bits = size_bytes * 8
    return (1.0 - math.exp(hashes * expected * math.log1p(-1.0 / bits))) ** hashes


def bloom_hashes(size_bytes: int, expected: int) -> int:
    """BFF's optimal hash count, ceil((m / n) ln 2)."""
    return min(64, max(1, math.ceil(size_bytes * 8 / max(expected, 1) * math.log(2))))


def bloom_sizing(expected: int, fp_rate: float) -> tuple[int, int, float]:
    """(bytes, hash functions, FP rate) of the smallest filter (in 8-byte words) meeting
    `fp_rate` after `expected` insertions: the binary search of
    crates/mdf-dedup/src/bloom_filter.rs."""
    expected = max(expected, 1)

    def fits(words: int) -> bool:
        b = words * 8
        return bloom_false_positive_rate(b, expected, bloom_hashes(b, expected)) <= fp_rate

    hi = max(1, math.ceil(-expected * math.log(fp_rate) / math.log(2) ** 2 / 64 * 2))
    while not fits(hi):
        hi *= 2
    lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    size = hi * 8
    k = bloom_hashes(size, expected)
    return size, k, bloom_false_positive_rate(size, expected, k)


def bloom_plan(
    docs: int, ngrams_per_doc: int, fp_rate: float, shards: int, doc_bytes: int
) -> list[str]:
    """Sizing of `bloom_deduplicator`: the scan task's filter and the key files."""
    ngrams = docs * ngrams_per_doc
    size, k, rate = bloom_sizing(ngrams, fp_rate)
    key_bytes = ngrams * 8 + docs * (KEY_RECORD_BYTES + 4 + 4 * 4)
    return [
        f"bloom dedup of {docs:,} documents × {ngrams_per_doc:,} n-grams = {ngrams:,} n-grams",
        f"Bloom filter: {_size(size)} ({size * 8 / max(ngrams, 1):.2f} bits per n-gram), "
        f"{k} hash functions, expected FP rate {rate:.3g} per n-gram lookup (target {fp_rate:g})",
        "",
        "phase            memory                              disk",
        f"keys (per shard) {_size(key_bytes / shards):>12} per worker        "
        f"{_size(key_bytes):>12} key files (8 B per n-gram) + "
        f"{_size(docs * doc_bytes)} staged rows",
        f"scan (1 task)    {_size(size + key_bytes / shards):>12} (filter + one shard)  "
        "edits files: a few bytes per edited document",
        "filter           one shard's edits               output",
        "",
        "(the scan is one sequential task: the filter must fit in one machine's memory; "
        "max_filter_bytes caps it at the cost of a higher FP rate)",
    ]


def plan(
    docs: int,
    method: str,
    bands: int,
    rows: int,
    partitions: int,
    shards: int,
    workers: int,
    doc_bytes: int,
    dup_fraction: float,
    jaccard_threshold: float | None = None,
    shingles_per_doc: int | None = None,
    memory_mb: int = 1024,
) -> list[str]:
    """Lines of the plan. `jaccard_threshold` (MinHash only) adds the set files and the merge's
    sets: `shingles_per_doc` distinct shingles per document (default: one per 6 bytes, about
    one per word)."""
    verify = method == "minhash" and jaccard_threshold is not None
    shingles = shingles_per_doc if shingles_per_doc is not None else max(doc_bytes // 6, 1)
    set_bytes = SET_RECORD_BYTES + SET_BYTES_PER_SHINGLE * shingles
    keys_per_doc = bands if method == "minhash" else 1
    keys = docs * keys_per_doc
    key_bytes = keys * KEY_RECORD_BYTES
    per_task = keys * GROUP_BYTES_PER_KEY / partitions
    budget = memory_mb * 2**20
    # A group task over executor.dedup_memory_mb splits its partition into pieces on disk.
    pieces = min(math.ceil(per_task / budget), 512)
    group_bytes = min(per_task, per_task / pieces) * workers
    members = docs * dup_fraction * (2 if dup_fraction > 0 else 0)
    out = [f"{method} dedup of {docs:,} documents in {shards} shards, {workers} workers"]
    if method == "minhash":
        thr = (1 / bands) ** (1 / rows)
        out += [
            f"bands × rows = {bands} × {rows} = {bands * rows} hashes; threshold ≈ {thr:.3f}",
            "",
            "Jaccard  P(removed)",
        ]
        out += [
            f"  {s / 100:.2f}    {candidate_probability(s / 100, bands, rows):.4f}"
            for s in range(50, 101, 5)
        ]
    out += [
        "",
        "phase            memory                              disk",
        f"keys (per shard) {_size(key_bytes / shards * workers):>12} in all workers  "
        f"{_size(key_bytes):>12} key files + {_size(docs * doc_bytes)} staged rows (before LZ4)",
        f"group            {_size(group_bytes):>12} in all workers  "
        f"{_size(members * CLUSTER_ENTRY_BYTES):>12} cluster/group files",
    ]
    if pieces > 1:
        out.append(
            f"                 (each partition needs {_size(per_task)}: over dedup_memory_mb "
            f"{memory_mb}, so it is split into {pieces} pieces on disk, "
            f"+{_size(per_task * KEY_RECORD_BYTES / GROUP_BYTES_PER_KEY)} while it runs)"
        )
    if verify:
        out.append(
            f"  + sets         {_size(SET_WRITE_BUFFER * workers):>12} in all workers  "
            f"{_size(set_bytes * docs):>12} set files ({set_bytes:,} B per document)"
        )
    if method == "minhash":
        merge_bytes = members * (UNION_BYTES_PER_DOC + (set_bytes if verify else 0))
        out.append(
            f"merge (1 task)   {_size(merge_bytes):>12}                  "
            f"{_size(members * CLUSTER_ENTRY_BYTES):>12} cluster file"
        )
    out += [
        f"filter           {_size(members * CLUSTER_ENTRY_BYTES / shards * workers):>12} "
        "in all workers  output",
        "",
        f"(assumes {dup_fraction:.0%} of documents are duplicates and {doc_bytes:,} bytes per "
        "document; raise num_partitions for smaller, more parallel group tasks)",
    ]
    if verify:
        out.append(
            f"(jaccard_threshold {jaccard_threshold:g}: {shingles:,} distinct shingles per "
            "document; the merge holds every candidate's set, false positives included; the set "
            "files are streamed, not held)"
        )
    return out
