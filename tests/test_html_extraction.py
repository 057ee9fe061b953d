"""HTML main-content extraction as users rely on it: quality on real pages, the operator in a
pipeline (binary or string HTML), charsets, budgets and the `mdf extract` command."""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf
from conftest import config, rejects_of, stats_of, write_jsonl

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
ARTICLES = SHARED / "data" / "article-extraction"
SCORER = SHARED / "tools" / "score_extraction.py"
MDF = shutil.which("mdf") or "mdf"

# Measured on the 181 pages (docs/extraction.md); the margin absorbs harmless rule changes, a
# real regression falls below it.
MIN_F1 = {False: 0.965, True: 0.965}

PARA = (
    "The committee met on Tuesday to discuss the proposal, which had been debated for months, "
    "and agreed, after a long session, to publish its findings next week."
)


def page(body: str, head: str = "<title>A title</title>") -> str:
    return (
        f"<html><head>{head}</head><body><nav><a href=/>Home</a> <a href=/a>About</a></nav>"
        f"<article>{body}</article><footer>Copyright Example, all rights reserved.</footer>"
        "</body></html>"
    )


def load_scorer():
    spec = importlib.util.spec_from_file_location("score_extraction", SCORER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("favor_precision", [False, True])
def test_quality_on_the_article_extraction_set(favor_precision):
    if not (ARTICLES / "ground-truth.json").exists() or not SCORER.exists():
        pytest.skip(f"article-extraction set or scorer not found under {SHARED}")
    truth = json.loads((ARTICLES / "ground-truth.json").read_text(encoding="utf8"))
    pred = {}
    for key in truth:
        body = gzip.decompress((ARTICLES / "html" / f"{key}.html.gz").read_bytes())
        text = mdf.extract_html(body, favor_precision=favor_precision)["text"]
        pred[key] = {"articleBody": text}
    s = load_scorer().score(truth, pred)
    print(f"favor_precision={favor_precision}: {s}")
    assert s["f1"] >= MIN_F1[favor_precision], s
    assert min(s["precision"], s["recall"]) >= 0.95, s


def test_operator_in_a_pipeline_with_string_html(tmp_path):
    records = [
        {"id": "ok", "url": "https://a.example/1", "html": page(f"<p>{PARA}</p><p>{PARA} 2</p>")},
        {"id": "menu-only", "url": "https://a.example/2", "html": page("")},
        {"id": "deep", "url": "https://a.example/3", "html": "<div>" * 100_000 + "x"},
        {"id": "no-html", "url": "https://a.example/4"},
    ]
    write_jsonl(tmp_path / "in" / "pages.jsonl", records)
    out = tmp_path / "out"
    cfg = config(
        tmp_path / "in" / "*.jsonl",
        out,
        operators=[{"name": "html_extractor", "params": {"include_metadata": True}}],
    )
    (tmp_path / "c.yaml").write_text(json.dumps(cfg))
    mdf.run(str(tmp_path / "c.yaml"), progress="off")
    table = pq.read_table(sorted(out.glob("part-*"))[0]).to_pylist()
    assert [r["id"] for r in table] == ["ok"]
    assert table[0]["text"] == f"{PARA}\n{PARA} 2"
    assert table[0]["title"] == "A title"
    assert "html" not in table[0], "the HTML column is dropped once extracted"
    op = next(o for o in stats_of(out)["operators"] if o["name"] == "html_extractor")
    assert op["dropped"] == {"empty_extraction": 1}
    assert op["errors"] == 2
    rejects = sorted(rejects_of(out), key=lambda r: r["reason"])
    assert [r["reason"] for r in rejects] == ["missing_field", "over_budget"], rejects
    assert rejects[1]["detail"] == "over_budget: nesting deeper than 1024"
    assert rejects[1]["record"]["id"] == "deep"


def test_charsets_and_bad_encodings():
    text = "Съешь же ещё этих мягких французских булок, да выпей чаю. " * 5
    html = page(f"<p>{text}</p><p>{PARA}</p>")
    cp1251 = html.encode("cp1251")
    # From the HTTP header, from <meta>, and by detection with no declaration at all.
    assert (
        text.strip()
        in mdf.extract_html(cp1251, content_type="text/html; charset=windows-1251")["text"]
    )
    meta = page(f"<p>{text}</p>", head='<meta charset="windows-1251">').encode("cp1251")
    assert text.strip() in mdf.extract_html(meta)["text"]
    assert text.strip() in mdf.extract_html(cp1251, url="https://example.ru/")["text"]
    # Invalid UTF-8 under a UTF-8 label: read with the detected encoding, not a crash.
    broken = html.encode("utf-8").replace("ещё".encode(), b"\xe0\xff\xfe")
    assert PARA in mdf.extract_html(broken, content_type="text/html; charset=utf-8")["text"]
    # A binary payload is a reject with a reason.
    with pytest.raises(mdf.DataError, match="undecodable: binary payload"):
        mdf.extract_html(bytes(range(32)) * 200)


def test_budgets_reject_pathological_pages_quickly():
    start = time.monotonic()
    with pytest.raises(mdf.DataError, match="over_budget: 52428800 bytes > max_bytes"):
        mdf.extract_html(b"<p>" + b"a" * (50 * 1024 * 1024 - 3))
    with pytest.raises(mdf.DataError, match="over_budget: nesting deeper than 1024"):
        mdf.extract_html("<div>" * 100_000)
    with pytest.raises(mdf.DataError, match="over_budget: more than 1000 nodes"):
        mdf.extract_html("<span>x</span>" * 5000, max_nodes=1000)
    assert time.monotonic() - start < 30
    with pytest.raises(mdf.ConfigError, match="max_depth"):
        mdf.extract_html("<p>x", max_depth=0)


def test_mdf_extract_command(tmp_path):
    html = page(f"<h2>Section</h2><p>{PARA}</p><ul><li>one item</li></ul>")
    plain = tmp_path / "p.html"
    plain.write_text(html)
    r = subprocess.run(
        [MDF, "extract", str(plain), "--url", "https://x.example/a"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"Section\n{PARA}\n- one item\n"
    zipped = tmp_path / "p.html.gz"
    zipped.write_bytes(gzip.compress(html.encode()))
    r = subprocess.run(
        [MDF, "extract", str(zipped), "--json"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["title"] == "A title"
    r = subprocess.run(
        [MDF, "extract", str(tmp_path / "missing.html")], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1 and "cannot read" in r.stderr
