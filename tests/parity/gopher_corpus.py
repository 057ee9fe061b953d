"""A deterministic corpus for the Gopher parity tests: the real main texts of
``shared/data/article-extraction`` (read in place, never copied into the repo) and seeded variants
and edge cases that exercise every rule of GopherRepetitionFilter and GopherQualityFilter."""

from __future__ import annotations

import random

from .common import GROUND_TRUTH, ground_truth_texts

__all__ = ["GROUND_TRUTH", "build_corpus"]

FOREIGN = [
    "Le gouvernement a annoncé mercredi une nouvelle réforme des retraites, qui sera présentée "
    "au Parlement à l'automne. Les syndicats ont déjà appelé à la grève.",
    "Die Bundesregierung hat am Mittwoch ein neues Gesetz beschlossen. Es soll die Mieten in "
    "Großstädten begrenzen und den Wohnungsbau fördern.",
    "El presidente anunció ayer que el país invertirá más de mil millones de euros en energías "
    "renovables durante los próximos cinco años.",
    "Правительство объявило о новых мерах поддержки малого бизнеса. Они вступят в силу с "
    "первого января.",
    "政府は水曜日、新しい経済対策を発表した。中小企業への支援を拡大し、賃上げを促す。",
    "国务院常务会议今天研究部署了进一步稳定经济的措施，强调要扩大内需、促进消费。",
    "정부는 오늘 새로운 경제 정책을 발표했다. 중소기업 지원을 확대할 계획이다.",
    "الحكومة أعلنت اليوم عن خطة جديدة لدعم الاقتصاد الوطني وزيادة فرص العمل للشباب.",
    "Η κυβέρνηση ανακοίνωσε σήμερα νέα μέτρα για τη στήριξη της οικονομίας.",
]

CODE = """def tokenize(text: str) -> list[str]:
    # split on whitespace; keep punctuation
    out = []
    for w in text.split():
        if w.endswith((".", ",")):
            out += [w[:-1], w[-1]]
        else:
            out.append(w)
    return out

int main(int argc, char **argv) { printf("%d\\n", argc); return 0; }
#include <stdio.h>
x = {"a": [1, 2, 3], "b": None}  # a dict
"""

TABLE = """| Name | Price | Qty |
|------|-------|-----|
| Apple | $1.20 | 10 |
| Banana | $0.50 | 25 |
| Cherry | €3.00 | 7 |
"""

ODDITIES = [
    "Email me at john.doe@example.com or visit https://www.example.org/path?x=1#top today.",
    "It's 5:30 p.m. and the U.S.A. team (led by Dr. Smith, Ph.D.) won 3-2 :) ;-) <3",
    "Prices: 5km, 10kg, 3.5GB, 100%, $20, US$5, 20°C. and 72°F. rock'n'roll e-mail co-op",
    "Wait... what?! No—really… well---okay ~ fine -- sure. "
    "«Quote» „Zitat“ 『引用』 (nested [brackets]).",
    "### Heading\n#tag #another #third\n- item one\n- item two\n• bullet three\n* star",
    "192.168.0.1 8.8.8.8 localhost:8080 ftp://files.example.net/pub a/b c:d x=y 2^10 1+1=2",
    "I'm, you're, we've, they'd, can't, won't, shouldn't've, y'all, 'cause, ma'am, o'clock",
    "Mr. Mrs. Ms. Jan. Feb. St. Mt. Calif. e.g. i.e. vs. etc. a.m. 10a.m. No. 5",
    "🙂 emoji 🚀 rocket ©2024 ®brand ™ → ← ★ ☆ ✓ ✗ ♥ ♦ ☺ ☹",
    "tab\tseparated\tvalues\x0bvertical\x0cfeed\x1cfile\x1dgroup\x1erecord\x85next\u2028line",
]


_load_real = ground_truth_texts


def _bulletize(text: str, rng: random.Random) -> str:
    mark = rng.choice(["• ", "- ", "  - ", "* ", "-", "•"])
    return "\n".join(mark + ln if ln.strip() else ln for ln in text.split("\n"))


def _ellipsize(text: str, rng: random.Random) -> str:
    end = rng.choice(["...", "…", " ...", "....", ".. "])
    lines = text.split("\n")
    p = rng.random()
    return "\n".join(ln + end if rng.random() < p else ln for ln in lines)


def _repeat_lines(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    if not lines:
        return text
    k = rng.randint(1, max(1, len(lines)))
    extra = [rng.choice(lines) for _ in range(k)]
    out = lines + extra
    rng.shuffle(out)
    return "\n".join(out)


def _repeat_paragraphs(text: str, rng: random.Random) -> str:
    paras = text.split("\n\n")
    k = rng.randint(1, len(paras) + 1)
    out = paras + [rng.choice(paras) for _ in range(k)]
    return "\n\n".join(out)


def _repeat_phrase(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) < 12:
        return text
    i = rng.randrange(len(words) - 10)
    n = rng.randint(2, 10)
    phrase = " ".join(words[i : i + n])
    times = rng.randint(2, 30)
    pos = rng.randrange(len(words))
    return " ".join(words[:pos] + [phrase] * times + words[pos:])


def _hashes(text: str, rng: random.Random) -> str:
    words = text.split()
    p = rng.random() * 0.4
    return " ".join("#" + w if rng.random() < p else w for w in words)


def _symbols(text: str, rng: random.Random) -> str:
    words = text.split()
    p = rng.random() * 0.6
    junk = ["|", "--", "»", "•", "©", "...", "—", "123", "4.5", "(", ")", "&", "**", "==>"]
    out = []
    for w in words:
        out.append(w)
        if rng.random() < p:
            out.append(rng.choice(junk))
    return " ".join(out)


def _strip_stopwords(text: str, rng: random.Random) -> str:
    stop = {"the", "be", "to", "of", "and", "that", "have", "with"}
    keep = rng.randint(0, 3)
    out, seen = [], 0
    for w in text.split(" "):
        if w in stop:
            seen += 1
            if seen > keep:
                continue
        out.append(w)
    return " ".join(out)


def _slice(text: str, rng: random.Random) -> str:
    paras = text.split("\n")
    a = rng.randrange(len(paras))
    b = min(len(paras), a + rng.randint(1, 8))
    return "\n".join(paras[a:b])


def _words_slice(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    n = rng.choice([5, 20, 40, 48, 49, 50, 51, 52, 60, 80, 120])
    a = rng.randrange(max(1, len(words) - n))
    return " ".join(words[a : a + n])


def _long_words(text: str, rng: random.Random) -> str:
    words = text.split()
    if rng.random() < 0.5:
        return " ".join(w * rng.randint(2, 4) for w in words)
    return " ".join(w[:2] for w in words)


def _mix(text: str, rng: random.Random) -> str:
    pieces = [text, rng.choice(FOREIGN) * rng.randint(1, 6), rng.choice(ODDITIES)]
    if rng.random() < 0.3:
        pieces.append(CODE)
    if rng.random() < 0.3:
        pieces.append(TABLE * rng.randint(1, 4))
    rng.shuffle(pieces)
    return rng.choice(["\n", "\n\n", " ", "\r\n"]).join(pieces)


def _case(text: str, rng: random.Random) -> str:
    return text.upper() if rng.random() < 0.5 else text.lower()


def _whitespace(text: str, rng: random.Random) -> str:
    seps = ["\n\n\n", "\n \n", "\r\n\r\n", "\t", "  ", "\u00a0", "\u2028", "\n\n"]
    words = text.split(" ")
    return "".join(w + (rng.choice(seps) if rng.random() < 0.05 else " ") for w in words)


TRANSFORMS = [
    _bulletize,
    _ellipsize,
    _repeat_lines,
    _repeat_paragraphs,
    _repeat_phrase,
    _hashes,
    _symbols,
    _strip_stopwords,
    _slice,
    _words_slice,
    _long_words,
    _mix,
    _case,
    _whitespace,
]

FIXED = [
    "",
    " ",
    "\n\n\n",
    "\t \u3000 \n",
    "word",
    "the and",
    "Hello world.",
    "- a\n- b\n- c\n- d",
    "... ... ...",
    "#" * 200,
    "line\n" * 100,
    "para\n\npara\n\npara\n\n",
    "\n".join(FOREIGN),
    CODE,
    TABLE,
    "\n".join(ODDITIES),
    "The cat sat on the mat. " * 60,
    " ".join(["the", "be", "to", "of", "and", "that", "have", "with"] * 10),
]


def build_corpus(n: int = 5200, seed: int = 1234) -> list[dict]:
    """``n`` documents (at least) with ids, deterministic for a given seed."""
    rng = random.Random(seed)
    real = _load_real()
    docs = [{"id": f"fixed{i:03d}", "text": t} for i, t in enumerate(FIXED)]
    docs += [{"id": f"real{i:03d}", "text": t} for i, t in enumerate(real)]
    docs += [{"id": f"odd{i:03d}", "text": t} for i, t in enumerate(ODDITIES + FOREIGN)]
    i = 0
    while len(docs) < n:
        text = rng.choice(real)
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            text = rng.choice(TRANSFORMS)(text, rng)
        docs.append({"id": f"gen{i:05d}", "text": text})
        i += 1
    return docs
