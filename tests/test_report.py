"""The run report (report.html), `mdf stats`, `mdf report`, samples and progress.json."""

from __future__ import annotations

import base64
import json
import shutil
import struct
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf
from conftest import config, docs, write_jsonl
from mega_data_factory import cli
from mega_data_factory.report import build_report, funnel, load_run

TESTS = Path(__file__).resolve().parent
SCRIPT_DOC = "<script>document.title='pwned'</script> & <b>bold</b>"


def _report_run(tmp_path: Path, monkeypatch, workers: int = 2, samples: int = 1000) -> Path:
    """A small real run: a length filter, a Python refiner adding `word_count`, a Python
    filter; one short document holds HTML that must show as text."""
    monkeypatch.syspath_prepend(str(TESTS))
    records = docs(600)
    records[7]["text"] = SCRIPT_DOC
    write_jsonl(tmp_path / "in" / "a.jsonl.gz", records[:250])
    write_jsonl(tmp_path / "in" / "b.jsonl.gz", records[250:430])
    write_jsonl(tmp_path / "in" / "c.jsonl", records[430:])
    out = tmp_path / f"out{workers}"
    cfg = config(
        tmp_path / "in",
        out,
        operators=[
            {"name": "text_length_filter", "params": {"min_length": 60}},
            {"name": "word_count"},
            {"name": "keep_ids_ending_with", "params": {"digits": "0123456"}},
        ],
        executor={
            "batch_size": 64,
            "metrics": {"generate_report": True, "debug_samples_per_operator": samples},
        },
        imports=["user_ops.my_filters"],
    )
    stats = mdf.run(cfg, progress="off", workers=workers)
    assert stats["report"] == str(out / "report.html")
    return out


def _browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,1000",
    ):
        options.add_argument(arg)
    binary = shutil.which("chromium")
    if binary:
        options.binary_location = binary
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def test_report_renders_in_chromium_with_the_numbers_of_stats_json(tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By

    run_dir = _report_run(tmp_path, monkeypatch)
    stats = json.loads((run_dir / "_mdf" / "stats.json").read_text())
    driver = _browser()
    try:
        driver.get((run_dir / "report.html").as_uri())
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1200, height + 40)
        shot = tmp_path / "report.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 20_000
        # Funnel: one bar per step, values equal to stats.json, drawn with a real width.
        steps = driver.find_elements(By.CSS_SELECTOR, "#funnel .funnel-step")
        values = [int(s.get_attribute("data-value")) for s in steps]
        assert values == [stats["input_records"]] + [op["out"] for op in stats["operators"]]
        assert values[-1] == stats["output_records"] < values[0]
        widths = [s.find_element(By.TAG_NAME, "rect").size["width"] for s in steps]
        assert widths[0] > 300 and all(w > 0 for w in widths)
        assert widths == sorted(widths, reverse=True)
        assert f"{stats['output_records']:,}" in steps[-1].text
        # Sankey: one red node per (operator, reason) with the dropped count.
        drops = {
            (d.get_attribute("data-operator"), d.get_attribute("data-reason")): int(
                d.get_attribute("data-value")
            )
            for d in driver.find_elements(By.CSS_SELECTOR, "#sankey .sankey-drop")
        }
        expected = {
            (f"{op['stage']}/{op['name']}", reason): n
            for op in stats["operators"]
            for reason, n in op["dropped"].items()
        }
        assert drops == expected and len(drops) == 2
        # Operator table, histograms (the refiner's word_count and text lengths), timeline.
        rows = driver.find_elements(By.CSS_SELECTOR, "#operators tr.op-row")
        assert [r.get_attribute("data-operator") for r in rows] == [
            "main/text_length_filter",
            "main/word_count",
            "main/keep_ids_ending_with",
        ]
        hist_titles = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#histograms svg")]
        assert any("word_count" in t for t in hist_titles)
        assert any("text length" in t for t in hist_titles)
        word_count = stats["operators"][1]["histograms"]["word_count"]
        bars = driver.find_elements(By.CSS_SELECTOR, "#histograms .hist:nth-child(3) rect.hist-bar")
        assert "word_count" in driver.find_elements(By.CSS_SELECTOR, "#histograms .hist")[2].text
        assert sum(int(b.get_attribute("data-value")) for b in bars) == word_count["count"]
        assert word_count["count"] == stats["operators"][1]["in"]
        assert driver.find_elements(By.CSS_SELECTOR, "#timeline polyline.timeline-series")
        # The escaped document: shown as text, never run.
        reason = driver.find_element(By.CSS_SELECTOR, '#samples details[data-reason="too_short"]')
        reason.find_element(By.TAG_NAME, "summary").click()
        texts = [p.text for p in reason.find_elements(By.CSS_SELECTOR, "pre.sample-text")]
        assert SCRIPT_DOC in texts
        assert driver.title != "pwned"
        assert driver.execute_script("return document.querySelectorAll('script').length") == 0
        assert not driver.execute_script(
            "return [...document.querySelectorAll('#samples b')]"
            ".some(b => b.textContent === 'bold')"
        )
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()


def test_samples_and_histograms_do_not_depend_on_worker_count(tmp_path, monkeypatch):
    one = _report_run(tmp_path, monkeypatch, workers=1, samples=5)
    three = _report_run(tmp_path, monkeypatch, workers=3, samples=5)
    samples_1 = json.loads((one / "_mdf" / "samples.json").read_text())
    samples_3 = json.loads((three / "_mdf" / "samples.json").read_text())
    assert samples_1 == samples_3
    kept = samples_1["kept"]
    assert len(kept["items"]) == 5 and kept["seen"] > 5
    too_short = samples_1["operators"][0]["samples"]["too_short"]
    stats_1, stats_3 = (load_run(d).stats for d in (one, three))
    assert too_short["seen"] == stats_1["operators"][0]["dropped"]["too_short"]
    # Each reason's sample holds records removed for that reason.
    assert all(len(s["record"]["text"]) < 60 for s in too_short["items"])
    wrong_digit = samples_1["operators"][2]["samples"]["wrong_digit"]["items"]
    assert len(wrong_digit) == 5
    assert all(s["record"]["id"][-1] in "789" for s in wrong_digit)
    assert all(s["record"]["word_count"] >= 0 for s in wrong_digit)
    assert stats_1["histograms"] == stats_3["histograms"]
    assert [o.get("histograms") for o in stats_1["operators"]] == [
        o.get("histograms") for o in stats_3["operators"]
    ]
    # stats.json stays small: the samples live only in samples.json.
    assert "samples" not in stats_1["operators"][0] and "kept_samples" not in stats_1


def test_progress_file_and_mdf_stats_table(tmp_path, monkeypatch, capsys):
    run_dir = _report_run(tmp_path, monkeypatch)
    progress = json.loads((run_dir / "_mdf" / "progress.json").read_text())
    assert progress["state"] == "done"
    assert progress["records_in"] == 600 and progress["shards_done"] == progress["shards_total"]
    assert progress["stages"][0]["records_out"] == load_run(run_dir).stats["output_records"]
    assert cli.main(["stats", str(run_dir)]) == 0
    table = capsys.readouterr().out.splitlines()
    stats = load_run(run_dir).stats
    kept_after_length = stats["operators"][0]["out"]
    assert table[0].split()[:3] == ["step", "records", "%"]
    assert table[1].split()[:2] == ["input", "600"]
    assert table[2].split()[:2] == ["main/text_length_filter", f"{kept_after_length:,}"]
    assert f"too_short={600 - kept_after_length}" in table[2]
    assert cli.main(["stats", str(tmp_path / "nowhere")]) == 1
    (run_dir / "report.html").unlink()
    assert cli.main(["report", str(run_dir), "-o", str(tmp_path / "r.html")]) == 0
    assert "Data quality funnel" in (tmp_path / "r.html").read_text()


def _tiny_png() -> bytes:
    """A valid 2x2 red PNG, built by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_image_samples_show_as_thumbnails(tmp_path):
    png = _tiny_png()
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "text": ["short", "x" * 80, "tiny"],
            "image": pa.array([png, png, b"not an image"], type=pa.binary()),
        }
    )
    (tmp_path / "in").mkdir()
    pq.write_table(table, tmp_path / "in" / "images.parquet")
    cfg = config(
        tmp_path / "in" / "*.parquet",
        tmp_path / "out",
        loader="ParquetLoader",
        operators=[{"name": "text_length_filter", "params": {"min_length": 50}}],
    )
    mdf.run(cfg, progress="off")
    html = build_report(tmp_path / "out").read_text()
    encoded = base64.b64encode(png).decode()
    assert html.count(
        f'<img class="thumb" alt="image sample" src="data:image/png;base64,{encoded}"'
    )
    assert html.count('class="thumb"') == 2  # the kept and the dropped PNG; not the non-image
    driver = _browser()
    try:
        from selenium.webdriver.common.by import By

        driver.get((tmp_path / "out" / "report.html").as_uri())
        for summary in driver.find_elements(By.CSS_SELECTOR, "#samples summary"):
            summary.click()
        widths = [
            driver.execute_script("return arguments[0].naturalWidth", img)
            for img in driver.find_elements(By.CSS_SELECTOR, "img.thumb")
        ]
        assert widths == [2, 2]
    finally:
        driver.quit()


def test_report_of_a_million_record_run_stays_small(tmp_path):
    """Samples are bounded (per operator and reason) and texts are cut, so a long run with many
    drop reasons still gives a report of a few MB."""
    run_dir = tmp_path / "run"
    (run_dir / "_mdf").mkdir(parents=True)
    n_ops, n_reasons, per_reason = 12, 6, 20
    long_text = ("<p>lorem ipsum & dolor " * 200)[:4096]
    operators, sample_ops = [], []
    remaining = 1_000_000
    for i in range(n_ops):
        dropped = {f"reason_{r}": 1000 + r for r in range(n_reasons)}
        out = remaining - sum(dropped.values())
        bins = {str(16_000 + b): 100 for b in range(400)}
        hist = {"count": 40_000, "nulls": 0, "sum": 1.0, "min": 0.01, "max": 1e4, "bins": bins}
        operators.append(
            {
                "stage": f"s{i // 4}",
                "name": f"op{i}",
                "in": remaining,
                "out": out,
                "dropped": dropped,
                "errors": 0,
                "seconds": 1.5,
                "histograms": {"score": hist},
            }
        )
        reservoirs = {
            reason: {
                "capacity": per_reason,
                "seen": n,
                "items": [
                    {"key": k, "record": {"id": f"{i}-{k}", "text": long_text, "url": "u" * 300}}
                    for k in range(per_reason)
                ],
            }
            for reason, n in dropped.items()
        }
        sample_ops.append({"stage": f"s{i // 4}", "name": f"op{i}", "samples": reservoirs})
        remaining = out
    points = {str(1_700_000_000 + 16 * t): [2000] * (n_ops + 1) for t in range(600)}
    stats = {
        "input_records": 1_000_000,
        "output_records": remaining,
        "input_rejects": {},
        "rejected_records": 0,
        "operators": operators,
        "shards": 400,
        "read_seconds": 10.0,
        "write_seconds": 10.0,
        "timeline": {"bucket_seconds": 16, "points": points},
        "wall_seconds": 9600.0,
        "workers": 16,
    }
    (run_dir / "_mdf" / "stats.json").write_text(json.dumps(stats))
    (run_dir / "_mdf" / "samples.json").write_text(
        json.dumps(
            {"kept": {"capacity": 20, "seen": remaining, "items": []}, "operators": sample_ops}
        )
    )
    assert [s.records for s in funnel(stats)][-1] == remaining
    size = build_report(run_dir).stat().st_size
    assert size < 3_000_000, size


def test_overwrite_removes_the_previous_runs_report(tmp_path, monkeypatch):
    run_dir = _report_run(tmp_path, monkeypatch)
    assert (run_dir / "report.html").exists()
    cfg = config(tmp_path / "in", run_dir, executor={"metrics": {"generate_report": False}})
    stats = mdf.run(cfg, progress="off", overwrite=True)
    assert "report" not in stats or stats["report"] is None
    assert not (run_dir / "report.html").exists()
