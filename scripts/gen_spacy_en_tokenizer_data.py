"""Dumps spaCy's blank-English tokenizer rules to crates/mdf-text/data/spacy_en_tokenizer.json.

The Rust port in crates/mdf-text/src/spacy_en.rs reads this file at compile time. Rerun after a
spaCy upgrade (`pip install spacy && python scripts/gen_spacy_en_tokenizer_data.py`); the parity
tests in tests/parity/ show whether anything changed. spacy.blank("en") needs no model download.
"""

import json
from pathlib import Path

import spacy
from spacy.symbols import ORTH


def main() -> None:
    nlp = spacy.blank("en")
    tok = nlp.tokenizer
    rules = {}
    for orth, pieces in sorted(tok.rules.items()):
        rules[orth] = [p[ORTH] if ORTH in p else p["ORTH"] for p in pieces]
    sentencizer = nlp.add_pipe("sentencizer")
    data = {
        "spacy_version": spacy.__version__,
        "prefix": tok.prefix_search.__self__.pattern,
        "suffix": tok.suffix_search.__self__.pattern,
        "infix": tok.infix_finditer.__self__.pattern,
        "url": tok.url_match.__self__.pattern,
        "punct_chars": sorted(sentencizer.punct_chars),
        "rules": rules,
    }
    out = Path(__file__).resolve().parents[1] / "crates/mdf-text/data/spacy_en_tokenizer.json"
    out.write_text(json.dumps(data, ensure_ascii=False, indent=0, sort_keys=True) + "\n")
    print(f"wrote {out} (spaCy {spacy.__version__}, {len(rules)} special cases)")


if __name__ == "__main__":
    main()
