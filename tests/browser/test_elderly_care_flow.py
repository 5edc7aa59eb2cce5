"""One elder's month of "三个一" in a real browser, on the worker's phone (360 px): the worker finds the elder
in the register, does the health check (a systolic of 172: above the threshold), the companionship visit and
the help with daily life; the supervisor then has the risk flag's notice in the inbox with the reading on
it, and the village doctor the referral. Then every page of the process is walked at 360 and 1280 px by the
worker, the supervisor, the doctor and the administrator. Screenshots: test-artifacts/screenshots/ec-*.png."""
from __future__ import annotations

import pytest

from processes.elderly_care.models import Referral, Visit
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import name_people, on_task, submit
from tests.conftest import make_user
from tests.dates import today
from tests.processes.elderly_care.flows import elder, screen

pytestmark = pytest.mark.django_db(transaction=True)
NAMES = {"worker": "社工 李明", "supervisor": "督导 陈刚", "doctor_ds": "东山村卫生室 王医生", "admin": "系统管理员"}


@pytest.fixture
def elder_world(users, deployed):
    doctor = make_user("doctor_ds", "village_doctor")
    person = elder(name="张桂兰", phone="13900001111", household_code="HH-DS-007", chronic_conditions=["高血压"],
                   medication="硝苯地平 每日一次", doctor_file="DS-WS-1024")
    instance_id = screen(person, users["worker"], users["supervisor"])
    name_people(NAMES)
    return {**users, "doctor": doctor, "person": person, "instance_id": instance_id}


def open_visit(page, name):
    """A visit task from the inbox: the worker's own tab, or the group's."""
    for tab in ("mine", "group"):
        page.goto(f"/?tab={tab}")
        row = page.locator("li.task").filter(has=page.locator("span.task-name").get_by_text(name, exact=True))
        if row.count():
            with page.expect_navigation():
                row.first.locator("a.task-main").click()
            return on_task(page, name)
    raise AssertionError(f"{name} is in no tab: {page.locator('main').inner_text()}")


def test_a_worker_does_the_three_visits_and_the_supervisor_sees_the_referral(elder_world, sign_in, screenshot, findings):
    person = elder_world["person"]
    worker = sign_in("worker", PHONE)
    worker.goto("/elderly/")
    register = worker.locator("[data-testid=elderly-register]")
    assert "张桂兰" in register.inner_text()
    findings.check(worker, "worker", allowed=[r"EC-[A-Z]{2}-\d{3}", r"[A-Z]{2}-WS-\d+", r"chinese-calendar", r"mmHg"])
    screenshot(worker, "ec-01-register-worker-360")
    with worker.expect_navigation():
        register.locator(f'li[data-person="{person.pk}"] a.task-main').click()
    assert "HH-DS-007" in worker.locator("[data-testid=person-summary]").inner_text()

    form = open_visit(worker, "健康检查（与村医）")
    form.locator("input[name=visited_on]").fill(today())
    form.locator("input[name=doctor]").fill("王医生")
    form.locator("input[name=systolic]").fill("172")
    form.locator("input[name=diastolic]").fill("96")
    form.locator("input[name=fell][value=no]").check()
    form.locator("input[name=missed_medication][value=no]").check()
    screenshot(worker, "ec-02-health-check-360", reload=False)
    submit(worker)

    form = open_visit(worker, "精神慰藉（陪伴）")
    form.locator("input[name=visited_on]").fill(today())
    form.locator("select[name=mood]").select_option("fair")
    form.locator("input[name=video_minutes]").fill("20")
    form.locator("input[name=days_since_contact]").fill("3")
    submit(worker)

    form = open_visit(worker, "生活帮扶")
    form.locator("input[name=visited_on]").fill(today())
    form.locator("input[name=help_types][value=cleaning]").check()
    form.locator("input[name=help_types][value=medicine]").check()
    form.locator("input[name=help_minutes]").fill("60")
    form.locator("input[name=fell][value=no]").check()
    submit(worker)

    assert set(Visit.objects.filter(person=person).values_list("kind", "status")) == {("health", "done"), ("company", "done"), ("help", "done")}
    referral = Referral.objects.get(person=person)
    assert [f["code"] for f in referral.flags] == ["high_bp"]

    # The supervisor: the flag's notice in the inbox, with the elder and the reading on it.
    supervisor = sign_in("supervisor", PHONE)
    notice = open_visit(supervisor, "督导知悉风险信号")
    page_text = supervisor.locator("main").inner_text()
    assert "张桂兰" in page_text and "172" in page_text and "收缩压" in page_text, page_text
    findings.check(supervisor, "supervisor", allowed=[r"EC-[A-Z]{2}-\d{3}", r"[A-Z]{2}-WS-\d+", r"chinese-calendar", r"mmHg"])
    screenshot(supervisor, "ec-03-flag-notice-supervisor-360", reload=False)
    notice.locator("input[name=acknowledged]").check()
    submit(supervisor)
    supervisor.goto(f"/elderly/{person.pk}/")
    assert "收缩压≥160" in supervisor.locator("[data-testid=referrals]").inner_text()
    assert supervisor.locator("[data-testid=bp-chart]").count() == 1
    screenshot(supervisor, "ec-04-person-supervisor-360")
    screenshot(supervisor, "ec-05-person-supervisor-1280", DESKTOP)

    # The village doctor: the referral, and the elder's page without the family's contact details.
    doctor = sign_in("doctor_ds", PHONE)
    form = open_visit(doctor, "村医随访")
    screenshot(doctor, "ec-06-referral-doctor-360", reload=False)
    doctor.goto(f"/elderly/{person.pk}/")
    assert doctor.locator("[data-testid=bp-chart]").count() == 1
    assert "13900001111" not in doctor.locator("main").inner_text()
    screenshot(doctor, "ec-07-person-doctor-360")
    assert doctor.goto("/elderly/").status == 404

    # Every page, both widths, each role that sees it.
    for username in ("worker", "admin"):
        page = worker if username == "worker" else sign_in("admin", PHONE)
        for url, name in (("/elderly/", "register"), (f"/elderly/{person.pk}/", "person"), ("/elderly/report/", "report")):
            page.set_viewport_size(PHONE)
            page.goto(url)
            findings.check(page, username, allowed=[r"EC-[A-Z]{2}-\d{3}", r"[A-Z]{2}-WS-\d+", r"chinese-calendar", r"mmHg", r"mmHg", r"mmol/L"])
            screenshot(page, f"ec-08-{name}-{username}-360")
            screenshot(page, f"ec-08-{name}-{username}-1280", DESKTOP)
    supervisor.goto("/elderly/report/")
    assert "100" in supervisor.locator("[data-testid=report-villages]").inner_text()  # 3 of 3 done
    screenshot(supervisor, "ec-09-report-supervisor-1280", DESKTOP)
    findings.assert_none()
