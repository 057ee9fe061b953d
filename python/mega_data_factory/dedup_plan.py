"""`mdf dedup-plan`: sizing guidance for the dedup operators before a run — the MinHash S-curve
(probability that a pair at Jaccard s is removed) and the memory and disk of each phase.

The byte counts mirror the engine's on-disk formats (crates/mdf-dedup/src/partition.rs): a key
record is 28 bytes on disk (+ payload, none for the built-in operators) and 76 in a group
task's memory, a cluster entry 20 bytes, and
the merge phase's union-find about 24 bytes per document that has a candidate duplicate."""

from __future__ import annotations

KEY_RECORD_BYTES = 28
# A group task holds the partition's raw records plus a sorted (key, doc, payload slice) view.
GROUP_BYTES_PER_KEY = KEY_RECORD_BYTES + 48
CLUSTER_ENTRY_BYTES = 20
UNION_BYTES_PER_DOC = 24


def candidate_probability(s: float, bands: int, rows: int) -> float:
    return 1.0 - (1.0 - s**rows) ** bands


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1024
    return f"{n:.1f}"


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
) -> list[str]:
    keys_per_doc = bands if method == "minhash" else 1
    keys = docs * keys_per_doc
    key_bytes = keys * KEY_RECORD_BYTES
    group_bytes = keys * GROUP_BYTES_PER_KEY / partitions * workers
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
    if method == "minhash":
        out.append(
            f"merge (1 task)   {_size(members * UNION_BYTES_PER_DOC):>12}                  "
            f"{_size(members * CLUSTER_ENTRY_BYTES):>12} cluster file"
        )
    out += [
        f"filter           {_size(members * CLUSTER_ENTRY_BYTES / shards * workers):>12} "
        "in all workers  output",
        "",
        f"(assumes {dup_fraction:.0%} of documents are duplicates and {doc_bytes:,} bytes per "
        "document; raise num_partitions to lower the group memory)",
    ]
    return out
