"""Parity of `url_filter` (mode: fineweb) with datatrove 0.10.1's URLFilter.

Both sides get the same generated URLs (≥ 5,000, seeded), the same small domain and URL
blocklists written by the test, and datatrove's built-in word lists. datatrove's tldextract is
pinned to its bundled Public Suffix List snapshot (no network), which is the list mdf embeds.
A record without a URL fails datatrove's `assert` ("error"); mdf rejects it (`missing_field`).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

url_filter_mod = pytest.importorskip("datatrove.pipeline.filters.url_filter")
pytest.importorskip("tldextract")
pytest.importorskip("ahocorasick")

from datatrove.data import Document  # noqa: E402
from datatrove.utils._import_utils import ASSETS_PATH  # noqa: E402
from tldextract import TLDExtract  # noqa: E402

from .common import compare_decisions, url_filter_decisions  # noqa: E402

N_URLS = 6000

BLOCKED_DOMAINS = [
    "badsite.com",
    "evil.co.uk",
    "shop.spam.net",
    "Mixed.Case.org",
    "xn--bcher-kva.de",
    "例子.中国",
    "blocked.blogspot.com",
    "1.2.3.4",
    "localhost",
    "foo.kawasaki.jp",
]
BLOCKED_URLS = [
    "http://blocked.example.com/page",
    "blocked.example.com/raw",
    "https://news.example.org/a?b=c",
]
SUFFIXES = [
    "com", "org", "net", "co.uk", "com.au", "de", "fr", "jp", "kawasaki.jp", "city.kawasaki.jp",
    "ck", "www.ck", "blogspot.com", "github.io", "中国", "xn--fiqs8s", "unknowntld", "io", "COM",
    "Co.Uk", "museum", "k12.ca.us", "bd", "xn--55qx5d.cn", "公司.cn",
]  # fmt: skip
NEUTRAL = [
    "news", "about", "index", "page", "blog", "article", "essex", "sussex", "hackernews",
    "adulthood", "slots", "weather", "recipes", "python", "data", "2024", "home", "contact",
    "café", "москва", "東京", "search", "Shop", "NEWS",
]  # fmt: skip
SCHEMES = ["http://", "https://", "HTTP://", "ftp://", "", "//", "mailto:", "https:/", "h t://"]


def word_list(name: str) -> list[str]:
    return [w.strip() for w in (Path(ASSETS_PATH) / name).read_text().splitlines() if w.strip()]


def make_urls(seed: int = 1234) -> list[str | None]:
    rnd = random.Random(seed)
    hard = [w for w in word_list("banned_words.txt") if not w.startswith("#")]
    soft = [w for w in word_list("soft_banned_words.txt") if not w.startswith("#")]
    sub = [w.replace(" ", "") for w in word_list("banned_subwords.txt") if not w.startswith("#")]

    def label() -> str:
        return rnd.choice(NEUTRAL[:20] + ["a", "b-c", "x1", "www", "m", "shop", "spam", "evil"])

    def host() -> str:
        k = rnd.random()
        if k < 0.2:
            base = rnd.choice(BLOCKED_DOMAINS)
        elif k < 0.25:
            return rnd.choice(["1.2.3.4", "10.0.0.1", "[::1]", "[2001:db8::1]", "localhost"])
        elif k < 0.3:
            base = "spam.net"
        else:
            base = f"{label()}.{rnd.choice(SUFFIXES)}"
        for _ in range(rnd.choice([0, 0, 1, 1, 2])):
            base = f"{label()}.{base}"
        if rnd.random() < 0.15:
            base = base.upper() if rnd.random() < 0.5 else base.title()
        if rnd.random() < 0.05:
            base += "."
        if rnd.random() < 0.05:
            base = base.replace(".", "。", 1)
        return base

    def path_word() -> str:
        k = rnd.random()
        if k < 0.08:
            w = rnd.choice(hard)
        elif k < 0.2:
            w = rnd.choice(soft)
        elif k < 0.26:
            w = rnd.choice(["my", "the", ""]) + rnd.choice(sub) + rnd.choice(["video", "", "s"])
        else:
            w = rnd.choice(NEUTRAL)
        if rnd.random() < 0.1:
            w = w.upper() if rnd.random() < 0.5 else w.capitalize()
        return w

    urls: list[str | None] = []
    for i in range(N_URLS):
        k = rnd.random()
        if k < 0.01:
            urls.append(None)
            continue
        if k < 0.015:
            urls.append(rnd.choice(["", "://", "http:///x", "http//x.com", " ", "@", "#frag"]))
            continue
        if k < 0.03:
            urls.append(rnd.choice(BLOCKED_URLS))
            continue
        auth = host()
        if rnd.random() < 0.08:
            auth = rnd.choice(["user@", "u:p@", "a@b@"]) + auth
        if rnd.random() < 0.1:
            auth += rnd.choice([":80", ":8080", ":", ":abc"])
        sep = rnd.choice(["/", "-", "_", ".", "/", "%20", "+", "~"])
        path = "/" + sep.join(path_word() for _ in range(rnd.randint(0, 4)))
        if rnd.random() < 0.2:
            path += f"?q={path_word()}&id={i}"
        if rnd.random() < 0.05:
            path += f"#{path_word()}"
        if rnd.random() < 0.05:
            path = path.rstrip("/")
        urls.append(rnd.choice(SCHEMES) + auth + path)
    return urls


def datatrove_decisions(urls, domains_file: Path, urls_file: Path) -> list[str]:
    with open(domains_file) as d, open(urls_file) as u:
        f = url_filter_mod.URLFilter(
            use_integrated_lists=False,
            extra_domains=d.readlines(),
            extra_urls=u.readlines(),
            banned_words=open(Path(ASSETS_PATH) / "banned_words.txt").readlines(),
            soft_banned_words=open(Path(ASSETS_PATH) / "soft_banned_words.txt").readlines(),
            banned_subwords=open(Path(ASSETS_PATH) / "banned_subwords.txt").readlines(),
        )
    # The bundled PSL snapshot only: no network, no cache.
    f.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)
    out = []
    for i, url in enumerate(urls):
        meta = {} if url is None and i % 2 else {"url": url}
        try:
            res = f.filter(Document(text="x", id=str(i), metadata=meta))
        except AssertionError:
            out.append("error")
            continue
        out.append("keep" if res is True else res[1])
    return out


def mdf_decisions(urls, tmp_path: Path, params: dict) -> list[str]:
    return url_filter_decisions(
        urls, tmp_path, params, lambda i, url: url is None and i % 2, ("missing_field",)
    )


def psl_probe_entries(urls, seed: int = 5) -> list[str]:
    """tldextract's registered domain or FQDN of a random tenth of the URLs: with these in the
    blocklist, any difference in public-suffix parsing shows up as a different decision."""
    rnd = random.Random(seed)
    ext = TLDExtract(suffix_list_urls=(), cache_dir=None)
    out = []
    for url in urls:
        if url and rnd.random() < 0.1:
            parts = ext(url)
            entry = parts.top_domain_under_public_suffix if rnd.random() < 0.5 else parts.fqdn
            if entry:
                out.append(entry)
    return out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fineweb_mode_matches_datatrove_url_filter(tmp_path):
    urls = make_urls()
    assert len(urls) >= 5000
    domains_file = tmp_path / "domains"
    entries = BLOCKED_DOMAINS + psl_probe_entries(urls)
    domains_file.write_text("# test blocklist\n" + "\n".join(entries) + "\n")
    urls_file = tmp_path / "urls"
    urls_file.write_text("\n".join(BLOCKED_URLS) + "\n")
    theirs = datatrove_decisions(urls, domains_file, urls_file)
    ours = mdf_decisions(
        urls,
        tmp_path,
        {
            "mode": "fineweb",
            "blocklist_paths": [str(domains_file)],
            "url_blocklist_paths": [str(urls_file)],
        },
    )
    agree, diffs, counts = compare_decisions(urls, ours, theirs, "datatrove")
    # every rule must actually be exercised
    assert {"domain", "subdomain", "url", "hard_blacklisted", "soft_blacklisted"} <= set(counts)
    assert {"blacklisted_subword", "keep", "error"} <= set(counts)
    assert agree >= 0.995, diffs[:50]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.skipif(
    not os.environ.get("MDF_SLOW_PARITY"), reason="set MDF_SLOW_PARITY=1 (loads 4.6M domains)"
)
def test_fineweb_mode_with_the_integrated_ut1_lists(tmp_path, monkeypatch):
    """datatrove with its default (integrated UT1) lists vs mdf pointed at the same files."""
    import tarfile

    with tarfile.open(Path(ASSETS_PATH) / "url_filterblacklistsv0_3_0.tar.gz") as tar:
        tar.extractall(tmp_path / "ut1")
    monkeypatch.setattr(url_filter_mod, "cached_assets_path", lambda **_: str(tmp_path / "ut1"))
    rnd = random.Random(7)
    listed = (tmp_path / "ut1" / "domains").read_text().splitlines()
    listed_urls = (tmp_path / "ut1" / "urls").read_text().splitlines()
    urls = [u for u in make_urls(99) if u] + [
        f"{rnd.choice(['http://', 'https://', ''])}{rnd.choice(['', 'www.', 'm.'])}"
        f"{rnd.choice(listed)}/{rnd.choice(NEUTRAL)}"
        for _ in range(3000)
    ]
    urls += [rnd.choice(listed_urls) for _ in range(200)]
    f = url_filter_mod.URLFilter()
    f.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)
    theirs = []
    for i, url in enumerate(urls):
        res = f.filter(Document(text="x", id=str(i), metadata={"url": url}))
        theirs.append("keep" if res is True else res[1])
    ours = mdf_decisions(
        urls,
        tmp_path,
        {
            "mode": "fineweb",
            "blocklist_paths": [str(tmp_path / "ut1" / "domains")],
            "url_blocklist_paths": [str(tmp_path / "ut1" / "urls")],
        },
    )
    diffs = [
        (i, urls[i], o, t) for i, (o, t) in enumerate(zip(ours, theirs, strict=True)) if o != t
    ]
    print(f"agreement {1 - len(diffs) / len(urls):.4%} on {len(urls)} URLs")
    assert len(diffs) / len(urls) <= 0.005, diffs[:50]
