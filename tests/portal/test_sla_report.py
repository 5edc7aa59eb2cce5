"""The SLA compliance report (planted tasks -> the expected figures, per process, task, village and
month; a supervisor of one village sees only it; XLSX with text-safe cells) and the working-day
calendar page (administrators only; every change kept)."""
import datetime as dt
import uuid
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from engine import api
from engine.business_calendar import CalendarDay
from engine.errors import NotPermitted
from engine.models import HumanTask
from tests.conftest import is_postgres, make_user
from tests.processes.child_protection.flows import start_case

pytestmark = pytest.mark.django_db
CST = ZoneInfo("Asia/Shanghai")
AS_OF = dt.datetime(2026, 11, 1, 8, 0, tzinfo=CST)


def at(month, day, hour=12, minute=0):
    return dt.datetime(2026, month, day, hour, minute, tzinfo=CST)


@pytest.fixture
def planted(deployed, users):
    """Respond tasks with made-up deadlines and completions, on one real case."""
    instance_id = start_case(users)
    rows = []

    def plant(village, due, *, done=None, status="completed", name="24小时内响应", bpmn_id="Task_Respond"):
        rows.append(HumanTask(instance_id=instance_id, spiff_task_id=uuid.uuid4(), bpmn_id=bpmn_id, name=name, lane="社工",
                              candidate_group="worker", process_key="child_protection", village=village, status=status,
                              created_at=due - dt.timedelta(hours=24), due_at=due, completed_at=done))

    plant("dongshan", at(10, 5), done=at(10, 5, 11))                 # on time
    plant("dongshan", at(10, 6), done=at(10, 6, 14))                 # 2 h late
    plant("dongshan", at(10, 7, 0), done=at(10, 7, 10))              # 10 h late
    plant("dongshan", at(10, 8), done=at(10, 8, 16))                 # 4 h late
    plant("dongshan", at(10, 9), status="cancelled", done=at(10, 9, 20))  # withdrawn: not counted
    plant("xishui", at(10, 5), done=at(10, 5, 13))                   # 1 h late, another village
    plant("dongshan", at(11, 1, 3), status="open")                   # 5 h overdue at AS_OF
    plant("dongshan", at(11, 20), status="open")                     # not yet due
    plant("dongshan", dt.datetime(2026, 10, 31, 20, 0, tzinfo=dt.timezone.utc), done=at(11, 1, 3))  # 04:00 on 1 Nov here: November
    plant("dongshan", at(10, 10), done=at(10, 10, 9), name="=HYPERLINK(\"http://x\")", bpmn_id="Task_Odd")
    HumanTask.objects.bulk_create(rows)
    return instance_id


def report(viewer, **filters):
    return {(r.village, r.month, r.bpmn_id): r for r in api.sla_report(viewer=viewer, month_from="2026-10", month_to="2026-11",
                                                                       as_of=AS_OF, **filters)}


def test_planted_tasks_give_the_expected_figures(planted, users):
    rows = report(users["supervisor"])  # township-wide
    october = rows[("dongshan", "2026-10", "Task_Respond")]
    assert (october.on_time, october.late, october.open_overdue, october.open_in_time) == (1, 3, 0, 0)
    assert october.late_median == dt.timedelta(hours=4) and october.late_max == dt.timedelta(hours=10)
    assert october.on_time_percent == 25
    november = rows[("dongshan", "2026-11", "Task_Respond")]
    assert (november.on_time, november.late, november.open_overdue, november.open_in_time) == (1, 0, 1, 1)
    assert november.late_max == dt.timedelta(hours=5)  # the open one, overdue since 03:00
    xishui = rows[("xishui", "2026-10", "Task_Respond")]
    assert (xishui.late, xishui.late_max) == (1, dt.timedelta(hours=1))


def test_a_village_supervisor_sees_only_their_village(planted, users):
    sup_ds = make_user("sup_ds", "supervisor", villages=["dongshan"])
    assert {village for village, _month, _task in report(sup_ds)} == {"dongshan"}
    assert report(sup_ds, village="xishui") == {}


def test_filters_by_process_and_task(planted, users):
    assert set(report(users["admin"], bpmn_id="Task_Odd")) == {("dongshan", "2026-10", "Task_Odd")}
    assert report(users["admin"], process_key="micro_fund") == {}


def test_only_supervisors_and_administrators_read_it(planted, users, client):
    for name in ("worker", "intake", "civil", "outsider"):
        with pytest.raises(NotPermitted):
            api.sla_report(viewer=users[name], month_from="2026-10", month_to="2026-11")
        client.force_login(users[name])
        assert client.get("/sla/").status_code == 404
        assert client.get("/sla/export.xlsx").status_code == 404


def test_the_page_shows_the_rows_and_refuses_a_bad_month_politely(planted, users, client):
    client.force_login(make_user("sup_ds", "supervisor", villages=["dongshan"]))
    page = client.get("/sla/?from=2026-10&to=2026-11").content.decode()
    assert 'data-village="dongshan"' in page and 'data-village="xishui"' not in page
    assert 'data-testid="sla-late">3<' in page  # october's three late ones (the xishui one is hidden)
    bad = client.get("/sla/?from=2026-13&to=oops")
    assert bad.status_code == 200 and "YYYY-MM" in bad.content.decode()


def test_the_workbook_has_the_figures_and_text_safe_cells(planted, users, client):
    client.force_login(users["admin"])
    response = client.get("/sla/export.xlsx?from=2026-10&to=2026-11")
    assert response.status_code == 200
    sheet = load_workbook(BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows[0]) == 11
    october = next(r for r in rows[1:] if r[0] == "2026-10" and r[3] == "dongshan" and r[4] == 1 and r[5] == 3)
    assert october[9:] == (4.0, 10.0)
    odd = next(c for row in sheet.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=HYPERLINK"))
    assert odd.data_type == "s" and odd.quotePrefix


# -- the working-day calendar page ---------------------------------------------------------------

def test_an_administrator_adds_changes_and_removes_a_stations_day(users, client):
    client.force_login(users["admin"])
    page = client.get("/sla/calendar/?year=2026").content.decode()
    assert 'data-date="2026-10-10"' in page and 'data-date="2026-10-01"' in page  # 调休 Saturday, National Day
    client.post("/sla/calendar/", {"date": "2026-10-09", "is_working_day": "no", "note": "村里庙会", "year": "2026"})
    day = CalendarDay.objects.get(date=dt.date(2026, 10, 9))
    assert not day.is_working_day and day.note == "村里庙会" and day.changed_by == users["admin"]
    client.post("/sla/calendar/", {"date": "2026-10-09", "is_working_day": "yes", "note": "改为上班", "year": "2026"})
    assert CalendarDay.objects.get(date=dt.date(2026, 10, 9)).is_working_day
    assert client.post("/sla/calendar/", {"date": "", "is_working_day": "no"}).status_code == 302  # a message, nothing saved
    assert client.post("/sla/calendar/", {"date": "2026-10-12", "is_working_day": "maybe"}).status_code == 302
    assert CalendarDay.objects.count() == 1
    client.post("/sla/calendar/remove/", {"date": "2026-10-09"})
    assert not CalendarDay.objects.exists()
    if is_postgres():  # row history is kept by PostgreSQL triggers (pghistory)
        from engine.models import CalendarDayEvent

        assert CalendarDayEvent.objects.filter(date=dt.date(2026, 10, 9)).count() == 3  # made, changed, removed


def test_only_administrators_open_the_calendar(users, client):
    for name in ("supervisor", "worker", "civil"):
        client.force_login(users[name])
        assert client.get("/sla/calendar/").status_code == 404
        assert client.post("/sla/calendar/", {"date": "2026-10-09", "is_working_day": "no"}).status_code == 404
        assert client.post("/sla/calendar/remove/", {"date": "2026-10-09"}).status_code == 404
    assert not CalendarDay.objects.exists()


def test_administrators_see_a_banner_for_a_year_the_package_does_not_know(users, client):
    import time_machine

    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 0, tzinfo=CST), tick=False):
        client.force_login(users["admin"])
        assert "2027" in client.get("/sla/calendar/").content.decode().split('data-testid="calendar-warning"')[1][:400]
        client.force_login(users["supervisor"])
        assert 'data-testid="calendar-warning"' not in client.get("/").content.decode()
    client.force_login(users["admin"])
    page = client.get("/sla/calendar/?year=2031").content.decode()  # far ahead: no banner, the page says it
    assert 'data-testid="year-unknown"' in page and "2031" in page


def test_the_years_page_counts_deadlines_met_across_processes(planted, users):
    """The dashboard's figure: of the tasks whose fate is known at AS_OF, the share done on time, by
    month of the deadline and by village (the planted case's own intake and response tasks count too)."""
    import time_machine

    from engine import registry

    tasks = list(HumanTask.objects.filter(instance_id=planted).order_by("pk").values_list("pk", flat=True))
    HumanTask.objects.filter(pk__in=tasks[:-10]).update(status="cancelled")  # the real case's own tasks: withdrawn, not counted
    figure = {f.code: f for f in registry.figures()}["sla.on_time"]
    with time_machine.travel(AS_OF, tick=False):
        township = figure.compute(2026, None)
        dongshan = figure.compute(2026, {"dongshan"})
    # October: 2 of 6 on time (the withdrawn one not counted); November: the 04:00 deadline met, the 03:00 one 5 h
    # overdue, the one due on the 20th not decided yet -> 1 of 2; the year 3 of 8; dongshan 3 of 7, xishui 0 of 1.
    assert township.by_month == {10: 33, 11: 50}
    assert township.by_village == {"dongshan": 43, "xishui": 0}
    assert township.total == 38  # 3 of 8
    assert dongshan.total == 43 and "xishui" not in dongshan.by_village
