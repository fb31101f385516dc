"""Server-side SVG charts (no JavaScript): opens and clicks over time, clicks per link."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 600, 200, 28
COLOURS = {"opened": "#1f6feb", "clicked": "#d1242f"}


def _points(values: list[int], top: int) -> str:
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
    scale = (HEIGHT - 2 * PAD) / max(top, 1)
    return " ".join(f"{PAD + i * step:.1f},{HEIGHT - PAD - v * scale:.1f}" for i, v in enumerate(values))


def timeline_svg(series: dict, title: str) -> Markup:
    """A line per series (opened, clicked) over equal time slices, with its axis labels."""
    top = max([*series["opened"], *series["clicked"], 1])
    lines = [f'<polyline fill="none" stroke="{COLOURS[k]}" stroke-width="2" points="{_points(series[k], top)}">'
             f"<title>{k}</title></polyline>" for k in ("opened", "clicked")]
    start = series["start"].strftime("%Y-%m-%d %H:%M") if series["start"] else "no events yet"
    end = series["end"].strftime("%Y-%m-%d %H:%M") if series["end"] else ""
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
        f'<text x="{PAD}" y="{PAD - 8}" font-size="12">{top}</text>'
        f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="12">{escape(start)}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" font-size="12" text-anchor="end">{escape(end)}</text>'
        + "".join(lines) + "</svg>"
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
        bars.append(f'<text x="0" y="{y + 15}" font-size="12">{url[:40]}</text>'
                    f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="18" fill="{COLOURS["clicked"]}">'
                    f'<title>{url}: {item["total"]} clicks</title></rect>'
                    f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" font-size="12">{item["total"]}</text>')
    if not links:
        bars.append('<text x="0" y="20" font-size="12">no clicks yet</text>')
    return Markup(f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">'
                  f"<title>{escape(title)}</title>" + "".join(bars) + "</svg>")
