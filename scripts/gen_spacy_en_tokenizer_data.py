"""Dumps spaCy's blank-English tokenizer rules to crates/mdf-text/data/spacy_en_tokenizer.json.

The Rust port in crates/mdf-text/src/spacy_en.rs reads this file at compile time. The script also
writes data/spacy_en_golden.jsonl: seeded tricky strings with spaCy's tokens and sentence count,
which the Rust unit tests compare against. Rerun after a
spaCy upgrade (`pip install spacy && python scripts/gen_spacy_en_tokenizer_data.py`); the parity
tests in tests/parity/ show whether anything changed. spacy.blank("en") needs no model download.
"""

import json
import random
from pathlib import Path

import spacy
from spacy.symbols import ORTH

PIECES = (
    "Hello world the a of and to in is was Mr. Mrs. Dr. Prof. U.S. U.K. e.g. i.e. etc. vs. "
    "a.m. p.m. Jan. Feb. Sept. Minn. Calif. Inc. Ltd. Co. Jr. St. No. "
    "don't can't won't I'm you're it's we'll they've gonna cannot y'all o'clock "
    "3.5 1,000 $10 £5 10% 5km 20kg 3rd 1990s 10:30 2019-05-01 +44 -5 1/2 "
    "https://example.com/a?b=1 www.example.org example.com mail@example.com 8.8.8.8 "
    ":) :( ;) <3 :-) :P C++ ... … -- — – - • * # @user #tag & / \\ | ~ ^ "
    "( ) [ ] { } < > \" ' ` ´ ‘ ’ “ ” « » „ , . ! ? ; : ?! !! ?? .. "
    "well-known A. B. X. USA. ABC. end.Next foo.bar 12.Next (see) [1] [edit] "
    "日本語 中文。 Straße café naïve Ελληνικά русский ١٢٣ ۔ । ؟"
).split(" ") + ["\t", "\n", "\u00a0", "\u3000", "\x1c"]
SEPARATORS = [" ", " ", " ", " ", "", "  ", "\n", "\t"]


def golden(path: Path, nlp) -> None:
    rng = random.Random(1)
    lines = []
    for _ in range(2000):
        parts = []
        for _ in range(rng.randint(1, 14)):
            parts.append(rng.choice(PIECES))
            parts.append(rng.choice(SEPARATORS))
        text = "".join(parts)
        doc = nlp(text)
        rec = {"text": text, "tokens": [t.text for t in doc], "sents": len(list(doc.sents))}
        lines.append(json.dumps(rec, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n")


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
    golden(out.with_name("spacy_en_golden.jsonl"), nlp)


if __name__ == "__main__":
    main()
