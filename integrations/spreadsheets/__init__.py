"""Workbooks people download (openpyxl): what every export does to its cells before it is saved."""
from __future__ import annotations

# What a spreadsheet program reads as the start of a formula (a tab or a return before one, too).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def make_text_safe(sheet, *, datetime_format: str | None = None) -> None:
    """Every text cell stays text: a value such as =HYPERLINK(…) typed into a form is stored as a
    string (never a formula) and marked with Excel's quote prefix, so no spreadsheet program runs it.
    With `datetime_format`, date-and-time cells are shown in it."""
    for cells in sheet.iter_rows():
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"
                if cell.value.startswith(FORMULA_STARTS):
                    cell.quotePrefix = True
            elif datetime_format and hasattr(cell.value, "hour"):
                cell.number_format = datetime_format
