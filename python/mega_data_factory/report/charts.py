"""Inline SVG charts: no JavaScript and no external files, so a report opens offline, anywhere.

Every chart element that carries a number also carries it in a ``data-value`` attribute, so
tests (and scripts) can read the numbers back from the page.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from .data import FunnelStep, bin_bounds, pct

KEPT = "#2f9e44"
DROPPED = "#e03131"
NEUTRAL = "#1c7ed6"
PALETTE = ["#1c7ed6", "#f08c00", "#9c36b5", "#2f9e44", "#e8590c", "#0c8599", "#c2255c"]


def _fmt(n: float) -> str:
    if abs(n) >= 1e9:
        return f"{n / 1e9:.2f}G"
    if abs(n) >= 1e6:
        return f"{n / 1e6:.2f}M"
    if abs(n) >= 1e4:
        return f"{n / 1e3:.1f}k"
    if float(n).is_integer():
        return f"{int(n):,}"
    return f"{n:.3g}"


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="100%" style="max-width:{width:.0f}px" role="img" aria-label="{escape(label)}">'
        + "".join(body)
        + "</svg>"
    )


def funnel_chart(steps: list[FunnelStep]) -> str:
    """Horizontal bars centred on one axis, one per step, with % of input and % of previous."""
    width, label_w, row_h = 960, 260, 34
    bar_w = width - label_w - 230
    first = steps[0].records or 1
    body = []
    previous = steps[0].records
    for i, step in enumerate(steps):
        y = 10 + i * row_h
        w = max(1.0, bar_w * step.records / first)
        x = label_w + (bar_w - w) / 2
        colour = NEUTRAL if i == 0 else KEPT
        tip = (
            f"{step.label}: {step.records:,} records, {pct(step.records, first):.1f}% of input, "
            f"{pct(step.records, previous):.1f}% of previous"
        )
        body.append(
            f'<g class="funnel-step" data-label="{escape(step.label)}" '
            f'data-value="{step.records}"><title>{escape(tip)}</title>'
            f'<text x="{label_w - 10}" y="{y + 20}" text-anchor="end" class="lbl">'
            f"{escape(step.label)}</text>"
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" rx="3" '
            f'fill="{colour}"/>'
            f'<text x="{label_w + bar_w + 10}" y="{y + 20}" class="num">{step.records:,} '
            f'<tspan class="muted">{pct(step.records, first):.1f}% · '
            f"{pct(step.records, previous):.1f}% prev</tspan></text></g>"
        )
        previous = step.records
    return _svg(width, 20 + len(steps) * row_h, body, "quality funnel")


def _ribbon(x0: float, y0: float, x1: float, y1: float, h0: float, h1: float) -> str:
    """A filled band from the segment (x0, y0..y0+h0) to (x1, y1..y1+h1)."""
    xm = (x0 + x1) / 2
    return (
        f"M{x0:.1f},{y0:.1f} C{xm:.1f},{y0:.1f} {xm:.1f},{y1:.1f} {x1:.1f},{y1:.1f} "
        f"L{x1:.1f},{y1 + h1:.1f} C{xm:.1f},{y1 + h1:.1f} {xm:.1f},{y0 + h0:.1f} "
        f"{x0:.1f},{y0 + h0:.1f} Z"
    )


def sankey_chart(stats: dict[str, Any]) -> str:
    """Records flowing from the input through each operator to the output; at each operator the
    removed records branch off (red) into one node per drop reason."""
    ops = stats["operators"]
    n_in = stats["input_records"] or 1
    band = 220.0
    scale = band / n_in
    col_w, node_w, top = 150.0, 14.0, 48.0
    width = 60 + col_w * (len(ops) + 1) + 120
    body: list[str] = []
    labels = ["input"] + [f"{o['stage']}/{o['name']}" for o in ops] + ["output"]
    # Records arriving at each node, and records leaving it along the main flow.
    arriving = [stats["input_records"]] + [o["in"] for o in ops] + [stats["output_records"]]
    leaving = [stats["input_records"]] + [o["out"] for o in ops]
    xs = [40 + i * col_w for i in range(len(labels))]
    last = len(labels) - 1
    for i, (x, label, n) in enumerate(zip(xs, labels, arriving, strict=True)):
        colour = NEUTRAL if i == 0 else (KEPT if i == last else "#495057")
        body.append(
            f'<g class="sankey-node" data-label="{escape(label)}" data-value="{n}">'
            f"<title>{escape(label)}: {n:,} records</title>"
            f'<rect x="{x:.1f}" y="{top}" width="{node_w}" height="{max(2.0, n * scale):.1f}" '
            f'fill="{colour}"/>'
            # Labels alternate between two rows so that long names do not overlap.
            f'<text x="{x + node_w / 2:.1f}" y="{top - 8 - 16 * (i % 2)}" text-anchor="middle" '
            f'class="lbl sm">{escape(_short(label, 34))}</text></g>'
        )
    sink_top = top + band + 40
    max_y = sink_top
    for i in range(last):
        kept = leaving[i]
        h = kept * scale
        body.append(
            f'<path class="sankey-link" data-value="{kept}" d="'
            f'{_ribbon(xs[i] + node_w, top, xs[i + 1], top, h, h)}" fill="{KEPT}" '
            f'fill-opacity="0.35"><title>{kept:,} kept</title></path>'
        )
        if i == 0:
            continue
        op = ops[i - 1]
        reasons = dict(op["dropped"])
        if op["errors"]:
            reasons["errors"] = op["errors"]
        y_from = top + op["out"] * scale
        y_sink = sink_top
        x_sink = xs[i] + col_w * 0.55
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            h = max(1.5, n * scale)
            body.append(
                f'<path d="{_ribbon(xs[i] + node_w, y_from, x_sink, y_sink, n * scale, h)}" '
                f'fill="{DROPPED}" fill-opacity="0.35"/>'
                f'<g class="sankey-drop" data-operator="{escape(labels[i])}" '
                f'data-reason="{escape(reason)}" data-value="{n}">'
                f"<title>{escape(labels[i])}: {escape(reason)}: {n:,} removed</title>"
                f'<rect x="{x_sink:.1f}" y="{y_sink:.1f}" width="{node_w}" height="{h:.1f}" '
                f'fill="{DROPPED}"/>'
                f'<text x="{x_sink + node_w + 4:.1f}" y="{y_sink + h / 2 + 4:.1f}" class="sm">'
                f"{escape(_short(reason, 22))} {_fmt(n)}</text></g>"
            )
            y_from += n * scale
            y_sink += h + 16
        max_y = max(max_y, y_sink)
    return _svg(width, max_y + 10, body, "data flow sankey")


def _short(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def histogram_chart(title: str, hist: dict[str, Any], bars: int = 30) -> str:
    """Bars over [min, max] (log axis when the values span more than two decades)."""
    width, height, left, bottom = 440, 190, 48, 36
    lo, hi = hist["min"], hist["max"]
    log = lo > 0 and hi / lo > 100

    def position(x: float) -> float:
        if hi <= lo:
            return 0.0
        if log:
            return (math.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return (x - lo) / (hi - lo)

    # Each fixed bin's count is spread over the bars it overlaps (integer-valued columns have
    # bins holding several integers), then rounded so that the bars still add up to the count.
    shares = [0.0] * bars
    for key, n in hist["bins"].items():
        b_lo, b_hi = (min(max(b, lo), hi) for b in bin_bounds(int(key)))
        p0, p1 = position(b_lo), position(b_hi)
        first, last = min(bars - 1, int(p0 * bars)), min(bars - 1, int(p1 * bars))
        if p1 - p0 < 1e-12 or first == last:
            shares[first] += n
            continue
        for i in range(first, last + 1):
            overlap = min(p1, (i + 1) / bars) - max(p0, i / bars)
            shares[i] += n * max(overlap, 0.0) / (p1 - p0)
    counts = [math.floor(x) for x in shares]
    by_remainder = sorted(range(bars), key=lambda i: counts[i] - shares[i])
    for i in by_remainder[: round(sum(shares)) - sum(counts)]:
        counts[i] += 1
    peak = max(counts) or 1
    plot_w, plot_h = width - left - 10, height - bottom - 24
    bw = plot_w / bars
    body = [f'<text x="{left}" y="14" class="lbl">{escape(title)}</text>']
    for i, n in enumerate(counts):
        h = plot_h * n / peak
        x = left + i * bw
        if log:
            a = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / bars)
            b = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * (i + 1) / bars)
        else:
            a, b = lo + (hi - lo) * i / bars, lo + (hi - lo) * (i + 1) / bars
        body.append(
            f'<rect class="hist-bar" data-value="{n}" x="{x + 0.5:.1f}" '
            f'y="{24 + plot_h - h:.1f}" width="{max(bw - 1, 0.5):.1f}" height="{h:.1f}" '
            f'fill="{NEUTRAL}"><title>{_fmt(a)} – {_fmt(b)}: {n:,}</title></rect>'
        )
    axis_y = 24 + plot_h
    body.append(
        f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" stroke="#868e96"/>'
        f'<text x="{left}" y="{axis_y + 14}" class="sm">{_fmt(lo)}</text>'
        f'<text x="{left + plot_w}" y="{axis_y + 14}" text-anchor="end" class="sm">'
        f"{_fmt(hi)}{' (log)' if log else ''}</text>"
        f'<text x="{left - 4}" y="30" text-anchor="end" class="sm">{_fmt(peak)}</text>'
    )
    mean = hist["sum"] / hist["count"] if hist["count"] else 0.0
    body.append(
        f'<text x="{left}" y="{height - 4}" class="sm muted">n={hist["count"]:,} '
        f"mean={_fmt(mean)} nulls={hist['nulls']:,}</text>"
    )
    return _svg(width, height, body, title)


def timeline_chart(stats: dict[str, Any], series: list[tuple[str, int]]) -> str:
    """Records per second over the run: one line per series (name, index into the timeline's
    count vectors)."""
    tl = stats.get("timeline") or {}
    points = sorted((int(t), c) for t, c in (tl.get("points") or {}).items())
    width, height, left, bottom = 960, 240, 64, 30
    if not points:
        return "<p class='muted'>No timeline recorded.</p>"
    step = tl.get("bucket_seconds", 1) or 1
    t0 = points[0][0]
    t_end = points[-1][0] + step
    span = max(t_end - t0, step)
    rates = {
        name: [(t - t0, (c[idx] if idx < len(c) else 0) / step) for t, c in points]
        for name, idx in series
    }
    peak = max((r for vals in rates.values() for _, r in vals), default=1.0) or 1.0
    plot_w, plot_h = width - left - 180, height - bottom - 10
    body = []
    for i in range(5):
        y = 10 + plot_h * i / 4
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            f'stroke="#e9ecef"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'class="sm">{_fmt(peak * (4 - i) / 4)}/s</text>'
        )
    for k, (name, vals) in enumerate(rates.items()):
        colour = PALETTE[k % len(PALETTE)]
        coords = []
        for dt, r in vals:
            for edge in (dt, dt + step):  # a step line: each bucket is a flat segment
                x = left + plot_w * edge / span
                coords.append(f"{x:.1f},{10 + plot_h * (1 - r / peak):.1f}")
        body.append(
            f'<polyline class="timeline-series" data-label="{escape(name)}" '
            f'points="{" ".join(coords)}" fill="none" stroke="{colour}" stroke-width="2"/>'
            f'<rect x="{left + plot_w + 16}" y="{14 + 18 * k}" width="12" height="4" '
            f'fill="{colour}"/><text x="{left + plot_w + 34}" y="{20 + 18 * k}" class="sm">'
            f"{escape(_short(name, 24))}</text>"
        )
    body.append(
        f'<text x="{left}" y="{height - 6}" class="sm">0 s</text>'
        f'<text x="{left + plot_w}" y="{height - 6}" text-anchor="end" class="sm">'
        f"{span:,} s (buckets of {step} s)</text>"
    )
    return _svg(width, height, body, "throughput timeline")
