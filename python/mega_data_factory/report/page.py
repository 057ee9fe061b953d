"""The report page: one self-contained HTML file (inline CSS and SVG, no scripts, no network).

Everything that comes from the data (texts, reasons, names) goes through ``html.escape``.
"""

from __future__ import annotations

import base64
import json
import time
from html import escape
from typing import Any

from . import charts
from .data import RunData, funnel, histograms, pct

#: Characters of a sample's text shown in the report.
SAMPLE_TEXT_CHARS = 1000
#: Other fields of a sample shown beside its text.
SAMPLE_FIELDS = 12

IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF8": "image/gif",
}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212529;
background:#f8f9fa}
header{background:#212529;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header .muted{color:#adb5bd}main{max-width:1100px;margin:0 auto;padding:12px 28px 60px}
section{background:#fff;border:1px solid #dee2e6;border-radius:8px;padding:16px 20px;margin:18px 0}
h2{font-size:17px;margin:0 0 12px}.muted{color:#868e96}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.card{background:#fff;border:1px solid #dee2e6;border-radius:8px;padding:10px 12px}
.card .v{font-size:20px;font-weight:600}.card .k{color:#868e96;font-size:12px}
.good{color:#2f9e44}.fair{color:#f08c00}.bad{color:#e03131}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #e9ecef;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.share{display:inline-block;height:8px;background:#1c7ed6;border-radius:2px;margin-right:6px}
svg text{font-size:12px;fill:#343a40}svg .sm{font-size:11px}svg .muted{fill:#868e96}
svg .lbl{font-weight:600}.hists{display:grid;grid-template-columns:repeat(auto-fill,
minmax(430px,1fr));gap:12px}
details{border:1px solid #e9ecef;border-radius:6px;margin:6px 0;padding:4px 10px}
summary{cursor:pointer;font-weight:600}.sample{border-top:1px solid #f1f3f5;padding:8px 0}
.sample pre{white-space:pre-wrap;word-break:break-word;background:#f8f9fa;padding:8px;margin:4px 0;
max-height:240px;overflow:auto;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
.fields{font-size:12px;color:#495057}.fields b{color:#212529}
img.thumb{max-width:160px;max-height:160px;border:1px solid #dee2e6;border-radius:4px;
image-rendering:auto;margin:4px 8px 4px 0}
"""


def _n(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {seconds % 60:.0f} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def _cards(stats: dict[str, Any]) -> str:
    n_in, n_out = stats["input_records"], stats["output_records"]
    rate = pct(n_out, n_in)
    cls = "good" if rate >= 80 else "fair" if rate >= 50 else "bad"
    wall = stats.get("wall_seconds") or 0.0
    errors = sum(o["errors"] for o in stats["operators"]) + sum(
        (stats.get("input_rejects") or {}).values()
    )
    stages = len({o["stage"] for o in stats["operators"]})
    items = [
        ("input records", _n(n_in), "kpi-input", ""),
        ("output records", _n(n_out), "kpi-output", ""),
        ("pass rate", f"{rate:.1f}%", "kpi-pass", cls),
        ("removed", f"{_n(n_in - n_out)} ({100 - rate:.1f}%)", "kpi-removed", ""),
        ("duration (wall)", _duration(wall), "kpi-wall", ""),
        ("throughput", f"{n_in / wall:,.0f} rec/s" if wall else "-", "kpi-rate", ""),
        ("stages / operators", f"{stages} / {len(stats['operators'])}", "kpi-ops", ""),
        ("errors & bad input", _n(errors), "kpi-errors", "bad" if errors else ""),
        ("shards / workers", f"{stats.get('shards', 0)} / {stats.get('workers', '-')}", "", ""),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card" id="{i}"><div class="v {c}">{escape(v)}</div>'
            f'<div class="k">{escape(k)}</div></div>'
            for k, v, i, c in items
        )
        + "</div>"
    )


def _operator_table(stats: dict[str, Any]) -> str:
    ops = stats["operators"]
    total = sum(o["seconds"] for o in ops) + stats.get("read_seconds", 0.0)
    total += stats.get("write_seconds", 0.0)
    rows = []
    for op in ops:
        share = pct(op["seconds"], total) if total else 0.0
        reasons = ", ".join(
            f"{escape(k)}&nbsp;{v:,}" for k, v in sorted(op["dropped"].items(), key=lambda x: -x[1])
        )
        rps = op["in"] / op["seconds"] if op["seconds"] else 0.0
        rows.append(
            f'<tr class="op-row" data-operator="{escape(op["stage"])}/{escape(op["name"])}">'
            f"<td>{escape(op['stage'])}</td><td>{escape(op['name'])}</td>"
            f'<td class="n">{op["in"]:,}</td><td class="n">{op["out"]:,}</td>'
            f'<td class="n">{pct(op["out"], op["in"]):.1f}%</td><td>{reasons or "-"}</td>'
            f'<td class="n">{op["errors"]:,}</td><td class="n">{rps:,.0f}</td>'
            f'<td class="n">{op["seconds"]:.3f}</td><td><span class="share" '
            f'style="width:{share:.0f}px"></span>{share:.1f}%</td></tr>'
        )
    for label, key in (("read + decode", "read_seconds"), ("encode + write", "write_seconds")):
        secs = stats.get(key, 0.0)
        share = pct(secs, total) if total else 0.0
        rows.append(
            f'<tr class="muted"><td colspan="2">{label}</td><td colspan="6"></td>'
            f'<td class="n">{secs:.3f}</td><td><span class="share" style="width:{share:.0f}px;'
            f'background:#adb5bd"></span>{share:.1f}%</td></tr>'
        )
    return (
        "<table><thead><tr><th>stage</th><th>operator</th><th class=n>in</th><th class=n>out</th>"
        "<th class=n>pass</th><th>dropped by reason</th><th class=n>errors</th>"
        "<th class=n>records/s (per core)</th><th class=n>CPU s</th><th>share of time</th></tr>"
        "</thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _image(value: Any) -> str | None:
    """A thumbnail for an image value (``{"bytes": n, "base64": ...}`` from the engine)."""
    if not isinstance(value, dict) or not isinstance(value.get("base64"), str):
        return None
    try:
        head = base64.b64decode(value["base64"][:24])
    except ValueError:
        return None
    mime = next((m for magic, m in IMAGE_MAGIC.items() if head.startswith(magic)), None)
    if mime is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:
        return None
    return f'<img class="thumb" alt="image sample" src="data:{mime};base64,{value["base64"]}">'


def _sample(record: Any) -> str:
    if not isinstance(record, dict):
        return f'<div class="sample"><pre>{escape(json.dumps(record))}</pre></div>'
    parts = []
    text = record.get("text")
    images = [img for v in record.values() if (img := _image(v))]
    parts.extend(images)
    if isinstance(text, str):
        shown = text[:SAMPLE_TEXT_CHARS]
        more = len(text) - len(shown)
        tail = f"\n[… {more:,} more characters]" if more > 0 else ""
        parts.append(f'<pre class="sample-text">{escape(shown + tail)}</pre>')
    fields = []
    for key, value in record.items():
        if key == "text" or (isinstance(value, dict) and "bytes" in value):
            continue
        shown = value if isinstance(value, str) else json.dumps(value)
        if len(shown) > 200:
            shown = shown[:200] + "…"
        fields.append(f"<b>{escape(key)}</b>: {escape(shown)}")
        if len(fields) >= SAMPLE_FIELDS:
            break
    if fields:
        parts.append(f'<div class="fields">{" · ".join(fields)}</div>')
    return f'<div class="sample">{"".join(parts)}</div>'


def _samples_section(data: RunData) -> str:
    samples = data.samples
    if not samples:
        return (
            "<p class='muted'>No samples recorded (samples.json is missing, or "
            "executor.metrics.debug_samples_per_operator is 0).</p>"
        )
    blocks = []
    for op in samples.get("operators", []):
        for reason, reservoir in sorted(op.get("samples", {}).items()):
            items = reservoir.get("items", [])
            label = f"{op['stage']}/{op['name']}"
            blocks.append(
                f'<details class="reason" data-operator="{escape(label)}" '
                f'data-reason="{escape(reason)}"><summary>{escape(label)} — {escape(reason)} '
                f'<span class="muted">({len(items)} shown of {reservoir.get("seen", 0):,} '
                f"removed)</span></summary>"
                + "".join(_sample(s["record"]) for s in items)
                + "</details>"
            )
    kept = samples.get("kept") or {}
    if kept.get("items"):
        blocks.append(
            f'<details class="kept"><summary>kept records <span class="muted">'
            f"({len(kept['items'])} shown of {kept.get('seen', 0):,})</span></summary>"
            + "".join(_sample(s["record"]) for s in kept["items"])
            + "</details>"
        )
    return "".join(blocks) or "<p class='muted'>Nothing was removed.</p>"


def _timeline(stats: dict[str, Any]) -> str:
    series = [("read", 0)]
    ops = stats["operators"]
    # Stage throughput: records leaving the stage's last operator.
    for i, op in enumerate(ops):
        if i + 1 == len(ops) or ops[i + 1]["stage"] != op["stage"]:
            series.append((f"{op['stage']} (out)", i + 1))
    return charts.timeline_chart(stats, series)


def render(data: RunData) -> str:
    stats = data.stats
    config = data.manifest.get("config") or {}
    loader = (config.get("data_loader") or {}).get("type", "")
    writer = (config.get("data_writer") or {}).get("type", "")
    hists = histograms(stats)
    hist_html = (
        '<div class="hists">'
        + "".join(f'<div class="hist">{charts.histogram_chart(t, h)}</div>' for t, h in hists)
        + "</div>"
        if hists
        else "<p class='muted'>No numeric columns were added.</p>"
    )
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    sections = [
        ("overview", "Overview", _cards(stats)),
        ("funnel", "Data quality funnel", charts.funnel_chart(funnel(stats))),
        ("sankey", "Data flow", charts.sankey_chart(stats)),
        ("operators", "Operators", _operator_table(stats)),
        ("histograms", "Score distributions", hist_html),
        ("timeline", "Throughput over time", _timeline(stats)),
        ("samples", "Samples of removed records, by reason", _samples_section(data)),
    ]
    body = "".join(
        f'<section id="{sid}"><h2>{escape(title)}</h2>{html}</section>'
        for sid, title, html in sections
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>mdf report — {escape(str(data.run_dir))}</title><style>{CSS}</style></head>"
        f"<body><header><h1>mdf run report</h1><div class='muted'>{escape(str(data.run_dir))}"
        f" · {escape(loader)} → {len(stats['operators'])} operators → {escape(writer)} · "
        f"mdf {escape(data.manifest.get('mdf_version', ''))} · generated {generated}</div>"
        f"</header><main>{body}</main></body></html>"
    )
