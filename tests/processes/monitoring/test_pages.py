"""The monitoring pages: the list scoped to the viewer's villages with warnings highlighted, a
household's history with its chart and the link into matching, the export (formulas never run),
the import (preview with each row's errors; one bad row and nothing changes), the rules page for
administrators only, and 404 for anyone outside the household's village."""
import datetime as dt
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook, load_workbook

from engine import clock
from engine.models import ProcessInstance
from engine.station import AccessLog
from processes.monitoring.models import MonitoredHousehold, MonthlyUpdate, RuleSet, Warning
from tests.processes.monitoring.flows import do, enrol, household, update

pytestmark = pytest.mark.django_db
TODAY = clock.today().isoformat()


@pytest.fixture
def warned(users, deployed):
    """A monitored household of dongshan whose update raised a warning, confirmed into matching."""
    h = household()
    case = enrol(h, users["worker"])
    do(case, "Task_MonthlyUpdate", users["worker"], update(events=["job_loss"], note="=HYPERLINK(\"http://x\")"))
    do(case, "Task_Verify", users["worker"], {"visited_on": TODAY, "situation": "as_reported", "findings": "失业"})
    do(case, "Task_Decide", users["supervisor"], {"decision": "confirm"})
    return MonitoredHousehold.objects.get(household_id=h.pk)


def xlsx(rows) -> SimpleUploadedFile:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = BytesIO()
    book.save(buffer)
    return SimpleUploadedFile("list.xlsx", buffer.getvalue())


def test_the_list_shows_the_villages_households_and_highlights_warnings(client, users, deployed, warned):
    quiet = enrol(household(), users["worker"])
    do(quiet, "Task_MonthlyUpdate", users["worker"], update(events=["schooling"]))  # a warning still to verify
    client.force_login(users["worker"])
    page = client.get("/monitoring/").content.decode()
    assert warned.code in page and 'data-testid="warning"' in page and "mo-warned" in page
    client.force_login(users["worker_xishui"])
    page = client.get("/monitoring/").content.decode()
    assert warned.code not in page
    assert client.get(f"/monitoring/{warned.pk}/").status_code == 404  # another village: nothing, not even a guessed id
    client.force_login(users["outsider"])
    assert client.get("/monitoring/").status_code == 404


def test_the_history_shows_the_chart_and_the_needs_case_the_warning_fed(client, users, warned):
    client.force_login(users["supervisor"])
    page = client.get(f"/monitoring/{warned.pk}/").content.decode()
    warning = Warning.objects.get(household=warned)
    assert 'data-testid="income-chart"' in page and f'href="/cases/{warning.needs_instance_id}/"' in page
    assert AccessLog.objects.filter(user=users["supervisor"], view="monitoring", record=f"household:{warned.household_id}").exists()


def test_a_household_with_a_child_asks_its_holder_for_a_reason_first(client, users, deployed):
    h = household(child=True)
    enrol(h, users["worker"])
    client.force_login(users["supervisor"])
    response = client.get(f"/monitoring/{MonitoredHousehold.objects.get(household_id=h.pk).pk}/")
    assert response.status_code == 302 and f"/records/household/{h.pk}/access/" in response["Location"]


def test_the_export_is_the_civil_affairs_layout_with_ids_masked_and_formulas_kept_as_text(client, users, warned):
    MonitoredHousehold.objects.filter(pk=warned.pk).update(head_name="=HYPERLINK(\"http://evil\",\"x\")")
    client.force_login(users["worker"])
    response = client.get("/monitoring/list.xlsx")
    sheet = load_workbook(BytesIO(response.content)).active
    header, row = [c.value for c in sheet[1]], sheet[2]
    assert header[:8] == ["户编号", "村", "户主（身份证号已遮挡）", "家庭人口", "人均年收入（元）", "对照监测线", "预警", "最近走访"]
    assert row[0].value == warned.code
    head = row[2]
    assert head.data_type == "s" and head.quotePrefix and "4401" in head.value and "1234" in head.value and "198001" not in head.value
    assert "失业" in row[6].value


def test_import_with_one_bad_row_changes_nothing_and_a_clean_file_goes_in(client, users, deployed, warned):
    fresh = household()
    client.force_login(users["worker"])
    rows = [["户编号", "监测类别", "纳入监测日期", "户主身份证号"],
            [warned.code, "刚性支出困难家庭", "2026-01-05", "440100199001011111"],
            [fresh.code, "低保边缘家庭", "2026-02-01", ""],
            ["HH-XS-999", "低保对象", "2026-02-01", ""],  # no such household in the worker's villages
            [warned.code, "外星人", "2999-01-01", "12345"]]  # twice, unknown category, future date, short ID
    preview = client.post("/monitoring/import/", {"file": xlsx(rows)})
    assert preview.status_code == 400
    text = preview.content.decode()
    assert 'data-testid="bad-rows"' in text and "confirm-import" not in text
    # even a confirmation forged for the previewed rows writes nothing
    token = client.session["monitoring_import"]["token"]
    forged = client.post("/monitoring/import/", {"_action": "confirm", "token": token})
    assert forged.status_code == 400
    warned.refresh_from_db()
    assert warned.category == "edge" and not MonitoredHousehold.objects.filter(household_id=fresh.pk).exists()
    assert ProcessInstance.objects.filter(process_key="monitoring").count() == 1

    good = client.post("/monitoring/import/", {"file": xlsx(rows[:3])})
    assert good.status_code == 200 and "confirm-import" in good.content.decode()
    done = client.post("/monitoring/import/", {"_action": "confirm", "token": client.session["monitoring_import"]["token"]})
    assert done.status_code == 302
    warned.refresh_from_db()
    assert (warned.category, warned.since, warned.head_id_number) == ("rigid", dt.date(2026, 1, 5), "440100199001011111")
    assert MonitoredHousehold.objects.get(household_id=fresh.pk).cycle_instance_id is not None  # enrolled: its cycle started
    again = client.post("/monitoring/import/", {"_action": "confirm", "token": "stale"})  # a double submit or a stale tab
    assert again.status_code == 302 and ProcessInstance.objects.filter(process_key="monitoring").count() == 2


def test_a_row_that_fails_while_importing_rolls_back_the_rows_before_it(users, deployed, monkeypatch):
    from engine.errors import FormInvalid
    from processes.monitoring import spreadsheets

    first, second = household(), household()
    rows = spreadsheets.check_rows([spreadsheets.Row(number=2, code=first.code, category="edge"),
                                    spreadsheets.Row(number=3, code=second.code, category="edge")], users["worker"])
    assert not any(r.errors for r in rows)
    real, calls = spreadsheets.api.start_instance, []

    def second_refused(**kwargs):  # the second row's enrolment fails after the first one's went in
        calls.append(kwargs["data"]["household"])
        if len(calls) == 2:
            raise FormInvalid({"household": ["这户刚被别人纳入监测。"]})
        return real(**kwargs)

    monkeypatch.setattr(spreadsheets.api, "start_instance", second_refused)
    with pytest.raises(spreadsheets.ImportRefused):
        spreadsheets.apply(rows, users["worker"])
    assert calls == [str(first.pk), str(second.pk)]
    assert not MonitoredHousehold.objects.exists() and not ProcessInstance.objects.filter(process_key="monitoring").exists()


def test_import_refuses_a_file_too_big_or_not_a_workbook(client, users, deployed, settings):
    client.force_login(users["worker"])
    junk = client.post("/monitoring/import/", {"file": SimpleUploadedFile("x.xlsx", b"not a zip")})
    assert junk.status_code == 400 and 'data-testid="import-problem"' in junk.content.decode()
    settings.MONITORING = {**settings.MONITORING, "upload_max_bytes": 100}
    big = client.post("/monitoring/import/", {"file": xlsx([["户编号", "监测类别"]] + [["x" * 50, "其他"]] * 50)})
    assert big.status_code == 400


def test_only_administrators_edit_the_rules_and_a_bad_version_is_refused_next_to_the_field(client, users, deployed):
    client.force_login(users["supervisor"])
    assert client.get("/monitoring/rules/").status_code == 404
    client.force_login(users["admin"])
    assert client.get("/monitoring/rules/").status_code == 200
    bad = client.post("/monitoring/rules/", {"version": "1", "rules": '[{"code": "x", "kind": "eval", "label": "x"}]', "note": ""})
    assert bad.status_code == 400 and "has-error" in bad.content.decode()
    stale = client.post("/monitoring/rules/", {"version": "0", "rules": "[]", "note": ""})
    assert stale.status_code == 400
    good = client.post("/monitoring/rules/", {"version": "1", "rules": '[{"code": "loss", "kind": "event", "event": "job_loss", "label": "失业"}]',
                                              "note": "只看失业"})
    assert good.status_code == 302 and RuleSet.objects.latest("version").version == 2


def test_the_import_preview_names_categories_in_words_and_refuses_a_formula_whose_value_was_never_saved(client, users, deployed):
    fresh = household()
    client.force_login(users["worker"])
    rows = [["户编号", "监测类别", "纳入监测日期"], [fresh.code, "低保边缘家庭", "=DATE(2026,1,5)"]]  # openpyxl saves no value
    preview = client.post("/monitoring/import/", {"file": xlsx(rows)})
    text = preview.content.decode()
    assert preview.status_code == 400 and "=DATE(2026,1,5)" in text and "confirm-import" not in text
    good = client.post("/monitoring/import/", {"file": xlsx([rows[0], [fresh.code, "低保边缘家庭", "2026-01-05"]])})
    row = good.content.decode().split("<tbody>")[1]
    assert good.status_code == 200 and "<td>低保边缘家庭</td>" in row and ">edge<" not in row


def test_the_export_names_each_reason_once_across_a_households_warnings(client, users, warned):
    first = warned.warnings.get()
    later = MonthlyUpdate.objects.create(household=warned, month=first.update.month.replace(day=1) - dt.timedelta(days=20),
                                         instance_id=first.instance_id, village=warned.village, due_at=first.raised_at, status="done")
    Warning.objects.create(household=warned, update=later, instance_id=first.instance_id, village=warned.village, rules_version=1,
                           reasons=first.reasons, raised_at=first.raised_at, status="raised")
    client.force_login(users["worker"])
    reasons = load_workbook(BytesIO(client.get("/monitoring/list.xlsx").content)).active[2][6].value
    labels = [r["label"] for r in first.reasons]
    assert labels and reasons.split("；") == labels
