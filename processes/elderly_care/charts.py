"""Blood pressure over time as an SVG drawn on the server: no script (the CSP allows none inline),
readable on a phone, the flag threshold drawn as a line so a worker sees at a glance which readings
crossed it."""
from __future__ import annotations

from decimal import Decimal
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 12, 28
LOW, HIGH = 40, 220


def _y(value) -> float:
    value = min(max(float(value), LOW), HIGH)
    return TOP + (HIGH - value) / (HIGH - LOW) * (HEIGHT - TOP - BOTTOM)


def blood_pressure_svg(points: list[tuple], *, threshold: Decimal | None, title: str, systolic_label: str, diastolic_label: str) -> str:
    """points: [(date, systolic, diastolic)] oldest first. Returns the markup of one <svg>."""
    inner = WIDTH - LEFT - RIGHT
    step = inner / max(1, len(points) - 1)
    xs = [LEFT + (i * step if len(points) > 1 else inner / 2) for i in range(len(points))]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="ec-chart" '
             f'aria-label="{escape(title)}" data-testid="bp-chart"><title>{escape(title)}</title>']
    for value in (60, 90, 120, 140, 160, 180, 200):
        y = _y(value)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#666">{value}</text>')
    if threshold is not None:
        y = _y(threshold)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c62828" stroke-width="1.5" '
                     f'stroke-dasharray="6 4" data-threshold="{threshold}"/>')
    for series, colour, label in ((1, "#1565c0", systolic_label), (2, "#2e7d32", diastolic_label)):
        coords = [(x, _y(p[series])) for x, p in zip(xs, points) if p[series] is not None]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        for (x, y), point in zip(coords, [p for p in points if p[series] is not None]):
            high = series == 1 and threshold is not None and Decimal(str(point[1])) >= threshold
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{5 if high else 3.5}" fill="{"#c62828" if high else colour}">'
                         f'<title>{escape(str(point[0]))} {escape(label)} {point[series]}</title></circle>')
    if points:
        parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="11" fill="#666">{escape(str(points[0][0]))}</text>')
        if len(points) > 1:
            parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" font-size="11" text-anchor="end" fill="#666">'
                         f'{escape(str(points[-1][0]))}</text>')
    parts.append("</svg>")
    return "".join(parts)
