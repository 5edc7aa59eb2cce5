"""Per-capita income over the months as an SVG drawn on the server: no script (the CSP allows none
inline), readable on a phone, with the 12,000-yuan line and the minimum-living standard drawn as
dashed lines so a worker sees at a glance which months fell below them."""
from __future__ import annotations

from decimal import Decimal
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 28


def income_svg(points: list[tuple[str, Decimal]], *, lines: list[tuple[Decimal, str, str]], title: str) -> str:
    """points: [(month label, per-capita income a year)] oldest first; lines: [(value, label, colour)]."""
    values = [v for _m, v in points] + [v for v, _l, _c in lines]
    high = float(max(values + [Decimal(1)])) * 1.15
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value) -> float:
        return TOP + (1 - min(max(float(value), 0), high) / high) * inner_h

    step = inner_w / max(1, len(points) - 1)
    xs = [LEFT + (i * step if len(points) > 1 else inner_w / 2) for i in range(len(points))]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="mo-chart" '
             f'aria-label="{escape(title)}" data-testid="income-chart"><title>{escape(title)}</title>']
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        value = high / 1.15 * fraction
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#e3e3e3" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" font-size="11" text-anchor="end" fill="#666">{value:,.0f}</text>')
    lowest = min((v for v, _l, _c in lines), default=None)
    for value, label, colour in lines:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="{colour}" stroke-width="1.5" '
                     f'stroke-dasharray="6 4" data-line="{value}"><title>{escape(label)} {value}</title></line>')
        parts.append(f'<text x="{WIDTH - RIGHT - 4}" y="{y(value) - 4:.1f}" font-size="11" text-anchor="end" fill="{colour}">{escape(label)}</text>')
    coords = [(x, y(v)) for x, (_m, v) in zip(xs, points)]
    if len(coords) > 1:
        parts.append('<polyline fill="none" stroke="#1565c0" stroke-width="2" points="'
                     + " ".join(f"{x:.1f},{yy:.1f}" for x, yy in coords) + '"/>')
    for (x, yy), (month, value) in zip(coords, points):
        below = lowest is not None and value < lowest
        parts.append(f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="{5 if below else 3.5}" fill="{"#c62828" if below else "#1565c0"}" '
                     f'data-month="{escape(month)}"><title>{escape(month)} {value}</title></circle>')
    if points:
        parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="11" fill="#666">{escape(points[0][0])}</text>')
        if len(points) > 1:
            parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" font-size="11" text-anchor="end" fill="#666">{escape(points[-1][0])}</text>')
    parts.append("</svg>")
    return "".join(parts)
