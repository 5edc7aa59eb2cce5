"""The year's figures as a workbook (openpyxl) and as the year-end report in PDF (ReportLab).

The PDF is in Chinese with ReportLab's built-in CID font STSong-Light, a font every PDF reader
carries for Chinese: nothing is embedded, so the file stays small and needs no font installed on
the server. Its charts are ReportLab drawings of the same numbers the page shows."""
from __future__ import annotations

from decimal import Decimal
from io import BytesIO

from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.spreadsheets import make_text_safe

MONTHS = range(1, 13)


def _value(v) -> float:
    return float(Decimal(v or 0))


def _share(row) -> str:
    return f"{row.share * 100:.0f}%" if row.share is not None else "—"


def workbook(year: int, rows, *, village: str = "") -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    summary = book.active
    summary.title = _("Targets")[:31]
    summary.append([_("The station's year %(year)s") % {"year": year}, village or _("All my villages")])
    summary.append([_("Figure"), _("Unit"), _("Target"), _("Actual"), _("Reached")])
    for row in rows:
        summary.append([str(row.figure.label), str(row.figure.unit), _value(row.target) if row.target is not None else None,
                        _value(row.values.total), _value(row.share) if row.share is not None else None])
        summary.cell(row=summary.max_row, column=5).number_format = "0%"  # a number a spreadsheet can sum and sort
    months = book.create_sheet(_("By month")[:31])
    months.append([_("Figure"), *[_("Month %(n)d") % {"n": m} for m in MONTHS]])
    for row in rows:
        months.append([str(row.figure.label), *[_value(row.values.by_month.get(m)) for m in MONTHS]])
    villages = book.create_sheet(_("By village")[:31])
    villages.append([_("Figure"), _("Village"), _("Actual")])
    for row in rows:
        for name, value in row.villages:
            villages.append([str(row.figure.label), name, _value(value)])
    for sheet in book.worksheets:
        make_text_safe(sheet)
        sheet.column_dimensions["A"].width = 36
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def pdf(year: int, rows, *, village: str = "") -> bytes:
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
    from xml.sax.saxutils import escape  # Paragraph reads a mini-markup: names and labels stay text

    font = "STSong-Light"
    pdfmetrics.registerFont(UnicodeCIDFont(font))
    title = ParagraphStyle("title", fontName=font, fontSize=18, leading=24, spaceAfter=6)
    heading = ParagraphStyle("heading", fontName=font, fontSize=13, leading=18, spaceBefore=10, spaceAfter=4)
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=14)

    where = village or _("All my villages")
    made = _("Made on %(moment)s") % {"moment": f"{timezone.localtime():%Y-%m-%d %H:%M}"}
    story = [Paragraph(escape(_("The station's year %(year)s: report against the work plan") % {"year": year}), title),
             Paragraph(escape(f"{where}，{made}"), body),  # the CID font has no middle dot: Chinese punctuation only
             Spacer(1, 4 * mm)]
    table = [[_("Figure"), _("Target"), _("Actual"), _("Reached")]]
    for row in rows:
        table.append([Paragraph(escape(f"{row.figure.label}（{row.figure.unit}）"), body),
                      "—" if row.target is None else f"{_value(row.target):,.0f}", f"{_value(row.values.total):,.0f}", _share(row)])
    grid = Table(table, colWidths=[85 * mm, 30 * mm, 30 * mm, 25 * mm], repeatRows=1)
    grid.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), font, 10), ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                              ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ece9")), ("ALIGN", (1, 1), (-1, -1), "RIGHT")]))
    story += [grid]
    for row in rows:
        block = [Paragraph(escape(_("%(figure)s by month") % {"figure": row.figure.label}), heading)]
        drawing = Drawing(170 * mm, 45 * mm)
        chart = VerticalBarChart()
        chart.x, chart.y, chart.width, chart.height = 10 * mm, 8 * mm, 150 * mm, 32 * mm
        chart.data = [[_value(row.values.by_month.get(m)) for m in MONTHS]]
        chart.categoryAxis.categoryNames = [str(m) for m in MONTHS]
        chart.categoryAxis.labels.fontName = chart.valueAxis.labels.fontName = font
        chart.valueAxis.valueMin = 0
        if not any(chart.data[0]):  # nothing yet: an axis of 0 and 1, not 0.001, 0.002…
            chart.valueAxis.valueMax, chart.valueAxis.valueStep = 1, 1
        chart.bars[0].fillColor = colors.HexColor("#2f6f9f")
        drawing.add(chart)
        block.append(drawing)
        if row.villages:
            block.append(Paragraph(escape("；".join(f"{name} {_value(value):,.0f}" for name, value in row.villages)), body))
        story.append(KeepTogether(block))  # a chart's title never ends one page with its chart on the next
    out = BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=f"Caseflow {year}", leftMargin=18 * mm, rightMargin=18 * mm).build(story)
    return out.getvalue()
