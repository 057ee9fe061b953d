"""Parity of `url_filter` (mode: dclm) with DCLM's RW-v2 URL steps 1–4.

The reference below follows text-recipes.md §4.1 (and DCLM's `url_substring_filter` as configured
in `dclm_baseline_refinedweb.yaml` / `refinedweb.yaml`) literally, with Python's own
`urllib.parse.urlparse` and `re`:

1. `urlparse(url).netloc`, lower-cased, every `www` deleted, exact match with the domain list
   (read like DCLM: `splitlines()`, lower-cased);
1b. (RefinedWeb reproduction only) the same key, exact match with the 16 high-quality domains;
2. strict words: the lower-cased URL without `-` and `.`, any word as a substring
   (`re`, IGNORECASE);
3. hard words: `\\b(?:…)\\b` (IGNORECASE) finds a match in the lower-cased URL;
4. soft words: `len(set(findall(...)))` ≥ 2 with the same kind of pattern.

The word lists are the DCLM files mdf ships (crates/mdf-text/assets/url_filter/dclm). Where
`urlparse` raises (DCLM would crash) the reference says "error"; mdf rejects the record.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from urllib.parse import urlparse

from .common import compare_decisions, url_filter_decisions

REPO = Path(__file__).resolve().parents[2]
LISTS = REPO / "crates" / "mdf-text" / "assets" / "url_filter" / "dclm"
N_URLS = 6000

QUALITY = [
    "arxiv.org", "askubuntu.com", "stackoverflow.com", "stackapps.com", "stackexchange.com",
    "mathoverflow.net", "exporter.nih.gov", "ncbi.nlm.nih.gov", "github.com", "irclogs.ubuntu.com",
    "news.ycombinator.com", "courtlistener.com", "reddit.com", "statmt.org", "uspto.gov",
    "wikipedia.org",
]  # fmt: skip
BLOCKED = [
    "bad.com", "bad.com:8080", "user@bad.org", ".evil.net", "spam.co.uk", "bücher.de",
    "xn--bcher-kva.de", "μαιος.gr", "i̇stanbul.tr", "ww.odd.com", "w.odd.com", "shop.",
]  # fmt: skip
BASES = [
    "bad.com", "evil.net", "spam.co.uk", "Bücher.de", "xn--bcher-kva.de", "ΜΑΙΟΣ.gr",
    "İstanbul.tr", "odd.com", "example.org", "news.site.io", "東京.jp", "essex.ac.uk", "shop",
    "1.2.3.4", "localhost", "ſite.com", "tıtle.com",
]  # fmt: skip
NEUTRAL = [
    "news", "about", "index", "page", "blog", "essex", "sussex", "title", "class", "assets",
    "scunthorpe", "analysis", "2024", "home", "café", "москва", "東京", "Search", "NEWS", "docs",
]  # fmt: skip
BRACKETED = [
    "[::1]", "[2001:db8::1]", "[::1", "::1]", "[1.2.3.4]", "[v1.x]", "[fe80::1%eth0]",
    "[::ffff:1.2.3.4]", "[1:2:3:4:5:6:7::]", "[::1.02.3.4]", "[12345::]", "[1::2::3]", "[:1::]",
    "[V1.x]", "[v.x]", "[::1%]", "[g::1]", "[1:2:3:4:5:6:7:8]", "[1:2:3:4:5:6:7:8:9]",
    "[::]", "[0000::00001]", "x[::1]", "[::1]x", "[::1%a%b]", "[vF.::]",
]  # fmt: skip
SCHEMES = ["http://", "https://", "HTTP://", "ftp://", "", "//", "mailto:", "https:/", " http://"]
JOINERS = ["", "-", ".", "_", "/", "1", "é", "\u0300", "%20", "+", "?q=", "#", "&", " "]


def read_list(name: str) -> list[str]:
    # DCLM: `file.read().splitlines()`, then lower-cased.
    return [w.lower() for w in (LISTS / name).read_text(encoding="utf-8").splitlines()]


STRICT = read_list("refinedweb_banned_words_strict_reverse_engineered.txt")
HARD = read_list("refinedweb_banned_words_hard_reverse_engineered.txt")
SOFT = read_list("refinedweb_banned_words_soft_reverse_engineered.txt")


def alternation(words: list[str]) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


class Reference:
    def __init__(self, domains: list[str], quality: bool):
        self.domains = {d.lower() for d in domains}
        self.quality = set(QUALITY) if quality else set()
        self.strict = re.compile(alternation(STRICT), re.IGNORECASE)
        self.hard = re.compile(r"\b" + alternation(HARD) + r"\b", re.IGNORECASE)
        self.soft = re.compile(r"\b" + alternation(SOFT) + r"\b", re.IGNORECASE)

    def __call__(self, url: str | None) -> str:
        if url is None:
            return "error"
        try:
            netloc = urlparse(url).netloc
        except ValueError:
            return "error"
        key = netloc.lower().replace("www", "")
        if key in self.domains:
            return "dclm_domain"
        if key in self.quality:
            return "dclm_quality_domain"
        low = url.lower()
        if self.strict.search(low.replace("-", "").replace(".", "")):
            return "dclm_strict_word"
        if self.hard.search(low):
            return "dclm_hard_word"
        if len(set(self.soft.findall(low))) >= 2:
            return "dclm_soft_words"
        return "keep"


def disguise(rnd: random.Random, word: str) -> str:
    k = rnd.random()
    if k < 0.15:  # dashes and dots between the letters
        return "".join(c + (rnd.choice(["-", ".", ""]) if rnd.random() < 0.3 else "") for c in word)
    if k < 0.25:
        return word.upper()
    if k < 0.3:
        return word.replace("s", "ſ").replace("i", "ı")
    if k < 0.35:
        return word.title()
    return word


def make_urls(seed: int = 4242) -> list[str | None]:
    rnd = random.Random(seed)

    def host() -> str:
        base = rnd.choice(BASES + QUALITY + [f"en.{q}" for q in QUALITY[:4]])
        k = rnd.random()
        if k < 0.25:
            base = (
                rnd.choice(["www.", "WWW.", "wwww.", "www.www.", "wwwww.", "w.ww.", "ww."]) + base
            )
        elif k < 0.32:
            i = rnd.randint(0, len(base))
            base = base[:i] + rnd.choice(["www", "WwW", "ww"]) + base[i:]
        elif k < 0.36:
            base = rnd.choice(BRACKETED)
        elif k < 0.38:
            base = base.replace(".", rnd.choice(["\u2100", "\uff0f", "．", "\u3002"]), 1)
        if rnd.random() < 0.1:
            base = rnd.choice(["user@", "u:p@", "www@", "a@b@", "User@"]) + base
        if rnd.random() < 0.12:
            base += rnd.choice([":80", ":8080", ":", ":443", ":abc"])
        return base

    def word() -> str:
        k = rnd.random()
        if k < 0.12:
            return disguise(rnd, rnd.choice(STRICT))
        if k < 0.3:
            return disguise(rnd, rnd.choice(HARD))
        if k < 0.55:
            return disguise(rnd, rnd.choice(SOFT))
        return rnd.choice(NEUTRAL)

    urls: list[str | None] = []
    for i in range(N_URLS):
        if i % 500 == 7:
            urls.append(rnd.choice([None, "", "   ", "http://", "//"]))
            continue
        parts = []
        for _ in range(rnd.randint(0, 4)):
            w = word()
            if rnd.random() < 0.4:  # glue a neighbour on, with or without a boundary
                w = w + rnd.choice(JOINERS) + rnd.choice(NEUTRAL + ["s", "x", "2", "_"])
            if rnd.random() < 0.2:
                w = rnd.choice(["a", "2", "_", "é", "-", ""]) + w
            parts.append(w)
        path = "/" + rnd.choice(["/", "-", "_", ".", "/"]).join(parts)
        if rnd.random() < 0.15:
            path += "?q=" + word()
        if rnd.random() < 0.05:
            path += "\t\n"
        urls.append(rnd.choice(SCHEMES) + host() + path)
    return urls


def probe_entries(urls, seed: int = 9) -> list[str]:
    """The reference's key (normalised netloc) of a random tenth of the URLs: with them in the
    list, any difference in netloc parsing, lower-casing or `www` deletion changes a decision."""
    rnd = random.Random(seed)
    out = []
    for url in urls:
        if url and rnd.random() < 0.1:
            try:
                key = urlparse(url).netloc.lower().replace("www", "")
            except ValueError:
                continue
            if key.strip() and key == key.strip() and key not in QUALITY:
                out.append(key)
    return out


def mdf_decisions(urls, tmp_path: Path, params: dict) -> list[str]:
    return url_filter_decisions(
        urls, tmp_path, params, lambda i, url: url is None, ("missing_field", "invalid_url")
    )


def compare(tmp_path: Path, quality: bool) -> None:
    urls = make_urls(4242 + quality)
    assert len(urls) >= 5000
    entries = BLOCKED + probe_entries(urls)
    domains_file = tmp_path / "domains.txt"
    domains_file.write_text("\n".join(entries) + "\n", encoding="utf-8")
    ref = Reference(entries, quality)
    theirs = [ref(u) for u in urls]
    params = {"mode": "dclm", "blocklist_paths": [str(domains_file)]}
    if quality:
        params["exclude_quality_sources"] = True
    ours = mdf_decisions(urls, tmp_path, params)
    agree, diffs, counts = compare_decisions(urls, ours, theirs, "reference")
    wanted = {
        "dclm_domain",
        "dclm_strict_word",
        "dclm_hard_word",
        "dclm_soft_words",
        "keep",
        "error",
    }
    if quality:
        wanted.add("dclm_quality_domain")
    assert wanted <= set(counts), counts
    assert agree >= 0.995, diffs[:50]


def test_dclm_mode_matches_the_dclm_baseline_reference(tmp_path):
    compare(tmp_path, quality=False)


def test_dclm_mode_with_rw_quality_domains_matches_the_reference(tmp_path):
    compare(tmp_path, quality=True)
