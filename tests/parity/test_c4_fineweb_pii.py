"""Parity of c4_quality_filter, fineweb_quality_filter and pii_formatter with datatrove 0.10.1.

Runs datatrove's C4QualityFilter, FineWebQualityFilter and PIIFormatter and our operators (through
a real pipeline run) on the same ≥ 5,000 documents: the 181 real article texts of
shared/data/article-extraction plus seeded variants of them (boilerplate lines, citations, code,
lists, repeated lines, CJK, short docs, PII, odd line breaks) and hand-written edge cases. For the
rewriting filters both the decision (with its reason) and the rewritten text of kept documents
must agree on ≥ 99.5 % of the documents. datatrove uses spaCy's blank English tokenizer for
English (`pip install spacy`; no model download needed).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

pytest.importorskip("datatrove")
pytest.importorskip("spacy")

from datatrove.data import Document  # noqa: E402
from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter  # noqa: E402
from datatrove.pipeline.formatters import PIIFormatter  # noqa: E402

from .common import ground_truth_texts, run_mdf, write_jsonl  # noqa: E402

MIN_AGREEMENT = 0.995
N_DOCS = 5_000

BOILERPLATE = [
    "Please enable JavaScript to view the comments powered by Disqus.",
    "This website uses cookies to improve your experience.",
    "By continuing you agree to our Terms of Use and Privacy Policy.",
    "Read our cookie policy for details on how we use cookies here.",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
    "function init() { return window.location.href; }",
    "Share this:",
    "Menu",
    "Home | About | Contact",
    "Copyright 2019 All rights reserved",
    "Click here to subscribe to our newsletter!",
    "Posted by admin on March 3, 2019 at 10:15 a.m.",
    "Related articles...",
    "Loading...",
    "- item one",
    "• bullet point item",
    "Sign up",
    "Mr. Smith and Dr. Jones met at 3 p.m. in Washington, D.C. on Jan. 5.",
    "See e.g. the U.S. report (p. 12) vs. the U.K. one. It's long.",
    "Prices rose 3.5% to $1,200.50 in Q3. Analysts weren't surprised!",
    "Visit https://example.com/path?q=1. Or mail us. Thanks.",
    'He said: "Stop." Then he left... Really?! Yes.',
]
NON_ENGLISH = [
    "Der schnelle braune Fuchs springt über den faulen Hund. Das ist gut.",
    "Le renard brun rapide saute par-dessus le chien paresseux. C'est vrai.",
    "这是一个中文句子。这是第二个句子！还有第三个吗？",
    "日本語の文章です。二つ目の文です。",
    "Быстрая коричневая лиса прыгает через ленивую собаку. Это так.",
    "هذه جملة عربية. وهذه جملة أخرى؟",
]
PII = [
    "Contact John.Doe@Example.COM or sales@shop.co.uk for details.",
    "Our server is at 8.8.8.8 and the backup at 10.0.0.1, gateway 192.168.0.1.",
    "Write to a.b-c@sub.domain.org, then ping 1.1.1.1 or 172.16.5.4 twice.",
    "Old host 01.02.03.04 and 256.1.1.1 and 999.10.10.10 and 100.64.3.2.",
    "Mail [me@[192.168.1.1]] and user+tag@host.io; IP 203.0.113.5 is doc.",
    "ติดต่อที่info@example.co.th หรือ 9.9.9.9 _x@y.io ²x@y.io é@x.io 1.2.3.4.5",
]


def load_texts() -> list[str]:
    return [t for t in ground_truth_texts() if t.strip()]


def edge_cases() -> list[str]:
    long_word = "x" * 1001
    return [
        "",
        " ",
        "\n\n\n",
        "\t \u3000",
        "word",
        "one two three.",
        "One two three. Four five six. Seven eight nine. Ten eleven twelve. A b c.",
        "A b c d. E f g h. I j k l. M n o p. Q r s t.",
        "A b c d. E f g h. I j k l. M n o p.",
        "Line one is here.\r\nLine two is here.\r\nLine three. Four. Five! Six?",
        "First line here ok.\x0bSecond line here ok.\x0cThird. Fourth. Fifth.\x1cSixth one.",
        "Para one has words.\u2028Para two has words.\u2029Three. Four. Five. Six.",
        f"{long_word} is long. Two. Three.\nThis line is fine. And two. Three. Four. Five.",
        "Citation here.[1] Another one.[23] Edit link[edit] and [citation needed] ok. Two. Three.",
        "[1]\n[2] a b\nReal text starts here. Then more. And more. Even more. The end.",
        "Ellipsis... everywhere... in this... line... ok... right... yes...",
        "Wait.  . Next one. Then! Another? Fine.",
        "U.S. troops. U.K. talks. E.U. deal. N.A.T.O. summit. Plan A. Plan B.",
        "a.m. p.m. e.g. i.e. etc. vs. Mr. Mrs. Ms. Dr. Prof. Inc. Ltd. Co. Jr. Sr.",
        "Numbers 1. 2. 3. 4. 5. 6. and 3.14 and 1,000.00 and 10.5.2020 here.",
        "Emoji :) test :( here. <3 ok. ;) fine. :-) done. Good. Yes.",
        "Quote \"inside.\" Next 'single.' Next (paren.) Next [bracket.] Next. End.",
        "JAVASCRİPT line has dotted I. Lorem İpsum too. Ok. Ok. Ok. Ok. Ok.",
        "cooKie policy with Kelvin sign here. One. Two. Three. Four. Five.",
        "\n".join(["Short."] * 50),
        "\n".join([f"Item {i}." for i in range(40)]),
        "\n".join(["This identical line repeats itself many times over."] * 5),
        "code: if (x) { y(); }\nMore text here. And here. And here. And here. Done.",
        "\n".join(NON_ENGLISH),
        "\n".join(PII),
    ]


def variant(rng: random.Random, base: str) -> str:
    lines = base.split("\n")
    kind = rng.randrange(12)
    if kind == 0:  # a random window of lines (few-sentence documents)
        a = rng.randrange(len(lines))
        lines = lines[a : a + rng.randint(1, 6)]
    elif kind == 1:  # boilerplate lines inserted
        for _ in range(rng.randint(1, 6)):
            lines.insert(rng.randint(0, len(lines)), rng.choice(BOILERPLATE))
    elif kind == 2:  # repeated lines and paragraphs
        for _ in range(rng.randint(1, 4)):
            lines.insert(rng.randint(0, len(lines)), rng.choice(lines))
    elif kind == 3:  # bullet-heavy list
        lines = [f"{rng.choice(['-', '•', '*', '1.'])} {ln[: rng.randint(5, 60)]}" for ln in lines]
    elif kind == 4:  # line breaks and spacing styles
        sep = rng.choice(["\r\n", "\n\n", "\r", "\u2028", "\n \n", "\x0b"])
        space = rng.choice([" ", "  ", "\t", " \u00a0"])
        return sep.join(ln.replace(" ", space, 3) for ln in lines)
    elif kind == 5:  # words cut into short lines (list_ratio / short_line_ratio)
        words = base.split()
        step = rng.randint(1, 8)
        lines = [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
    elif kind == 6:  # citations and brackets
        marks = ["[1]", "[12]", "[edit]", "[citation needed]", "", ""]
        lines = [ln + rng.choice(marks) for ln in lines]
        if rng.random() < 0.3:
            lines.insert(rng.randint(0, len(lines)), "var x = {a: 1};")
    elif kind == 7:  # non-English / CJK mixed in
        for _ in range(rng.randint(1, 5)):
            lines.insert(rng.randint(0, len(lines)), rng.choice(NON_ENGLISH))
    elif kind == 8:  # PII sprinkled
        for _ in range(rng.randint(1, 4)):
            lines.insert(rng.randint(0, len(lines)), rng.choice(PII))
    elif kind == 9:  # ellipsis-heavy, truncated sentences
        lines = [ln[: rng.randint(10, 120)] + rng.choice(["...", "…", "", "."]) for ln in lines]
    elif kind == 10:  # sentences split into lines at punctuation
        text = base.replace(". ", ".\n") if rng.random() < 0.5 else base.replace(", ", ",\n")
        return text
    else:  # truncated prefix of the document
        return base[: rng.randint(0, max(1, len(base)))]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    texts = load_texts()
    rng = random.Random(20261127)
    out = [{"id": f"gt{i:04d}", "text": t} for i, t in enumerate(texts)]
    out += [{"id": f"edge{i:03d}", "text": t} for i, t in enumerate(edge_cases())]
    i = 0
    while len(out) < N_DOCS:
        out.append({"id": f"var{i:05d}", "text": variant(rng, rng.choice(texts))})
        i += 1
    return out


def run_ours(tmp: Path, docs: list[dict], op: dict) -> tuple[dict[str, str], dict[str, str]]:
    """Runs one operator; returns kept id → text and dropped id → reason."""
    src = tmp / "in.jsonl"
    if not src.exists():
        write_jsonl(src, docs)
    out = tmp / f"out-{op['name']}-{abs(hash(json.dumps(op, sort_keys=True)))}"
    t0 = time.perf_counter()
    kept, dropped = run_mdf(src, out, [op], columns=["id", "text"])
    print(f"mdf {op['name']}: {time.perf_counter() - t0:.1f}s")
    return (
        {i: r["text"] for i, r in kept.items()},
        {i: r["reason"] for i, r in dropped.items()},
    )


def theirs_filter(block, docs: list[dict]) -> dict[str, tuple[str, str]]:
    """datatrove's outcome per id: ("keep", rewritten text) or ("drop", reason)."""
    out = {}
    t0 = time.perf_counter()
    for d in docs:
        doc = Document(text=d["text"], id=d["id"])
        res = block.filter(doc)
        if res is True or (isinstance(res, tuple) and res[0]):
            out[d["id"]] = ("keep", doc.text)
        else:
            out[d["id"]] = ("drop", res[1] if isinstance(res, tuple) else "")
    print(f"datatrove {type(block).__name__}: {time.perf_counter() - t0:.1f}s")
    return out


def compare(docs, ours_kept, ours_dropped, theirs, check_text: bool) -> None:
    bad = []
    for d in docs:
        i = d["id"]
        if i in ours_dropped:
            ours = ("drop", ours_dropped[i])
        elif i in ours_kept:
            ours = ("keep", ours_kept[i] if check_text else "")
        else:
            ours = ("missing", "")
        want = theirs[i]
        if not check_text and want[0] == "keep":
            want = ("keep", "")
        if ours != want:
            bad.append((i, ours, want))
    agreement = 1 - len(bad) / len(docs)
    print(f"{len(docs)} docs, {len(bad)} disagreements, agreement {agreement:.4%}")
    for i, ours, want in bad[:20]:
        print(f"  {i}: ours={ours[0]}:{ours[1][:300]!r}")
        print(f"  {' ' * len(i)}theirs={want[0]}:{want[1][:300]!r}")
    kept = sum(1 for v in theirs.values() if v[0] == "keep")
    print(f"datatrove kept {kept}, dropped {len(docs) - kept}")
    assert agreement >= MIN_AGREEMENT


@pytest.fixture(scope="module")
def c4_fineweb_theirs(corpus) -> dict[str, tuple[str, str]]:
    return theirs_filter(C4QualityFilter(filter_no_terminal_punct=False), corpus)


@pytest.mark.parametrize(
    "params",
    [{"filter_no_terminal_punct": False}, {}, {"split_paragraph": False}],
    ids=["fineweb", "defaults", "sentences"],
)
def test_c4_quality_filter_parity(tmp_path, corpus, c4_fineweb_theirs, params):
    if params == {"filter_no_terminal_punct": False}:
        theirs = c4_fineweb_theirs
    else:
        theirs = theirs_filter(C4QualityFilter(**params), corpus)
    kept, dropped = run_ours(tmp_path, corpus, {"name": "c4_quality_filter", "params": params})
    compare(corpus, kept, dropped, theirs, check_text=True)


def test_fineweb_quality_filter_parity(tmp_path, corpus):
    theirs = theirs_filter(FineWebQualityFilter(), corpus)
    kept, dropped = run_ours(tmp_path, corpus, {"name": "fineweb_quality_filter"})
    compare(corpus, kept, dropped, theirs, check_text=False)


def test_fineweb_quality_filter_on_c4_output(tmp_path, c4_fineweb_theirs):
    """The FineWeb order: the FineWeb filter sees C4's rewritten text."""
    docs = [{"id": i, "text": v[1]} for i, v in c4_fineweb_theirs.items() if v[0] == "keep"]
    theirs = theirs_filter(FineWebQualityFilter(), docs)
    kept, dropped = run_ours(tmp_path, docs, {"name": "fineweb_quality_filter"})
    compare(docs, kept, dropped, theirs, check_text=False)


def test_pii_formatter_parity(tmp_path, corpus):
    """Same replaced spans and strings; datatrove's cycle is reset per document (our semantics)."""
    fmt = PIIFormatter()
    theirs = {}
    continuous = PIIFormatter()
    differs_from_continuous = 0
    for d in corpus:
        fmt.emails_replacer._replace_i = 0
        fmt.ip_replacer._replace_i = 0
        theirs[d["id"]] = ("keep", fmt.format(d["text"]))
        differs_from_continuous += continuous.format(d["text"]) != theirs[d["id"]][1]
    print(f"{differs_from_continuous} docs differ under datatrove's task-wide cycling")
    kept, dropped = run_ours(tmp_path, corpus, {"name": "pii_formatter"})
    assert not dropped
    changed = sum(1 for d in corpus if theirs[d["id"]][1] != d["text"])
    print(f"datatrove changed {changed} documents")
    assert changed > 50
    compare(corpus, kept, {}, theirs, check_text=True)
