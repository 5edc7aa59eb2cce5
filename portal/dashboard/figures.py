"""The dashboard's rows: each registered figure computed over the viewer's villages for a year,
beside its target. The page, the spreadsheet and the PDF report all read these rows, so the three
always show the same numbers."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode

from engine import registry
from engine.station import Village

from .models import YearTarget


@dataclass
class Row:
    figure: registry.Figure
    values: registry.FigureValues
    target: Decimal | None
    share: Decimal | None  # actual / target, when there is a target
    villages: list[tuple[str, Decimal]]  # (village name, value) within the viewer's scope
    drill_url: str
    township_target: Decimal | None = None  # shown beside a village's figure when the village has no target of its own

    @property
    def share_percent(self) -> int | None:
        return None if self.share is None else int((self.share * 100).to_integral_value(rounding="ROUND_HALF_UP"))


def village_names() -> dict[str, str]:
    return dict(Village.objects.order_by("position", "code").values_list("code", "name"))


def rows(year: int, villages: set[str] | None, *, village: str = "") -> list[Row]:
    """Figures over `village` when given (it must be within `villages`), else over all of `villages`."""
    scope = {village} if village else villages
    targets = {(t.figure, t.village): t.target for t in YearTarget.objects.filter(year=year)}
    names = village_names()
    result = []
    for figure in registry.figures():
        values = figure.compute(year, scope)
        target = targets.get((figure.code, village)) if village else (
            targets.get((figure.code, "")) if villages is None else _sum_of_villages(targets, figure.code, villages))
        total = Decimal(values.total or 0)
        share = (total / target) if target else None
        by_village = sorted(((names.get(code, code), Decimal(v or 0)) for code, v in values.by_village.items()),
                            key=lambda item: item[0])
        township = targets.get((figure.code, "")) if target is None and scope is not None else None
        result.append(Row(figure, values, target, share, by_village, _drill(figure, year, village), township))
    return result


def _sum_of_villages(targets: dict, code: str, villages: set[str]) -> Decimal | None:
    """A worker's or a village supervisor's target: the sum of their villages' own targets, if set."""
    own = [targets[(code, v)] for v in villages if (code, v) in targets]
    return sum(own, Decimal(0)) if own else None


def _drill(figure: registry.Figure, year: int, village: str) -> str:
    if not figure.drill:
        return ""
    name, _sep, fixed = figure.drill.partition("?")
    try:
        url = reverse(name)
    except NoReverseMatch:
        return ""
    query = urlencode({k: v for k, v in (("year", year), ("village", village)) if v})
    return f"{url}?{fixed + '&' if fixed else ''}{query}"
