"""A monthly monitoring visit on the worker's phone (360 px): the worker enrols a household from the
monitoring page, makes the month's update on the task page — the income fell and the head was
hospitalised — which raises a warning; the worker's verification visit and the supervisor's
confirmation follow, and the household's page then shows the warning and the needs-matching case it
started; the list highlights it. Screenshots go to test-artifacts/screenshots/mo-*.png."""
from __future__ import annotations

import pytest

from engine import clock
from processes.monitoring.models import MonthlyUpdate, Warning
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import name_people, on_task, open_task, submit
from tests.processes.monitoring.flows import household

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = {"worker": "社工 李明", "supervisor": "督导 陈刚"}


def test_a_monthly_visit_raises_a_warning_that_leads_into_matching(users, deployed, sign_in, screenshot, findings):
    name_people(NAMES)
    h = household()
    today = clock.today().isoformat()
    worker = sign_in("worker", PHONE)
    worker.goto("/monitoring/")
    findings.check(worker, "worker")
    with worker.expect_navigation():
        worker.click('a[href="/start/monitoring/"]')
    form = worker.locator("form.task-form")
    form.locator("select[name=household]").select_option(str(h.pk))
    form.locator("select[name=category]").select_option("edge")
    form.locator("input[name=since]").fill(today)
    form.locator("input[name=head_id_number]").fill("440100198001011234")
    findings.check(worker, "worker")
    screenshot(worker, "mo-01-enrol-360", reload=False)
    submit(worker, "form.task-form button.primary")

    form = on_task(worker, "每月监测更新")
    form.locator("input[name=visited_on]").fill(today)
    form.locator("input[name=size]").fill("3")
    for key, value in (("income_wages", "600"), ("income_farming", "100"), ("income_pensions", "0"), ("income_transfers", "150"),
                       ("income_other", "0"), ("spending_medical", "2400"), ("spending_education", "0"), ("spending_housing", "0")):
        form.locator(f"input[name={key}]").fill(value)
    form.locator("input[name=events][value=hospitalised]").check()
    form.locator("textarea[name=note]").fill("户主住院，停工")
    findings.check(worker, "worker")
    screenshot(worker, "mo-02-update-360", reload=False)
    submit(worker)
    assert MonthlyUpdate.objects.get().status == "done"
    warning = Warning.objects.get()
    assert "hospitalised" in {r["code"] for r in warning.reasons}

    if "入户核实预警" in worker.locator("h1").inner_text():  # the worker lands on the visit the warning asks for
        form = on_task(worker, "入户核实预警")
    else:
        form = open_task(worker, "group", "入户核实预警", claim=True)
    assert "住院或重大疾病" in worker.locator("main").inner_text()  # the warning's reasons beside the form
    form.locator("input[name=visited_on]").fill(today)
    form.locator("input[name=situation][value=as_reported]").check()
    form.locator("textarea[name=findings]").fill("户主因病住院，务工收入中断")
    findings.check(worker, "worker")
    screenshot(worker, "mo-03-verify-360", reload=False)
    submit(worker)

    supervisor = sign_in("supervisor", PHONE)
    form = open_task(supervisor, "group", "督导确认或排除预警", claim=True)
    form.locator("input[name=decision][value=confirm]").check()
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "mo-04-decide-360", reload=False)
    submit(supervisor)
    warning.refresh_from_db()
    assert warning.status == "confirmed" and warning.needs_instance_id

    supervisor.goto("/monitoring/")
    assert supervisor.locator("li.task.mo-warned").count() == 0  # confirmed: no longer being verified
    with supervisor.expect_navigation():
        supervisor.click(f"text={h.code}")
    page = supervisor.locator("main").inner_text()
    assert "已启动需求与资源对接个案" in page and supervisor.locator("[data-testid=income-chart]").count() == 1
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "mo-05-household-360")
    supervisor.set_viewport_size(DESKTOP)
    screenshot(supervisor, "mo-06-household-1280")
