"""Server-side SVG charts (no JavaScript): opens and clicks over time, clicks per link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 600, 200, 28
LEFT = 56  # room for the y labels
COLOURS = {"opened": "#1f6feb", "clicked": "#d1242f"}


def _points(values: list[int], top: int) -> str:
    step = (WIDTH - PAD - LEFT) / max(len(values) - 1, 1)
    scale = (HEIGHT - 2 * PAD) / max(top, 1)
    return " ".join(f"{LEFT + i * step:.1f},{HEIGHT - PAD - v * scale:.1f}" for i, v in enumerate(values))


def time_format(start: datetime, end: datetime) -> str:
    """A strftime format whose labels differ across the span: seconds for minutes, dates for days."""
    span = (end - start).total_seconds()
    if span < 600:
        return "%H:%M:%S"
    return "%H:%M" if span < 86400 and start.date() == end.date() else "%d %b %H:%M"


def time_labels(start: datetime | None, end: datetime | None, count: int = 3) -> list[str]:
    """`count` evenly spaced labels from start to end (UTC), all different when the span allows."""
    if start is None or end is None:
        return ["no events yet"]
    end = max(end, start + timedelta(seconds=count))
    fmt = time_format(start, end)
    step = (end - start) / (count - 1)
    return [(start + step * i).astimezone(UTC).strftime(fmt) for i in range(count)]


def _y_axis(top: int) -> str:
    """Gridlines and labels at 0, half and the top, and the axis title."""
    parts = []
    for value in sorted({0, top // 2, top}):
        y = HEIGHT - PAD - value * (HEIGHT - 2 * PAD) / max(top, 1)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD}" y2="{y:.1f}" stroke="#e6e9ed"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="12" text-anchor="end">{value}</text>'
        )
    parts.append(
        f'<text x="12" y="{HEIGHT / 2}" font-size="12" transform="rotate(-90 12 {HEIGHT / 2})" '
        'text-anchor="middle">events</text>'
    )
    return "".join(parts)


def _x_axis(series: dict) -> str:
    labels = time_labels(series["start"], series["end"])
    anchors = ("start", "middle", "end") if len(labels) == 3 else ("start",)
    xs = (LEFT, (LEFT + WIDTH - PAD) / 2, WIDTH - PAD)
    return "".join(
        f'<text x="{x:.1f}" y="{HEIGHT - 8}" font-size="12" text-anchor="{a}">{escape(t)}</text>'
        for x, a, t in zip(xs, anchors, labels, strict=False)
    ) + (f'<text x="{WIDTH - PAD}" y="14" font-size="11" text-anchor="end" fill="#57606a">time (UTC)</text>')


def timeline_svg(series: dict, title: str) -> Markup:
    """A line per series (opened, clicked) over equal time slices, with labelled axes."""
    top = max([*series["opened"], *series["clicked"], 1])
    lines = [
        f'<polyline fill="none" stroke="{COLOURS[k]}" stroke-width="2" points="{_points(series[k], top)}">'
        f"<title>{k}</title></polyline>"
        for k in ("opened", "clicked")
    ]
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        + _y_axis(top)
        + f'<line x1="{LEFT}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
        f'<line x1="{LEFT}" y1="{PAD}" x2="{LEFT}" y2="{HEIGHT - PAD}" stroke="#888"/>'
        + _x_axis(series)
        + "".join(lines)
        + "</svg>"
    )


def links_svg(links: list[dict], title: str) -> Markup:
    """A horizontal bar per clicked link (total clicks), longest first."""
    row, label_w = 26, 260
    height = max(len(links), 1) * row + 10
    top = max([item["total"] for item in links] + [1])
    bars = []
    for i, item in enumerate(links):
        y, w = 5 + i * row, (WIDTH - label_w - 50) * item["total"] / top
        url = escape(item["url"] or "")
        bars.append(
            f'<text x="0" y="{y + 15}" font-size="12">{url[:40]}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="18" fill="{COLOURS["clicked"]}">'
            f"<title>{url}: {item['total']} clicks</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" font-size="12">{item["total"]}</text>'
        )
    if not links:
        bars.append('<text x="0" y="20" font-size="12">no clicks yet</text>')
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>" + "".join(bars) + "</svg>"
    )
