"""Small SVG charts made on the server (``huashu report``): bars and lines with Chinese labels.

Plain SVG 1.1 text, no dependency: any browser or image viewer shows it, offline. Text uses
the CJK fonts a machine is likely to have and falls back to its sans-serif.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

FONT = (
    "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei','WenQuanYi Micro Hei',sans-serif"
)
# Colour-blind-safe (Okabe–Ito), one per series.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
WIDTH = 760


def _svg(height: int, title: str, body: list[str]) -> str:
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family={quoteattr(FONT)} font-size="13" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="16" y="28" font-size="17" font-weight="bold" fill="#222">{escape(title)}</text>',
        *body,
        "</svg>",
        "",
    ])  # fmt: skip


def _empty(title: str, note: str) -> str:
    return _svg(120, title, [f'<text x="16" y="72" fill="#666">{escape(note)}</text>'])


def _shorten(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def horizontal_bars(
    title: str,
    rows: Sequence[tuple[str, float]],
    *,
    unit: str = "",
    percent: bool = False,
    empty: str = "无数据",
) -> str:
    """One bar per (label, value), largest scale at the longest bar."""
    if not rows:
        return _empty(title, empty)
    left, right, top, step = 220, 80, 50, 26
    height = top + step * len(rows) + 20
    most = max((value for _, value in rows), default=0) or 1
    scale = 1.0 if percent else most
    body = []
    for n, (label, value) in enumerate(rows):
        y = top + n * step
        length = (WIDTH - left - right) * (value / scale if scale else 0)
        shown = f"{value * 100:.1f}%" if percent else f"{value:g}{unit}"
        body += [
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" fill="#222">'
            f"{escape(_shorten(label))}</text>",
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{length:.1f}" height="{step - 8}" '
            f'fill="{COLOURS[0]}"><title>{escape(label)}: {escape(shown)}</title></rect>',
            f'<text x="{left + length + 6:.1f}" y="{y + 15}" fill="#444">{escape(shown)}</text>',
        ]
    return _svg(height, title, body)


def column_bars(title: str, labels: Sequence[str], values: Sequence[float], *, empty: str = "无数据") -> str:
    """One column per label (days along the bottom)."""
    if not labels:
        return _empty(title, empty)
    left, bottom, top, height = 56, 70, 50, 320
    plot = height - top - bottom
    width = (WIDTH - left - 20) / len(labels)
    most = max(values, default=0) or 1
    body = _y_axis(left, top, plot, most, percent=False)
    for n, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = left + n * width
        bar = plot * value / most
        body.append(
            f'<rect class="bar" x="{x + width * 0.15:.1f}" y="{top + plot - bar:.1f}" '
            f'width="{width * 0.7:.1f}" height="{bar:.1f}" fill="{COLOURS[1]}">'
            f"<title>{escape(label)}: {value:g}</title></rect>"
        )
        body.append(_x_label(x + width / 2, top + plot, label, n, len(labels)))
    return _svg(height, title, body)


def lines(
    title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], *, empty: str = "无数据"
) -> str:
    """One line per series over the labels (shares, 0–100 %); a None is a gap in its line."""
    if not labels or not series:
        return _empty(title, empty)
    left, bottom, top, height = 56, 90, 50, 360
    plot = height - top - bottom
    width = (WIDTH - left - 20) / max(len(labels) - 1, 1)
    body = _y_axis(left, top, plot, 1.0, percent=True)
    for n, label in enumerate(labels):
        body.append(_x_label(left + n * width, top + plot, label, n, len(labels)))
    for number, (name, values) in enumerate(series.items()):
        colour = COLOURS[number % len(COLOURS)]
        points: list[list[str]] = [[]]
        for n, value in enumerate(values):
            if value is None:
                points.append([])
                continue
            x, y = left + n * width, top + plot * (1 - value)
            points[-1].append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)} {escape(labels[n])}: {value * 100:.1f}%</title></circle>"
            )
        body += [
            f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="2" '
            f'points="{" ".join(run)}"/>'
            for run in points
            if len(run) > 1
        ]
        legend_x = left + number * 120
        body += [
            f'<rect x="{legend_x}" y="{height - 24}" width="12" height="12" fill="{colour}"/>',
            f'<text x="{legend_x + 18}" y="{height - 13}" fill="#222">{escape(name)}</text>',
        ]
    return _svg(height, title, body)


def _y_axis(left: int, top: int, plot: int, most: float, *, percent: bool) -> list[str]:
    out = [f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot}" stroke="#999"/>']
    for tick in range(5):
        value = most * tick / 4
        y = top + plot * (1 - tick / 4)
        text = f"{value * 100:.0f}%" if percent else f"{value:.3g}"
        out += [
            f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - 20}" y2="{y:.1f}" stroke="#eee"/>',
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{text}</text>',
        ]
    return out


def _x_label(x: float, y: float, label: str, n: int, count: int) -> str:
    """Days along the bottom, slanted; with many, only every few are written."""
    every = max(1, count // 15)
    if n % every:
        return ""
    return (
        f'<text x="{x:.1f}" y="{y + 16:.1f}" fill="#666" font-size="11" text-anchor="end" '
        f'transform="rotate(-40 {x:.1f} {y + 16:.1f})">{escape(label)}</text>'
    )
