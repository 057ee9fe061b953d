"""Parity of `gopher_repetition_filter` and `gopher_quality_filter` with datatrove 0.10.1's
GopherRepetitionFilter and GopherQualityFilter (default params, English): the same keep/drop
decision and drop reason on >= 99.5 % of a 5,200-document corpus (real article texts from
shared/data/article-extraction plus seeded variants and edge cases, see gopher_corpus.py)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf
from parity.gopher_corpus import GROUND_TRUTH, build_corpus

datatrove = pytest.importorskip("datatrove", reason="datatrove 0.10.1 is needed for parity tests")
pytest.importorskip("spacy", reason="spaCy is datatrove's English word tokenizer")

from datatrove.data import Document  # noqa: E402
from datatrove.pipeline.filters import (  # noqa: E402
    GopherQualityFilter,
    GopherRepetitionFilter,
)

MIN_AGREEMENT = 0.995
N_DOCS = 5200


@pytest.fixture(scope="module")
def corpus():
    if not GROUND_TRUTH.exists():
        pytest.skip(f"parity corpus not found: {GROUND_TRUTH} (the shared/ folder beside the repo)")
    docs = build_corpus(N_DOCS)
    assert len(docs) >= 5000
    return docs


@pytest.fixture(scope="module")
def theirs(corpus):
    """datatrove's verdict per document: None (kept) or the drop reason, for both filters. The
    quality filter reuses the repetition filter's words (datatrove caches the last 5 texts)."""
    rep, qual = GopherRepetitionFilter(), GopherQualityFilter()

    def verdict(f, doc):
        out = f.filter(Document(text=doc["text"], id=doc["id"]))
        return None if out is True else out[1]

    return {
        "gopher_repetition_filter": {d["id"]: verdict(rep, d) for d in corpus},
        "gopher_quality_filter": {d["id"]: verdict(qual, d) for d in corpus},
    }


def ours(tmp_path, corpus, operator: str) -> dict[str, str | None]:
    src = tmp_path / "in.jsonl"
    if not src.exists():
        with open(src, "w", encoding="utf-8") as f:
            for d in corpus:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    out = tmp_path / operator
    cfg = {
        "data_loader": {"type": "JsonlLoader", "params": {"paths": str(src)}},
        "stages": [{"name": "main", "operators": [{"name": operator}]}],
        "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
        "executor": {"batch_size": 256, "rejected_samples": {"enabled": True}},
    }
    mdf.run(cfg, progress="off")
    verdicts: dict[str, str | None] = {}
    for p in sorted((out / "_mdf" / "rejects").glob("*.jsonl")):
        # JSON Lines: split on "\n" only (str.splitlines would also split on U+2028 etc.)
        for line in filter(None, p.read_text(encoding="utf-8").split("\n")):
            r = json.loads(line)
            verdicts[r["record"]["id"]] = r["reason"]
    files = list(out.glob("part-*.parquet"))
    if files:
        for i in pq.read_table(files, columns=["id"]).column("id").to_pylist():
            assert i not in verdicts, f"{i} is both kept and dropped"
            verdicts[i] = None
    return verdicts


@pytest.mark.parametrize("operator", ["gopher_repetition_filter", "gopher_quality_filter"])
def test_same_decisions_and_reasons_as_datatrove(tmp_path_factory, corpus, theirs, operator):
    tmp = tmp_path_factory.mktemp("gopher")
    mine = ours(tmp, corpus, operator)
    ref = theirs[operator]
    assert set(mine) == set(ref), "every document must be kept or dropped exactly once"
    diffs = [(i, mine[i], ref[i]) for i in ref if mine[i] != ref[i]]
    agreement = 1 - len(diffs) / len(ref)
    dropped = sum(v is not None for v in ref.values())
    print(f"{operator}: {len(ref)} docs, {dropped} dropped by datatrove, agreement {agreement:.4%}")
    for i, a, b in diffs[:50]:
        print(f"  {i}: ours={a!r} datatrove={b!r}")
    assert agreement >= MIN_AGREEMENT
    # the corpus must exercise the rules, not only keep everything
    reasons = {v for v in ref.values() if v}
    assert len(reasons) >= 5, reasons


def test_generated_tokenizer_tables_are_up_to_date(repo):
    """words/tables.rs is generated from spaCy and datatrove: regenerate it when they change."""
    import subprocess
    import sys

    script = repo / "scripts" / "gen_spacy_en_tables.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
