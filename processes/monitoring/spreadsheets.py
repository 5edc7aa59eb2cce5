"""The monitoring list to and from the civil-affairs office as XLSX.

Export: one row per household in the civil-affairs layout (household number, village, head with the ID
number masked, size, per-capita income, against the line, warnings, last visit); every text cell stays
text (`make_text_safe`: a value such as =HYPERLINK(...) never runs).

Import: their list back — household number and category required, village, since and the head's ID
number optional, columns found by their header. `read` checks every row and answers the rows with
their errors (nothing is written); `apply` writes them all in one transaction after checking them
again, and any row still wrong leaves everything as it was. A household not monitored yet is
enrolled by starting its monitoring case, as the importing worker."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from io import BytesIO

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _, pgettext

from engine import api, clock
from engine.errors import CaseflowError
from engine.station import Village
from integrations.spreadsheets import make_text_safe

from . import household_link
from .models import Band, Category, MonitoredHousehold, UpdateStatus, WarningStatus

ID_NUMBER = re.compile(r"^[0-9]{17}[0-9Xx]$")
MASKED = re.compile(r"^[0-9]{4}\*+[0-9Xx]{4}$")
MAX_COLUMNS = 30


class ImportRefused(Exception):
    """The file as a whole cannot be read (too big, not a workbook, no header): a message for the page."""


def mask_id(value: str) -> str:
    text = value or ""
    return text[:4] + "*" * (len(text) - 8) + text[-4:] if len(text) > 8 else "*" * len(text)


def headers() -> list[str]:
    return [_("Household number"), pgettext("monitoring", "Village"), _("Head of household (ID masked)"), _("Household size"),
            _("Per-capita income a year (yuan)"), _("Against the line"), pgettext("monitoring", "Warnings"), _("Last visit"), _("Monitoring category"),
            _("Monitored since")]


def export_rows(households) -> list[list]:
    villages = dict(Village.objects.values_list("code", "name"))
    rows = []
    for household in households.prefetch_related("updates", "warnings"):
        done = sorted((u for u in household.updates.all() if u.status == UpdateStatus.DONE), key=lambda u: u.month)
        latest = done[-1] if done else None
        warnings = [w for w in household.warnings.all() if w.status in (WarningStatus.RAISED, WarningStatus.VERIFIED, WarningStatus.CONFIRMED)]
        head = " ".join(part for part in (household.head_name, mask_id(household.head_id_number)) if part)
        rows.append([household.code, villages.get(household.village, household.village), head, latest.size if latest else None,
                     float(latest.per_capita) if latest and latest.per_capita is not None else None,
                     str(Band(latest.band).label) if latest and latest.band else "",
                     "；".join(dict.fromkeys(r["label"] for w in warnings for r in w.reasons)),  # each reason once
                     latest.visited_on if latest else None, household.get_category_display(), household.since])
    return rows


def workbook(households) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = _("Monitoring list")
    sheet.append(headers())
    for row in export_rows(households):
        sheet.append(row)
    for cell in sheet["H"][1:] + sheet["J"][1:]:
        cell.number_format = "yyyy-mm-dd"
    make_text_safe(sheet)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# -- import --------------------------------------------------------------------------------------

@dataclass
class Row:
    number: int  # the row in the sheet
    code: str
    category: str = ""
    since: dt.date | None = None
    village: str = ""
    id_number: str = ""
    household_id: int | None = None
    action: str = ""  # "enrol" or "update"
    errors: list[str] = field(default_factory=list)

    @property
    def category_label(self) -> str:
        return str(Category(self.category).label) if self.category else ""


def _columns(header: tuple) -> dict[str, int]:
    names = {
        "code": {_("Household number"), "户编号", "household number"},
        "category": {_("Monitoring category"), "监测类别", "monitoring category"},
        "since": {_("Monitored since"), "纳入监测日期", "monitored since"},
        "village": {pgettext("monitoring", "Village"), "村", "village"},
        "id_number": {_("Head's ID number"), "户主身份证号", "head's id number"},
    }
    found = {}
    for index, value in enumerate(header):
        text = str(value or "").strip().lower()
        for key, labels in names.items():
            if text in {label.lower() for label in labels}:
                found.setdefault(key, index)
    return found


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _category(text: str) -> str | None:
    for code, label in Category.choices:
        if text in (code, str(label)):
            return code
    chinese = {"低保对象": "dibao", "特困人员": "extreme", "防止返贫监测对象": "relapse", "低保边缘家庭": "edge", "刚性支出困难家庭": "rigid", "其他": "other"}
    return chinese.get(text)


def read(upload, user) -> list[Row]:
    """Every row of the uploaded list with what is wrong with it; nothing is written."""
    from openpyxl import load_workbook

    limits = settings.MONITORING
    if upload.size > int(limits["upload_max_bytes"]):
        raise ImportRefused(_("The file is larger than %(mb)s MB.") % {"mb": int(limits["upload_max_bytes"]) // (1024 * 1024)})
    try:
        content = upload.read()
        # The values as last calculated, and the cells as typed: a formula whose value was never
        # saved (a list made by a program, not by Excel) reads as empty, and is told apart by its text.
        lines = load_workbook(BytesIO(content), read_only=True, data_only=True).worksheets[0].iter_rows(values_only=True, max_col=MAX_COLUMNS)
        typed = load_workbook(BytesIO(content), read_only=True).worksheets[0].iter_rows(values_only=True, max_col=MAX_COLUMNS)
        header, _typed_header = next(lines, None), next(typed, None)
    except Exception:  # openpyxl raises many kinds for a file that is not a workbook
        raise ImportRefused(_("This is not an Excel workbook (.xlsx).")) from None
    columns = _columns(header or ())
    if "code" not in columns or "category" not in columns:
        raise ImportRefused(_("The first row must name the columns; the household number and the monitoring category are needed."))
    rows: list[Row] = []
    for number, (values, as_typed) in enumerate(zip(lines, typed), start=2):
        if number - 1 > int(limits["upload_max_rows"]):
            raise ImportRefused(_("At most %(n)d rows at a time.") % {"n": int(limits["upload_max_rows"])})
        cells = {key: values[index] if index < len(values) else None for key, index in columns.items()}
        formulas = {key: as_typed[index] for key, index in columns.items() if index < len(as_typed) and cells[key] is None
                    and isinstance(as_typed[index], str) and as_typed[index].startswith("=")}
        if all(_text(v) == "" for v in cells.values()) and not formulas:
            continue
        row = _check(number, cells)
        if formulas:
            row.errors.insert(0, _("A cell holds a formula whose value was not saved (%(formula)s): type the value itself, "
                                   "or open the file in Excel and save it again.") % {"formula": next(iter(formulas.values()))[:40]})
        rows.append(row)
    return check_rows(rows, user)


def _check(number: int, cells: dict) -> Row:
    row = Row(number=number, code=_text(cells.get("code"))[:40])
    if not row.code:
        row.errors.append(_("The household number is empty."))
    category = _category(_text(cells.get("category")))
    if category is None:
        row.errors.append(_("Unknown monitoring category “%(value)s”.") % {"value": _text(cells.get("category"))[:40]})
    row.category = category or ""
    since = cells.get("since")
    if isinstance(since, dt.datetime):
        since = since.date()
    elif since not in (None, ""):
        try:
            since = dt.date.fromisoformat(_text(since)[:10])
        except ValueError:
            row.errors.append(_("The date “%(value)s” is not a date like 2026-03-01.") % {"value": _text(since)[:20]})
            since = None
    if isinstance(since, dt.date) and since > clock.today():
        row.errors.append(_("The date monitored since is in the future."))
    row.since = since or None
    row.village = _text(cells.get("village"))[:64]
    id_number = _text(cells.get("id_number"))
    if id_number and not MASKED.match(id_number):  # a masked number (our own export) leaves the one on record
        if not ID_NUMBER.match(id_number):
            row.errors.append(_("The ID number must be 18 characters: 17 digits and a digit or X."))
        row.id_number = id_number.upper()
    return row


def check_rows(rows: list[Row], user) -> list[Row]:
    """What only the database can say: the household exists in the user's villages, appears once,
    and can be enrolled by this user."""
    visible = {label.split(" ", 1)[0]: int(value) for value, label in household_link.choices(user)}
    villages = dict(Village.objects.values_list("code", "name"))
    monitored = {h.household_id: h for h in MonitoredHousehold.objects.filter(household_id__in=list(visible.values()))}
    seen: dict[str, int] = {}
    may_enrol = "worker" in set(user.groups.values_list("name", flat=True))
    for row in rows:
        if not row.code:
            continue
        if row.code in seen:
            row.errors.append(_("The household %(code)s is also on row %(row)d.") % {"code": row.code, "row": seen[row.code]})
            continue
        seen[row.code] = row.number
        row.household_id = visible.get(row.code)
        if row.household_id is None:
            row.errors.append(_("No household %(code)s in your villages.") % {"code": row.code})
            continue
        linked = household_link.find(row.household_id)
        if row.village and linked is not None and row.village not in (linked.village, villages.get(linked.village)):
            row.errors.append(_("The household %(code)s is not in %(village)s.") % {"code": row.code, "village": row.village})
        existing = monitored.get(row.household_id)
        row.action = "update" if existing is not None and existing.cycle_instance_id is not None else "enrol"
        if row.action == "enrol" and not may_enrol:
            row.errors.append(_("Only a village worker can enrol a household that is not monitored yet."))
    return rows


def apply(rows: list[Row], user) -> int:
    """Write every row, in one transaction; any row still wrong (checked again: the tab may be stale)
    leaves everything as it was. Answers how many rows were written."""
    rows = check_rows([Row(number=r.number, code=r.code, category=r.category, since=r.since, village=r.village,
                           id_number=r.id_number, errors=list(r.errors)) for r in rows], user)
    if any(r.errors for r in rows):
        raise ImportRefused(_("Some rows have errors; nothing was imported."))
    with transaction.atomic():
        for row in rows:
            if row.action == "enrol":
                try:
                    api.start_instance(process_key="monitoring", actor=user, data={
                        "household": str(row.household_id), "category": row.category,
                        "since": (row.since or clock.today()).isoformat(), "head_id_number": row.id_number or None})
                except CaseflowError as exc:
                    raise ImportRefused(_("Row %(row)d: %(problem)s Nothing was imported.") % {
                        "row": row.number, "problem": "；".join(str(m) for ms in getattr(exc, "field_errors", {}).values() for m in ms) or str(exc)}) from None
            else:
                household = MonitoredHousehold.objects.select_for_update().get(household_id=row.household_id)
                household.category = row.category
                if row.since:
                    household.since = row.since
                if row.id_number:
                    household.head_id_number = row.id_number
                household.save(update_fields=["category", "since", "head_id_number"])
    return len(rows)
