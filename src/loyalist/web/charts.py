"""Server-side SVG charts: line, bar, histogram and heatmap, rendered by the package itself.

Why our own: no CDN, no JavaScript, nothing to download, and the same markup works in the
console, the portal and e-mail reports. Each chart is a `<figure>` with an SVG that has
`role="img"`, a `<title>` and a `<desc>` (read by screen readers), plus a collapsible data table
holding the exact numbers — the text alternative and the way to copy values.
Colours are presentation attributes (not inline styles), so the strict CSP still applies.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup, escape

PALETTE = ("#0b5cad", "#b00020", "#1e6b34", "#6f42c1", "#8a5a00")
INK = "#1a1a1a"
MUTED = "#555555"
GRID = "#d9dee3"

Fmt = Callable[[float], str]


def fmt_number(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}".rstrip("0").rstrip(".")


def fmt_pct(v: float) -> str:
    return f"{v * 100:.1f}%"


def fmt_money(v: float) -> str:
    return f"{v:,.0f}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "chart"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _figure(slug: str, title: str, desc: str, width: int, height: int, body: str, table: str) -> Markup:
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
           f'aria-labelledby="{slug}-t {slug}-d" font-family="system-ui, sans-serif" font-size="11">'
           f'<title id="{slug}-t">{escape(title)}</title><desc id="{slug}-d">{escape(desc)}</desc>{body}</svg>')
    return Markup(f'<figure class="chart" id="{slug}">{svg}<figcaption>{escape(desc)}</figcaption>'
                  f'<details class="data"><summary>Data table: {escape(title)}</summary>{table}</details></figure>')


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th scope=\"col\">{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def line_chart(labels: Sequence[str], series: dict[str, Sequence[float | None]], *, title: str, desc: str,
               fmt: Fmt = fmt_number, width: int = 640, height: int = 240, y_max: float | None = None) -> Markup:
    """One line per series over the same x labels; None values break the line."""
    slug = _slug(title)
    left, right, top, bottom = 56, 12, 12, 44
    legend_h = 16 * max(0, len(series) - 1) if len(series) > 1 else 0
    plot_w, plot_h = width - left - right, height - top - bottom - legend_h
    values = [v for s in series.values() for v in s if v is not None]
    top_value = y_max if y_max is not None else _nice_max(max(values) if values else 1.0)
    n = max(len(labels), 1)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * (v / top_value if top_value else 0)

    parts: list[str] = []
    for k in range(5):
        v = top_value * k / 4
        yy = y(v)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" fill="{MUTED}">{escape(fmt(v))}</text>')
    step = max(1, math.ceil(n / 10))
    for i, label in enumerate(labels):
        if i % step == 0 or i == n - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="{MUTED}">'
                         f'{escape(label)}</text>')
    for idx, (name, vals) in enumerate(series.items()):
        colour = PALETTE[idx % len(PALETTE)]
        path, pen = [], "M"
        for i, v in enumerate(vals):
            if v is None:
                pen = "M"
                continue
            path.append(f"{pen}{x(i):.1f},{y(v):.1f}")
            pen = "L"
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"/>')
        if path:
            parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if len(series) > 1:
            ly = height - 10 - 16 * (len(series) - 1 - idx)
            parts.append(f'<rect x="{left}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
                         f'<text x="{left + 14}" y="{ly}" fill="{INK}">{escape(name)}</text>')
    rows = [[label, *[("—" if s[i] is None else fmt(s[i])) for s in series.values()]]  # type: ignore[arg-type]
            for i, label in enumerate(labels)]
    return _figure(slug, title, desc, width, height, "".join(parts), _table(["", *series.keys()], rows))


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, desc: str, fmt: Fmt = fmt_number,
              width: int = 640, height: int = 240, x_title: str | None = None) -> Markup:
    """Vertical bars with their value on top."""
    slug = _slug(title)
    left, right, top, bottom = 56, 12, 16, 44 if x_title is None else 58
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max((v for _, v in items), default=1.0))
    n = max(len(items), 1)
    slot = plot_w / n
    parts: list[str] = []
    for k in range(5):
        v = top_value * k / 4
        yy = top + plot_h - plot_h * v / top_value
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" fill="{MUTED}">{escape(fmt(v))}</text>')
    step = max(1, math.ceil(n / 12))
    for i, (label, v) in enumerate(items):
        h = plot_h * (v / top_value) if top_value else 0
        bx = left + i * slot + slot * 0.1
        parts.append(f'<rect x="{bx:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" '
                     f'fill="{PALETTE[0]}"><title>{escape(label)}: {escape(fmt(v))}</title></rect>')
        if i % step == 0:
            parts.append(f'<text x="{bx + slot * 0.4:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                         f'fill="{MUTED}">{escape(label)}</text>')
    if x_title:
        parts.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" fill="{INK}">'
                     f'{escape(x_title)}</text>')
    return _figure(slug, title, desc, width, height, "".join(parts),
                   _table(["", "value"], [[label, fmt(v)] for label, v in items]))


def histogram(values: Sequence[float], *, title: str, desc: str, bins: int = 20, fmt: Fmt = fmt_money,
              width: int = 640, height: int = 240, x_title: str | None = None, clip_quantile: float = 0.99
              ) -> Markup:
    """Counts per equal-width bin; the long right tail above `clip_quantile` is put in the last bin
    (labelled "+"), so one whale does not squash every other bar into the first bin."""
    data = sorted(float(v) for v in values if v is not None and math.isfinite(float(v)))
    if not data:
        return bar_chart([], title=title, desc=desc, width=width, height=height)
    lo = min(0.0, data[0])
    hi = data[min(len(data) - 1, int(clip_quantile * (len(data) - 1)))]
    if hi <= lo:
        hi = lo + 1.0
    width_bin = (hi - lo) / bins
    counts = [0] * bins
    for v in data:
        counts[min(bins - 1, max(0, int((v - lo) / width_bin)))] += 1
    items = [(f"{fmt(lo + i * width_bin)}" + ("+" if i == bins - 1 else ""), float(c)) for i, c in enumerate(counts)]
    return bar_chart(items, title=title, desc=desc, fmt=fmt_number, width=width, height=height, x_title=x_title)


def _mix(a: str, b: str, t: float) -> str:
    ca = [int(a[i:i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb, strict=True))


def luminance(colour: str) -> float:
    """Relative luminance (WCAG 2) of #rrggbb."""
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def heatmap(row_labels: Sequence[str], col_labels: Sequence[str], matrix: Sequence[Sequence[float | None]], *,
            title: str, desc: str, fmt: Fmt = fmt_pct, width: int = 640, max_value: float = 1.0) -> Markup:
    """A grid of cells shaded by value (0..max_value); each cell also prints its value, with the
    text colour picked for contrast against the cell."""
    slug = _slug(title)
    left, top = 70, 26
    cols = max(len(col_labels), 1)
    cell_w = (width - left - 8) / cols
    cell_h = 18
    height = top + cell_h * len(row_labels) + 8
    parts: list[str] = []
    for j, label in enumerate(col_labels):
        parts.append(f'<text x="{left + j * cell_w + cell_w / 2:.1f}" y="{top - 8}" text-anchor="middle" '
                     f'fill="{MUTED}">{escape(label)}</text>')
    for i, label in enumerate(row_labels):
        y = top + i * cell_h
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" fill="{MUTED}">{escape(label)}</text>')
        for j in range(cols):
            v = matrix[i][j] if j < len(matrix[i]) else None
            if v is None:
                continue
            t = max(0.0, min(1.0, v / max_value if max_value else 0.0))
            fill = _mix("#f3f5f7", "#0b3d75", t)
            ink = "#ffffff" if contrast(fill, "#ffffff") >= contrast(fill, INK) else INK
            x = left + j * cell_w
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{cell_w - 1:.1f}" height="{cell_h - 1}" fill="{fill}">'
                         f'<title>{escape(label)}, {escape(col_labels[j])}: {escape(fmt(v))}</title></rect>')
            if cell_w >= 30:
                parts.append(f'<text x="{x + cell_w / 2:.1f}" y="{y + 13}" text-anchor="middle" fill="{ink}" '
                             f'font-size="10">{escape(fmt(v))}</text>')
    rows = [[label, *[("" if j >= len(matrix[i]) or matrix[i][j] is None else fmt(matrix[i][j]))  # type: ignore[arg-type]
                      for j in range(cols)]] for i, label in enumerate(row_labels)]
    return _figure(slug, title, desc, width, height, "".join(parts), _table(["", *col_labels], rows))
