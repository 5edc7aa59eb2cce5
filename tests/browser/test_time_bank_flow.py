"""A time-bank service in a real browser, on the village worker's phone (360 px; the pages also at
1280 px): the worker takes an elder's request, matches a volunteer, records the volunteer's sign-in and
sign-out, and records the elder's confirmation; the hours then show in the volunteer's passbook, on
screen and on the paper version. A supervisor approves a newly registered volunteer, then reads the
ledger and the anomaly list (a five-hour visit waits there). No engine call in the walk. Screenshots go
to test-artifacts/screenshots/tb-*.png."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from processes.time_bank.models import LedgerEntry, Member
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import choose, name_people, on_task, submit
from tests.processes.time_bank import flows

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = {"worker": "社工 李明", "supervisor": "督导 陈刚"}
NUMBERS = [r"TBS?-\d{5}"]  # passbook and service numbers are printed as they are


def local_input(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def next_task(page, name: str):
    """After a step, the worker lands on the case's next task, or opens it from their own tasks."""
    if name not in page.locator("h1").inner_text():
        page.goto("/?tab=mine")
        with page.expect_navigation():
            page.locator("li.task").filter(has_text=name).locator("a.task-main").first.click()
    return on_task(page, name)


def test_a_volunteers_service_is_signed_in_and_out_confirmed_and_shows_in_the_passbook(
        users, deployed, sign_in, screenshot, findings):
    name_people(NAMES)
    volunteer = flows.member("volunteer", by=users["worker"], name="王桂兰", household="DS-012")
    elder = flows.member("elder", by=users["worker"], name="陈大爷", birth_year=1939, household="DS-018")
    long_visit = flows.service(users["worker"], elder, volunteer, flows.moment(2, 8), flows.moment(2, 13))  # for the supervisor
    signed_in, signed_out = flows.moment(1, 9), flows.moment(1, 11)

    # 1. The worker takes the elder's request on the phone.
    worker = sign_in("worker", PHONE)
    worker.goto("/start/")
    with worker.expect_navigation():
        worker.click('a.task-main[href="/start/time_bank/"]')
    form = worker.locator("form.task-form")
    choose(form.locator("select[name=elder]"), "陈大爷")
    form.locator("select[name=item]").select_option("company")
    form.locator("input[name=requested_by][value=elder]").check()
    findings.check(worker, "worker", NUMBERS)
    screenshot(worker, "tb-01-request-360")
    submit(worker, "form.task-form button.primary")

    # 2. Matches the volunteer, 3. records her sign-in and sign-out, 4. the elder's confirmation.
    form = next_task(worker, "匹配志愿者")
    choose(form.locator("select[name=volunteer]"), "王桂兰")
    findings.check(worker, "worker", NUMBERS)
    submit(worker)
    form = next_task(worker, "登记签到签退")
    form.locator("input[name=signed_in_at]").fill(local_input(signed_in))
    form.locator("input[name=signed_out_at]").fill(local_input(signed_out))
    form.locator("textarea[name=done]").fill("陪陈大爷聊天、读报，帮忙收衣服。")
    findings.check(worker, "worker", NUMBERS)
    screenshot(worker, "tb-02-sign-in-out-360")
    screenshot(worker, "tb-02-sign-in-out-1280", DESKTOP, reload=False)
    worker.set_viewport_size(PHONE)
    submit(worker)
    form = next_task(worker, "老人或代理人确认")
    assert "2.00" in worker.locator("main").inner_text()  # the hours served, in the case summary
    form.locator("input[name=confirmed][value=yes]").check()
    form.locator("input[name=confirmed_by][value=elder]").check()
    form.locator("select[name=method]").select_option("thumbprint")
    form.locator("select[name=rating]").select_option("5")
    form.locator("input[name=paid_with][value=free]").check()
    findings.check(worker, "worker", NUMBERS)
    screenshot(worker, "tb-03-confirm-360")
    submit(worker)
    assert [(e.kind, e.hours) for e in LedgerEntry.objects.filter(account__member=volunteer)] == [("deposit", Decimal("2.00"))]

    # 5. The volunteer's passbook shows the deposit and the balance; the paper version too.
    worker.goto("/time-bank/")
    findings.check(worker, "worker", NUMBERS)
    screenshot(worker, "tb-04-members-360")
    with worker.expect_navigation():
        worker.locator(f'li[data-member="{volunteer.pk}"] a').click()
    book = worker.locator("[data-testid=passbook]")
    assert "存入（提供服务）" in book.inner_text() and "陪伴聊天" in book.inner_text(), book.inner_text()
    assert worker.locator("[data-testid=balance]").inner_text() == "2.00"
    findings.check(worker, "worker", NUMBERS)
    screenshot(worker, "tb-05-passbook-360")
    screenshot(worker, "tb-05-passbook-1280", DESKTOP)
    worker.set_viewport_size(PHONE)
    with worker.expect_navigation():
        worker.click("[data-testid=print]")
    assert worker.locator("[data-testid=balance]").inner_text() == "2.00"
    worker.emulate_media(media="print")
    screenshot(worker, "tb-06-paper-passbook-print")
    worker.emulate_media(media="screen")

    # 6. The worker registers a volunteer; the supervisor approves her, then reads the ledger and the anomalies.
    worker.goto("/time-bank/members/new/")
    worker.locator("input[name=kind][value=volunteer]").check()
    worker.locator("select[name=village]").select_option("dongshan")
    worker.fill("input[name=name]", "马丽娟")
    worker.fill("input[name=birth_year]", "1965")
    worker.fill("input[name=household]", "DS-050")
    worker.locator("input[name=identity_checked]").check()
    worker.fill("input[name=training_date]", (timezone.localdate() - dt.timedelta(days=3)).isoformat())
    worker.fill("input[name=training_topic]", "助老服务与安全")
    findings.check(worker, "worker", NUMBERS + [r"elderly_care"])
    screenshot(worker, "tb-07-register-360")
    with worker.expect_navigation():
        worker.click("[data-testid=register]")
    newcomer = Member.objects.get(name__isnull=False, household="DS-050")
    assert newcomer.status == "pending"
    supervisor = sign_in("supervisor", PHONE)
    supervisor.goto(f"/time-bank/members/{newcomer.pk}/")
    decide = supervisor.locator("[data-testid=decide]")
    decide.locator("select[name=decision]").select_option("approve")
    findings.check(supervisor, "supervisor", NUMBERS)
    screenshot(supervisor, "tb-08-approve-360")
    with supervisor.expect_navigation():
        decide.locator("button").click()
    assert supervisor.locator("[data-testid=status]").inner_text() == "已通过"
    supervisor.goto("/time-bank/ledger/")
    assert supervisor.locator("[data-testid=ledger] li.task").count() == 1  # the long visit is not deposited yet
    findings.check(supervisor, "supervisor", NUMBERS)
    screenshot(supervisor, "tb-09-ledger-360")
    screenshot(supervisor, "tb-09-ledger-1280", DESKTOP)
    supervisor.set_viewport_size(PHONE)
    supervisor.goto("/time-bank/anomalies/")
    listed = supervisor.locator("[data-testid=anomalies]").inner_text()
    assert flows.session_of(long_visit).number in listed and "单次服务时数超过上限" in listed, listed
    findings.check(supervisor, "supervisor", NUMBERS)
    screenshot(supervisor, "tb-10-anomalies-360")
    screenshot(supervisor, "tb-10-anomalies-1280", DESKTOP)
    findings.assert_none()
