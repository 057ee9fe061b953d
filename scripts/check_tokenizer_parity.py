"""Token-level parity of `mdf_text::words` with datatrove 0.10.1's English word tokenizer
(spaCy blank English + strip_strings), on the Gopher parity corpus and on random strings made of
the characters the tokenizer rules care about.

    cargo build -p mdf-text --example tokenize
    python scripts/check_tokenizer_parity.py [--docs 5200] [--fuzz 20000] [--bin PATH]

Prints the number of differing documents and the first differences; exits 1 if any differ.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

ALPHABET = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list("aeiouAEIOU01.,.,;:!?'\"()[]{}<>-_/\\@#$%^&*+=~`|")
    + list("…—–’‘“”«»„‚´·°²³µ§¿¡€£¥₹¢©®™•►→✓🙂🚀中文日本語한국어Ωωπжёéüßçñ٣")
    + ["'s", "'S", "’s", "n't", "...", "..", "--", "---", "——", "US$", "C$", "km", "kg", "GB"]
    + ["http://", "https://", "www.", ".com", ".org", ".co.uk", "mailto:", "10.", "192.168."]
    + ["Mr.", "a.m.", "e.g.", "U.S.", ":)", ":-(", "<3", "can't", "I'm", "don't", "Ph.D."]
    + ["\u0301", "\u200b", "\u00ad", "\ufeff"]
)
SEPARATORS = [" "] * 12 + ["", "\n", "  ", "\t", "\u00a0", "\u3000", "\r\n", "\x1c", "\u2028"]


def fuzz_texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = []
        for _ in range(rng.randint(1, 12)):
            words.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 10))))
            words.append(rng.choice(SEPARATORS))
        out.append("".join(words))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=5200)
    ap.add_argument("--fuzz", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
    ap.add_argument("--bin", default=str(Path(target) / "debug" / "examples" / "tokenize"))
    args = ap.parse_args()

    from datatrove.utils.word_tokenizers import load_word_tokenizer
    from parity.gopher_corpus import build_corpus

    texts = [d["text"] for d in build_corpus(args.docs)] if args.docs else []
    texts += fuzz_texts(args.fuzz, args.seed)
    tok = load_word_tokenizer("eng")
    theirs = [tok.word_tokenize(t) for t in texts]
    inp = "".join(json.dumps(t) + "\n" for t in texts).encode()
    proc = subprocess.run([args.bin], input=inp, capture_output=True, check=True)
    ours = [json.loads(line) for line in proc.stdout.decode().split("\n") if line]
    bad = 0
    for t, a, b in zip(texts, ours, theirs, strict=True):
        if a == b:
            continue
        bad += 1
        if bad <= 20:
            sm = difflib.SequenceMatcher(a=b, b=a, autojunk=False)
            for op, i1, i2, j1, j2 in sm.get_opcodes():
                if op != "equal":
                    lo, lo2 = max(0, i1 - 2), max(0, j1 - 2)
                    print(f"{t[:80]!r}\n  spacy {b[lo : i2 + 2]}\n  ours  {a[lo2 : j2 + 2]}")
                    break
    n_tokens = sum(map(len, theirs))
    print(f"{len(texts)} texts, {n_tokens} tokens, {bad} texts differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
