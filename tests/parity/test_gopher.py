"""Parity of `gopher_repetition_filter` and `gopher_quality_filter` with datatrove 0.10.1's
GopherRepetitionFilter and GopherQualityFilter (default params, English): the same keep/drop
decision and drop reason on >= 99.5 % of a 5,200-document corpus (real article texts from
shared/data/article-extraction plus seeded variants and edge cases, see gopher_corpus.py)."""

from __future__ import annotations

import pytest

from parity.common import run_mdf, write_jsonl
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
        write_jsonl(src, corpus)
    ops = [{"name": operator}]
    kept, dropped = run_mdf(src, tmp_path / operator, ops, batch_size=256, columns=["id"])
    verdicts: dict[str, str | None] = {i: r["reason"] for i, r in dropped.items()}
    verdicts.update(dict.fromkeys(kept))
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
