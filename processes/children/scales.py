"""Pre/post screening on a scale an administrator maintains (`Scale`: range, cut-off, direction):
a score is checked against the scale's range, and a child's change is read in the scale's
direction — nothing about any one scale is written here.

For a child screened before and after: change = post − pre; improved when the score moved to the
better side (down on a scale where lower is better, up where higher is better), worse when it moved
the other way; at risk when the score is at the cut-off or beyond it on the worse side."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape
from django.utils.translation import pgettext

from .models import Direction, Phase, Scale

SCORE_LIMIT = 10_000  # no scale goes beyond this; a typo of digits is refused before the range check


def check_score(scale: Scale, raw) -> int:
    """The typed score as a whole number within the scale's range, or ValueError saying what is wrong."""
    text = str(raw if raw is not None else "").strip()
    if not text:
        raise ValueError(pgettext("children", "Enter the score."))
    try:
        number = Decimal(text)
    except Exception:
        raise ValueError(pgettext("children", "Enter the score as a whole number.")) from None
    if not number.is_finite() or abs(number) > SCORE_LIMIT or number != number.to_integral_value():
        raise ValueError(pgettext("children", "Enter the score as a whole number."))
    score = int(number)
    if not scale.min_score <= score <= scale.max_score:
        raise ValueError(pgettext("children", "The score must be between %(low)d and %(high)d on this scale.") % {
            "low": scale.min_score, "high": scale.max_score})
    return score


def at_risk(scale: Scale, score: int | None) -> bool | None:
    if score is None:
        return None
    return score >= scale.cutoff if scale.direction == Direction.LOWER_BETTER else score <= scale.cutoff


def better(scale: Scale, pre: int, post: int) -> int:
    """+1 improved, −1 worse, 0 the same."""
    sign = (post > pre) - (post < pre)
    return -sign if scale.direction == Direction.LOWER_BETTER else sign


@dataclass(frozen=True)
class ChildChange:
    child_id: int
    name: str
    pre: int | None
    post: int | None

    def change(self) -> int | None:
        return None if self.pre is None or self.post is None else self.post - self.pre


@dataclass(frozen=True)
class Row:
    child_id: int
    name: str
    pre: int | None
    post: int | None
    change: int | None
    outcome: int | None  # +1 improved, -1 worse, 0 the same, None not both screened
    risk_pre: bool | None
    risk_post: bool | None


@dataclass(frozen=True)
class Summary:
    screened_both: int
    improved: int
    same: int
    worse: int
    mean_pre: Decimal | None
    mean_post: Decimal | None
    mean_change: Decimal | None
    at_risk_pre: int
    at_risk_post: int


def rows(scale: Scale, pairs: list[ChildChange]) -> list[Row]:
    result = []
    for p in pairs:
        both = p.pre is not None and p.post is not None
        result.append(Row(p.child_id, p.name, p.pre, p.post, p.change(), better(scale, p.pre, p.post) if both else None,
                          at_risk(scale, p.pre), at_risk(scale, p.post)))
    return result


def _mean(values: list[int]) -> Decimal | None:
    return (Decimal(sum(values)) / len(values)).quantize(Decimal("0.1")) if values else None


def summary(table: list[Row]) -> Summary:
    both = [r for r in table if r.outcome is not None]
    return Summary(
        screened_both=len(both), improved=sum(1 for r in both if r.outcome > 0), same=sum(1 for r in both if r.outcome == 0),
        worse=sum(1 for r in both if r.outcome < 0), mean_pre=_mean([r.pre for r in both]), mean_post=_mean([r.post for r in both]),
        mean_change=_mean([r.change for r in both]),
        at_risk_pre=sum(1 for r in both if r.risk_pre), at_risk_post=sum(1 for r in both if r.risk_post))


def group_table(group) -> list[Row]:
    """The group's members with their scores on the group's scale (their names decrypted in Python)."""
    if group.scale_id is None:
        return []
    scores: dict[int, dict[str, int]] = {}
    for s in group.screenings.filter(scale_id=group.scale_id):
        scores.setdefault(s.child_id, {})[s.phase] = s.score
    members = group.members.select_related("child").order_by("pk")
    return rows(group.scale, [ChildChange(m.child_id, m.child.name, scores.get(m.child_id, {}).get(Phase.PRE),
                                          scores.get(m.child_id, {}).get(Phase.POST)) for m in members])


def chart_svg(scale: Scale, table: list[Row]) -> str:
    """Each child a line from the score before (hollow dot) to after (filled dot), on the scale's
    range, with the cut-off marked; green when better, red when worse. Drawn on the server."""
    shown = [r for r in table if r.pre is not None or r.post is not None]
    if not shown:
        return ""
    width, left, right, top, step = 640, 96, 16, 28, 26
    height = top + step * len(shown) + 24
    span = max(scale.max_score - scale.min_score, 1)

    def x(score: int) -> float:
        return round(left + (score - scale.min_score) * (width - left - right) / span, 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" class="ch-chart" '
             f'aria-label="{escape(pgettext("children", "Scores before and after the group"))}">']
    cut = x(scale.cutoff)
    parts.append(f'<line x1="{cut}" y1="{top - 12}" x2="{cut}" y2="{height - 20}" stroke="#b45309" stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{cut}" y="{top - 16}" font-size="11" text-anchor="middle" fill="#b45309">'
                 f'{escape(pgettext("children", "cut-off"))} {scale.cutoff}</text>')
    for score in (scale.min_score, scale.max_score):
        parts.append(f'<text x="{x(score)}" y="{height - 6}" font-size="11" text-anchor="middle" fill="#555">{score}</text>')
    for i, r in enumerate(shown):
        y = top + step * i + 8
        colour = "#2e7d32" if (r.outcome or 0) > 0 else "#c62828" if (r.outcome or 0) < 0 else "#555"
        parts.append(f'<text x="{left - 8}" y="{y + 4}" font-size="12" text-anchor="end">{escape(r.name[:8])}</text>')
        if r.pre is not None and r.post is not None:
            parts.append(f'<line x1="{x(r.pre)}" y1="{y}" x2="{x(r.post)}" y2="{y}" stroke="{colour}" stroke-width="3"/>')
        if r.pre is not None:
            parts.append(f'<circle cx="{x(r.pre)}" cy="{y}" r="5" fill="#fff" stroke="{colour}" stroke-width="2"/>')
        if r.post is not None:
            parts.append(f'<circle cx="{x(r.post)}" cy="{y}" r="5" fill="{colour}"/>')
    parts.append("</svg>")
    return "".join(parts)
