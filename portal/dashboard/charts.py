"""Charts drawn on the server as SVG: readable on a phone, no script, nothing to download. Every
text goes through format_html, so a village or label is never markup."""
from __future__ import annotations

from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 320, 120


def _num(value) -> str:
    value = Decimal(value or 0)
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.1f}"


def progress(actual, target, *, label: str) -> SafeString:
    """A bar filled to actual / target (capped at the bar's end); it stretches to the card's width,
    so it carries no text (the percentage is written beside it on the page)."""
    actual, target = Decimal(actual or 0), Decimal(target or 0)
    share = (actual / target) if target > 0 else Decimal(0)
    filled = int(min(share, 1) * (WIDTH - 2))
    colour = "#1b7f4c" if share >= 1 else "#c77c02" if share >= Decimal("0.5") else "#b3261e"
    return format_html(
        '<svg class="chart progress" viewBox="0 0 {w} 16" preserveAspectRatio="none" width="100%" height="16" role="img" '
        'aria-label="{label}"><rect x="0" y="0" width="{w}" height="16" fill="#e8ece9"/>'
        '<rect x="1" y="1" width="{f}" height="14" fill="{c}"/></svg>',
        w=WIDTH, f=filled, c=colour, label=label)


def months(by_month: dict, *, label: str) -> SafeString:
    """Twelve bars, January to December, each with its value above it when not zero."""
    values = [Decimal(by_month.get(m, 0) or 0) for m in range(1, 13)]
    top = max(values) or Decimal(1)
    slot = WIDTH / 12
    bars = []
    for index, value in enumerate(values):
        h = int((HEIGHT - 34) * value / top)
        x, y = int(index * slot + 3), HEIGHT - 16 - h
        cx = int(index * slot + slot / 2)
        bars.append((x, y, int(slot - 6), h, cx, y - 4, _num(value) if value else "", cx, HEIGHT - 3, index + 1))
    body = format_html_join(
        "", '<rect x="{}" y="{}" width="{}" height="{}" fill="#2f6f9f"/><text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>'
        '<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="#5b6660">{}</text>', bars)
    return format_html('<svg class="chart months" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{label}">{body}</svg>',
                       w=WIDTH, h=HEIGHT, body=body, label=label)
