"""The station's year: planted records give the figures expected, per month, village and viewer;
targets are edited by administrators only and refuse what is not a plain amount; the spreadsheet
keeps every text as text; the year-end PDF is made (and kept as a test artifact)."""
import datetime as dt
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from engine import registry
from engine.station import Village
from portal.dashboard import figures
from portal.dashboard.models import YearTarget
from processes.activities.models import Activity, Roster
from processes.micro_fund.models import EntryKind, Fund, LedgerEntry

pytestmark = pytest.mark.django_db
YEAR = 2026
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def planted(users):
    east, west = (Roster.objects.create(village=v, name=f"课堂-{v}") for v in ("dongshan", "xishui"))
    n = iter(range(1, 1000))

    def session(kind, village, month, people=0, status="approved", roster=None):
        Activity.objects.create(instance_id=next(n), kind=kind, title="t", village=village, place="p", facilitator="f",
                                held_on=dt.date(YEAR, month, 10), participants=people, status=status, roster=roster)

    session("awareness", "dongshan", 3, 40)
    session("awareness", "dongshan", 5, 60)
    session("awareness", "xishui", 5, 50)
    session("awareness", "xishui", 6, 10, status="recorded")  # not yet approved: not counted
    session("awareness", "dongshan", 3, 30)  # a second one in March
    session("training", "xishui", 4, 20)
    session("training", "xishui", 9, 25)
    Activity.objects.create(instance_id=999, kind="training", title="last year", village="xishui", place="p", facilitator="f",
                            held_on=dt.date(YEAR - 1, 9, 1), participants=99, status="approved")
    for month in (9, 10):
        session("after_school", "dongshan", month, 12, roster=east)
    session("after_school", "xishui", 10, 11, roster=west)
    fund = Fund.objects.create(year=YEAR, name="微基金", total_budget=Decimal("150000"))
    for kind, amount, month in ((EntryKind.COMMIT, "5000", 4), (EntryKind.COMMIT, "3000", 7), (EntryKind.RELEASE, "1000", 7)):
        LedgerEntry.objects.create(fund=fund, kind=kind, amount=Decimal(amount), reason="r",
                                   at=timezone.make_aware(dt.datetime(YEAR, month, 15, 12)))
    return users


def by_code(rows):
    return {row.figure.code: row for row in rows}


def test_planted_records_give_the_expected_figures_township_wide(planted):
    YearTarget.objects.create(year=YEAR, figure="activities.awareness_sessions", target=12)
    rows = by_code(figures.rows(YEAR, None))
    awareness = rows["activities.awareness_sessions"]
    assert (awareness.values.total, awareness.values.by_month) == (4, {3: 2, 5: 2})
    assert awareness.values.by_village == {"dongshan": 3, "xishui": 1}
    assert (awareness.target, awareness.share) == (Decimal(12), Decimal(4) / Decimal(12))
    assert rows["activities.trainings"].values.total == 2
    assert rows["activities.training_people"].values.total == 45  # last year's 99 not counted
    points = rows["activities.after_school_points"].values
    assert (points.total, points.by_month) == (2, {9: 1, 10: 2})
    money = rows["micro_fund.committed"].values
    assert (money.total, money.by_month) == (Decimal("7000"), {4: Decimal("5000"), 7: Decimal("2000")})


def test_a_village_worker_sees_only_their_villages_and_the_townships_target_beside(planted):
    YearTarget.objects.create(year=YEAR, figure="activities.awareness_sessions", target=12)
    rows = by_code(figures.rows(YEAR, {"dongshan"}))
    awareness = rows["activities.awareness_sessions"]
    assert awareness.values.total == 3 and set(awareness.values.by_village) == {"dongshan"}
    assert (awareness.target, awareness.share, awareness.township_target) == (None, None, Decimal(12))
    YearTarget.objects.create(year=YEAR, figure="activities.awareness_sessions", village="dongshan", target=3)
    assert by_code(figures.rows(YEAR, {"dongshan"}))["activities.awareness_sessions"].share == 1


def test_the_page_shows_each_viewer_their_scope(client, planted):
    client.force_login(planted["worker_xishui"])
    page = client.get(f"/year/?year={YEAR}").content.decode()
    assert 'data-figure="activities.training_people"' in page
    client.force_login(planted["worker"])  # dongshan: a village outside the scope is ignored, not shown
    assert "西水村" not in client.get(f"/year/?year={YEAR}&village=xishui").content.decode().split('data-testid="figures"')[1]


@pytest.mark.parametrize("who", ["outsider", "intake"])
def test_people_outside_the_staff_see_nothing(client, planted, who):
    client.force_login(planted[who])
    for url in ("/year/", "/year/export.xlsx", "/year/report.pdf", "/year/targets/"):
        assert client.get(url).status_code == 404, url


def test_only_administrators_edit_targets_and_bad_amounts_change_nothing(client, planted):
    for who in ("worker", "supervisor", "civil"):
        client.force_login(planted[who])
        assert client.post(f"/year/targets/?year={YEAR}", {"activities.trainings": "6"}).status_code == 404
    assert not YearTarget.objects.exists()
    client.force_login(planted["admin"])
    for bad in ("-1", "abc", "=HYPERLINK(\"x\")", "1e9999", "0.001", "NaN", "99999999999"):
        response = client.post(f"/year/targets/?year={YEAR}", {"activities.trainings": bad, "activities.awareness_sessions": "12"})
        assert response.status_code == 400, bad
        assert bad.replace('"', "&quot;") in response.content.decode()  # kept as typed
        assert not YearTarget.objects.exists()
    response = client.post(f"/year/targets/?year={YEAR}", {"activities.trainings": "6", "activities.awareness_sessions": "1,200"})
    assert response.status_code == 302
    assert dict(YearTarget.objects.values_list("figure", "target")) == {"activities.trainings": 6, "activities.awareness_sessions": 1200}
    client.post(f"/year/targets/?year={YEAR}", {"activities.trainings": "", "activities.awareness_sessions": "12"})
    assert dict(YearTarget.objects.values_list("figure", "target")) == {"activities.awareness_sessions": 12}


def test_the_spreadsheet_keeps_a_village_name_that_looks_like_a_formula_as_text(client, planted):
    from openpyxl import load_workbook

    Village.objects.filter(code="xishui").update(name='=HYPERLINK("http://x","西水")')
    client.force_login(planted["admin"])
    response = client.get(f"/year/export.xlsx?year={YEAR}")
    book = load_workbook(BytesIO(response.content))
    cells = [c for row in book.worksheets[2].iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    assert cells and all(c.data_type == "s" and c.quotePrefix for c in cells)
    assert [r for r in book.worksheets[0].iter_rows(values_only=True) if r[0] == "People trained" or r[3] == 45]


def test_the_year_end_report_is_a_pdf(client, planted):
    YearTarget.objects.create(year=YEAR, figure="micro_fund.committed", target=150000)
    client.force_login(planted["supervisor"])
    response = client.get(f"/year/report.pdf?year={YEAR}")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert b"STSong-Light" in response.content  # the Chinese font every reader carries, not embedded
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "year-end-report.pdf").write_bytes(response.content)


def test_every_figure_is_registered_once_with_a_label_and_unit():
    codes = [f.code for f in registry.figures()]
    assert len(codes) == len(set(codes)) and {"micro_fund.committed", "activities.awareness_sessions"} <= set(codes)


def test_elderly_screening_and_visits_are_shares_of_what_was_due(users):
    from processes.elderly_care.models import Visit
    from tests.processes.elderly_care.flows import elder

    start = timezone.make_aware(dt.datetime(YEAR, 1, 5))
    people = [elder(village=v) for v in ("dongshan", "dongshan", "dongshan", "xishui")]
    for person in people:
        type(person).objects.filter(pk=person.pk).update(created_at=start)
    type(people[0]).objects.filter(pk__in=[people[0].pk, people[3].pk]).update(tier_confirmed_at=start + dt.timedelta(days=40))
    due = timezone.make_aware(dt.datetime(YEAR, 3, 31, 17))
    for person, kind, status in ((people[0], "health", "done"), (people[0], "company", "done"), (people[0], "help", "missed"),
                                 (people[3], "health", "done")):
        Visit.objects.create(person=person, instance_id=1, kind=kind, period_start=dt.date(YEAR, 3, 1), due_at=due, status=status,
                             village=person.village)
    rows = by_code(figures.rows(YEAR, None))
    screened = rows["elderly_care.screened"].values
    assert (screened.by_month[1], screened.by_month[2]) == (Decimal(0), Decimal(50))  # confirmed on 14 February
    assert screened.by_village == {"dongshan": Decimal("33.3"), "xishui": Decimal(100)}
    visits = rows["elderly_care.visits_done"].values
    assert (visits.total, visits.by_month, visits.by_village) == (Decimal(75), {3: Decimal(75)}, {"dongshan": Decimal("66.7"), "xishui": Decimal(100)})


def test_a_target_fits_its_figures_unit_whole_things_percentages_and_yuan(client, planted):
    client.force_login(planted["admin"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    for figure, bad, said in (("activities.trainings", "1.5", "whole number"), ("sla.on_time", "250", "at most 100")):
        response = client.post(f"/year/targets/?year={YEAR}", {figure: bad})
        assert response.status_code == 400 and said in response.content.decode(), (figure, bad)
        assert not YearTarget.objects.exists()
    assert client.post(f"/year/targets/?year={YEAR}", {"micro_fund.committed": "150000.50", "sla.on_time": "95",
                                                        "activities.trainings": "6"}).status_code == 302
    assert dict(YearTarget.objects.values_list("figure", "target")) == {
        "micro_fund.committed": Decimal("150000.50"), "sla.on_time": 95, "activities.trainings": 6}


def test_the_spreadsheets_reached_column_is_a_number_shown_as_a_percentage(client, planted):
    from openpyxl import load_workbook

    YearTarget.objects.create(year=YEAR, figure="micro_fund.committed", target=150000)
    client.force_login(planted["admin"])
    book = load_workbook(BytesIO(client.get(f"/year/export.xlsx?year={YEAR}").content))
    reached = [row[4] for row in book.worksheets[0].iter_rows(min_row=3) if row[2].value is not None]
    assert reached and all(isinstance(c.value, float) and c.number_format == "0%" for c in reached)
