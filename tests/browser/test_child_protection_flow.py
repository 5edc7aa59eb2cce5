"""A child-protection case from report to closure in a real browser, in the default Chinese UI, each step by the
role that owns it and on its phone (360 px; key pages also at 1280 px):

the intake desk records a report that arrived 20 minutes before it was typed in, and the police receipt; nobody
responds, so the 24-hour and then the 48-hour timers fire (the test sweeps the timers, as the Celery beat would,
with the engine clock at that moment): the supervisor's escalation gives the response to another worker chosen
from the list, civil affairs records its oversight; that worker responds, assesses and plans; the supervisor
returns the plan once (the worker finds it filled in, with the reason on top), then approves; follow-up;
closure, returned once, then approved. The case page ends completed with the whole story in its timeline; the
supervisor shares it with a worker of another village (chosen from the list), who may then read it, while another
without a share sees nothing of it. Pages are read as their users read them (tests/browser/steps.py: Findings);
the test fails at the end with everything found. Screenshots go to test-artifacts/screenshots/cp-*.png."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from engine import api
from engine.models import HumanTask
from processes.child_protection.models import ChildProtectionCase
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import (
    COMPLETE,
    case_url_of,
    choose,
    give_reason,
    inbox_tab,
    name_people,
    on_task,
    open_task,
    option_labels,
    submit,
    task_row,
)
from tests.conftest import make_user
from tests.dates import local_minutes_ago, today
from tests.processes.child_protection.flows import complete, start_case
from tests.processes.child_protection.flows import open_task as open_task_id

pytestmark = pytest.mark.django_db(transaction=True)

CHILD = "林小禾"  # a name found nowhere else in the portal, so its absence from a page means something
RESPOND = "24小时内响应（家访/联系/安置）"
DIAGRAM_READY = '#diagram[data-ready="true"]'
MINE_TAB, GROUP_TAB = "我的任务", "我所在角色的任务"
NAMES = {"intake": "接待岗 王芳", "worker": "社工 李明", "worker2": "社工 赵丽", "worker_xishui": "社工 钱进", "worker3_xishui": "社工 孙悦",
         "supervisor": "督导 陈刚", "civil": "民政办 刘洋", "admin": "系统管理员"}
PLAN_RETURN = "请写明每周家访的具体安排，并补充学校心理老师的联系方式。"
CLOSURE_RETURN = "请补充公安机关的书面反馈日期。"


def test_report_escalations_plan_and_closure_returned_once_each_on_phones(sign_in, screenshot, browser_log, findings, deployed):
    make_user("worker3_xishui", "worker", villages=["xishui"])
    name_people(NAMES)

    # 1. The intake desk records the report on a phone: it arrived 20 minutes ago, by phone.
    intake = sign_in("intake", PHONE)
    assert intake.locator("html").get_attribute("lang") == "zh-hans"
    intake.goto("/start/")
    with intake.expect_navigation():
        intake.click('a.task-main[href="/start/child_protection/"]')
    form = intake.locator("form.task-form")
    form.locator("select[name=village]").select_option(label="东山村")
    received_at = local_minutes_ago(20)
    form.locator("input[name=received_at]").fill(received_at)
    form.locator("select[name=channel]").select_option(label="电话")
    findings.check(intake, "intake")
    screenshot(intake, "cp-01-start-360")
    submit(intake, "form.task-form button.primary")
    form = on_task(intake, "登记强制报告")
    case_url = case_url_of(intake)
    instance_id = int(case_url.strip("/").split("/")[-1])

    form.locator("input[name=reporter_name]").fill("张老师")
    form.locator("input[name=reporter_unit]").fill("东山小学")
    form.locator("select[name=reporter_relation]").select_option(label="教师")
    form.locator("input[name=reporter_phone]").fill("13800000000")
    form.locator("input[name=child_name]").fill(CHILD)
    form.locator("input[name=sex][value=female]").check()
    form.locator("input[name=dob]").fill("2016-05-01")
    form.locator("input[name=situations][value=s4]").check()
    form.locator("textarea[name=description]").fill("学生身上多处淤青，自述被家人殴打。")
    form.locator("select[name=perpetrator_relation]").select_option("caregiver")
    form.locator("input[name=present_danger]").check()
    findings.check(intake, "intake")
    screenshot(intake, "cp-02-intake-360")
    screenshot(intake, "cp-02-intake-1280", DESKTOP, reload=False)
    intake.set_viewport_size(PHONE)
    submit(intake)

    # The police receipt follows at the same desk: it is the desk's own task now, not the group's.
    assert inbox_tab(intake) == MINE_TAB
    form = open_task(intake, "mine", "登记报警回执")
    form.locator("input[name=police_station]").fill("东山派出所")
    form.locator("input[name=police_reported_at]").fill(local_minutes_ago(10))
    form.locator("input[name=police_receipt_no]").fill("JJ-2026-1129-01")
    findings.check(intake, "intake")
    screenshot(intake, "cp-03-police-receipt-360")
    submit(intake)

    # 2. Nobody responds. The response shows in the village workers' group tab, on time and unclaimed.
    worker = sign_in("worker", PHONE)
    assert inbox_tab(worker) == GROUP_TAB  # nothing of the worker's own yet: the inbox opens where the work is
    row = task_row(worker, "group", RESPOND)
    badge = row.locator('span.sla[data-sla="green"]')
    assert badge.count() == 1, row.inner_text()
    assert re.fullmatch(r"剩余 \d+ 小时", badge.inner_text().strip()), badge.inner_text()
    findings.check(worker, "worker")
    screenshot(worker, "cp-04-inbox-group-360")
    screenshot(worker, "cp-04-inbox-group-1280", DESKTOP, reload=False)

    # The 24-hour clock started when the report arrived (20 minutes before it was typed in): 23 h 50 min
    # after entry it has already run out, and the supervisor is asked to act.
    entered = timezone.now()
    assert api.fire_due_timers(as_of=entered + dt.timedelta(hours=23, minutes=30)).timers_fired == 0
    assert api.fire_due_timers(as_of=entered + dt.timedelta(hours=23, minutes=50)).timers_fired == 1

    supervisor = sign_in("supervisor", PHONE)
    assert inbox_tab(supervisor) == GROUP_TAB, supervisor.locator("main").inner_text()  # nothing of theirs yet: the group's
    form = open_task(supervisor, "group", "超时督办：改派或亲自响应")
    form.locator("input[name=action][value=reassign]").check()
    reassign = form.locator("select[name=reassign_to]")
    people = option_labels(reassign)
    assert any("社工 赵丽" in p for p in people) and any("社工 李明" in p for p in people), people
    assert not any(p in ("worker", "worker2") for p in people), people  # names, not usernames
    chosen = choose(reassign, "社工 赵丽")
    form.locator("textarea[name=reason]").fill("李明本周病假，改由赵丽今天入户。")
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "cp-05-supervisor-escalation-360")
    screenshot(supervisor, "cp-05-supervisor-escalation-1280", DESKTOP, reload=False)
    supervisor.set_viewport_size(PHONE)
    submit(supervisor)
    assert chosen.startswith("社工 赵丽")

    # 48 hours after the report, still no response: civil affairs is told and records its oversight.
    assert api.fire_due_timers(as_of=entered + dt.timedelta(hours=47, minutes=50)).timers_fired == 1
    civil = sign_in("civil", PHONE)
    assert inbox_tab(civil) == GROUP_TAB, civil.locator("main").inner_text()
    form = open_task(civil, "group", "民政办督办")
    form.locator("textarea[name=oversight_action]").fill("电话督促社工站当日入户，并通知村委会协助。")
    form.locator("input[name=contact_made_at]").fill(local_minutes_ago(2))
    findings.check(civil, "civil")
    screenshot(civil, "cp-06-civil-escalation-360")
    submit(civil)

    # 3. The response is now Zhao Li's own task: it waits in her tab, flagged overdue-by-escalation.
    worker2 = sign_in("worker2", PHONE)
    assert inbox_tab(worker2) == MINE_TAB
    findings.check(worker2, "worker2")
    screenshot(worker2, "cp-07-inbox-mine-360")
    form = open_task(worker2, "mine", RESPOND)
    form.locator("select[name=response_type]").select_option(label="家访")
    form.locator("input[name=responded_at]").fill(local_minutes_ago(1))
    form.locator("input[name=child_seen]").check()
    form.locator("select[name=immediate_safety]").select_option("safe_with_plan")
    form.locator("textarea[name=actions_taken]").fill("入户走访，与祖母制定安全计划。")
    findings.check(worker2, "worker2")
    screenshot(worker2, "cp-08-respond-360")
    submit(worker2)

    # She goes straight on to the assessment (the next step of the same case is hers), then the plan.
    form = on_task(worker2, "风险评估")
    form.locator("select[name=risk_level]").select_option("high")
    form.locator("input[name=domains_assessed][value=safety]").check()
    form.locator("input[name=domains_assessed][value=family]").check()
    form.locator("select[name=guardian_capacity]").select_option("limited")
    form.locator("textarea[name=safety_plan]").fill("祖母为主要照料人；父亲暂不接触儿童。")
    findings.check(worker2, "worker2")
    submit(worker2)

    form = on_task(worker2, "制定个案计划")
    risk = summary_of(worker2).get("风险等级")
    if risk != "高":  # as the assessment form offered it: 高 / 中 / 低
        findings.add(f"worker2 360px {worker2.url.partition('//')[2].partition('/')[2]}",
                     f"the case summary calls the risk level chosen as “高” “{risk}”")
    form.locator("textarea[name=goals]").fill("确保儿童安全，恢复正常上学。")
    form.locator("textarea[name=interventions]").fill("每周家访；联系学校心理老师。")
    form.locator("input[name=services][value=psychosocial]").check()
    form.locator("input[name=next_review_date]").fill(today(14))
    findings.check(worker2, "worker2")
    screenshot(worker2, "cp-09-case-plan-360")
    submit(worker2)

    # 4. The supervisor returns the plan once: it is theirs (they acted on this case before).
    assert inbox_tab(supervisor) == MINE_TAB
    form = open_task(supervisor, "mine", "审批个案计划")
    assert "每周家访；联系学校心理老师。" in supervisor.locator("main").inner_text()  # the plan, to judge it
    form.locator("input[name=plan_decision][value=return]").check()
    form.locator("textarea[name=comments]").fill(PLAN_RETURN)
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "cp-10-approve-plan-360")
    submit(supervisor)

    form = open_task(worker2, "mine", "制定个案计划")
    returned = worker2.locator("[data-testid=returned]")
    assert returned.count() == 1, worker2.locator("main").inner_text()
    assert PLAN_RETURN in returned.inner_text() and "督导 陈刚" in returned.inner_text(), returned.inner_text()
    assert returned.bounding_box()["y"] < form.bounding_box()["y"]  # the reason comes before the form
    assert form.locator("textarea[name=goals]").input_value() == "确保儿童安全，恢复正常上学。"
    assert form.locator("textarea[name=interventions]").input_value() == "每周家访；联系学校心理老师。"
    assert form.locator("input[name=services][value=psychosocial]").is_checked()
    assert form.locator("input[name=next_review_date]").input_value() == today(14)
    findings.check(worker2, "worker2")
    screenshot(worker2, "cp-11-case-plan-returned-360")
    screenshot(worker2, "cp-11-case-plan-returned-1280", DESKTOP, reload=False)
    worker2.set_viewport_size(PHONE)
    form.locator("textarea[name=interventions]").fill("每周三下午家访；学校心理老师周老师（13900000002）每两周面谈一次。")
    submit(worker2)

    form = open_task(supervisor, "mine", "审批个案计划")
    assert supervisor.locator("[data-testid=returned]").count() == 0  # nothing was returned to the supervisor
    assert "每周三下午家访" in supervisor.locator("main").inner_text()  # the corrected plan, to judge it
    screenshot(supervisor, "cp-11b-approve-plan-again-360")
    stale_decision(findings, supervisor, form, "plan_decision", PLAN_RETURN)
    form.locator("input[name=plan_decision][value=approve]").check()
    form.locator("textarea[name=comments]").fill("")
    submit(supervisor)

    # 5. Follow-up, closure; the supervisor returns the closure once, then approves it.
    form = open_task(worker2, "mine", "跟进回访")
    form.locator("input[name=followup_date]").fill(today())
    form.locator("select[name=followup_type]").select_option("home_visit")
    form.locator("textarea[name=observations]").fill("儿童情绪稳定，已正常上学。")
    findings.check(worker2, "worker2")
    submit(worker2)

    form = on_task(worker2, "结案（记录公安反馈）")
    form.locator("select[name=closure_reason]").select_option("risk_removed")
    form.locator("textarea[name=police_feedback]").fill("已立案，对父亲予以训诫。")
    form.locator("textarea[name=summary]").fill("风险解除，转入常规关爱。")
    findings.check(worker2, "worker2")
    screenshot(worker2, "cp-12-closure-360")
    submit(worker2)

    form = open_task(supervisor, "mine", "审批结案")
    form.locator("input[name=closure_decision][value=return]").check()
    form.locator("textarea[name=comments]").fill(CLOSURE_RETURN)
    findings.check(supervisor, "supervisor")
    submit(supervisor)

    form = open_task(worker2, "mine", "结案（记录公安反馈）")
    returned = worker2.locator("[data-testid=returned]")
    assert returned.count() == 1 and CLOSURE_RETURN in returned.inner_text(), worker2.locator("main").inner_text()
    assert form.locator("textarea[name=summary]").input_value() == "风险解除，转入常规关爱。"
    assert form.locator("textarea[name=police_feedback]").input_value() == "已立案，对父亲予以训诫。"
    assert form.locator("select[name=closure_reason]").input_value() == "risk_removed"
    findings.check(worker2, "worker2")
    screenshot(worker2, "cp-13-closure-returned-360")
    form.locator("input[name=police_feedback_received_at]").fill(today())
    submit(worker2)

    form = open_task(supervisor, "mine", "审批结案")
    stale_decision(findings, supervisor, form, "closure_decision", CLOSURE_RETURN)
    form.locator("input[name=closure_decision][value=approve]").check()
    form.locator("textarea[name=comments]").fill("")
    submit(supervisor)

    # 6. The case page: completed, no open task, and the whole story in the timeline. A minor's file: the
    # supervisor says why first, once for the day (ADR 0020).
    supervisor.goto(case_url)
    assert supervisor.locator("[data-testid=minors-notice]").count() == 1, supervisor.locator("main").inner_text()
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "cp-14a-reason-360")
    give_reason(supervisor, "督导或质量检查", "结案后复核个案记录")
    assert supervisor.url.endswith(case_url), supervisor.url
    assert supervisor.locator("[data-testid=case-status]").inner_text().strip() == "已完成"
    assert supervisor.locator("section ul.tasks").count() == 0  # no open task left
    supervisor.wait_for_selector("#diagram[data-ready]", state="attached")
    assert supervisor.locator("#diagram").get_attribute("data-ready") == "true", supervisor.locator("#diagram").inner_text()
    assert supervisor.locator('#diagram [data-element-id="Task_SupervisorEscalation"].cf-done').count() == 1
    assert supervisor.locator('#diagram [data-element-id="Task_CivilAffairsEscalation"].cf-done').count() == 1
    timeline = supervisor.locator("ol.timeline").inner_text()
    for step in ["登记强制报告", "登记报警回执", "24小时未响应", "48小时仍未响应", "超时督办：改派或亲自响应", "民政办督办",
                 RESPOND, "风险评估", "审批个案计划", "审批结案"]:
        assert step in timeline, (step, timeline)
    assert "李明本周病假" in timeline  # the reason of the reassignment
    for name in ["接待岗 王芳", "督导 陈刚", "社工 赵丽", "民政办 刘洋"]:
        assert name in timeline, (name, timeline)
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "cp-14-case-360", ready=DIAGRAM_READY)
    screenshot(supervisor, "cp-14-case-1280", DESKTOP, ready=DIAGRAM_READY)
    supervisor.set_viewport_size(PHONE)
    # The supervisor shares the closed case with the other village's worker, choosing her from the list.
    share = supervisor.locator("details.assign", has=supervisor.locator("select[name=username]"))
    share.locator("summary").click()
    people = option_labels(share.locator("select[name=username]"))
    assert any("社工 钱进" in p for p in people), people
    assert not any(p in NAMES for p in people), people  # names, not usernames
    chosen = choose(share.locator("select[name=username]"), "社工 钱进")
    screenshot(supervisor, "cp-15-share-360")
    with supervisor.expect_navigation():
        share.locator("button").click()
    assert supervisor.locator(".msg.success").count() == 1, supervisor.locator("main").inner_text()
    assert "社工 钱进" in chosen
    findings.check(supervisor, "supervisor")

    case = ChildProtectionCase.objects.get(instance_id=instance_id)
    assert case.status == "closed" and case.risk_level == "high"
    assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_CasePlan").count() == 2
    assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Closure").count() == 2
    assert HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_Respond").completed_by.username == "worker2"
    for asset in ["/static/portal/portal.css", "/static/vendor/htmx.min.js", "/static/vendor/diagram-js.css",
                  "/static/vendor/bpmn-viewer.production.min.js", "/static/portal/case-diagram.js"]:
        assert browser_log.static.get(asset) in (200, 304), (asset, browser_log.static)  # 304: served before, still valid

    # 7. A worker of another village without a share gets the not-found page for the case and its tasks,
    # with nothing of the child in it; the one it was shared with may read the case.
    outsider = sign_in("worker3_xishui", PHONE)
    task_url = f"/tasks/{HumanTask.objects.filter(instance_id=instance_id, bpmn_id='Task_Respond').get().pk}/"
    for url in [task_url, case_url, case_url + "diagram/"]:
        response = outsider.goto(url)
        assert response.status == 404, (url, response.status)
        assert CHILD not in outsider.content()
    assert outsider.locator("h1").inner_text().strip() == "未找到"
    # The colleague it was shared with is outside the case's holders: she asks a supervisor, on her phone.
    colleague = sign_in("worker_xishui", PHONE)
    colleague.goto(case_url)
    assert "/access/" in colleague.url and CHILD not in colleague.content(), colleague.url
    findings.check(colleague, "worker_xishui")
    screenshot(colleague, "cp-16-ask-360")
    give_reason(colleague, "顶岗或接手个案", "接手东山村个案前了解情况")
    assert colleague.locator("[data-testid=access-status]").count() == 1 and CHILD not in colleague.content()
    findings.check(colleague, "worker_xishui")
    screenshot(colleague, "cp-17-waiting-360")
    # The supervisor, at the desk (1280 px), sees the request in the header and approves it with a note.
    desk = sign_in("supervisor", DESKTOP)
    assert desk.locator('a[data-nav="access-requests"] .badge').inner_text().strip() == "1"
    with desk.expect_navigation():
        desk.click('a[data-nav="access-requests"]')
    request = desk.locator("li.access-request")
    assert request.count() == 1 and "接手东山村个案前了解情况" in request.inner_text() and "社工 钱进" in request.inner_text()
    findings.check(desk, "supervisor")
    screenshot(desk, "cp-18-approve-1280")
    request.locator("input[name=note]").fill("限查阅，不得导出")
    with desk.expect_navigation():
        request.locator("button[name=decision][value=approve]").click()
    assert desk.locator(".msg.success").count() == 1 and desk.locator("li.access-request").count() == 0
    screenshot(desk, "cp-19-approved-360", PHONE)
    # Now she may read the case, until the approval lapses; the read is logged with who approved it.
    assert colleague.goto(case_url).status == 200
    assert colleague.locator("[data-testid=case-status]").inner_text().strip() == "已完成"
    findings.check(colleague, "worker_xishui")
    screenshot(colleague, "cp-20-opened-360", ready=DIAGRAM_READY)
    screenshot(colleague, "cp-20-opened-1280", DESKTOP, ready=DIAGRAM_READY)
    from engine.station import AccessLog

    reads = AccessLog.objects.filter(user__username="worker_xishui", instance_id=instance_id, outcome="granted")
    assert reads.count() == 2  # the page at 360 px, then reloaded at 1280 px
    assert all(r.approval.decided_by.username == "supervisor" and r.reason == "接手东山村个案前了解情况" for r in reads)

    assert not browser_log.page_errors
    assert not browser_log.failed_static
    findings.assert_none()


def summary_of(page) -> dict[str, str]:
    """The case summary above a task or case page: label -> value."""
    box = page.locator("[data-testid=case-summary]")
    return {dt.inner_text().strip(): dd.inner_text().strip() for dt, dd in zip(box.locator("dt").all(), box.locator("dd").all())}


def stale_decision(findings, page, form, key: str, comment: str) -> None:
    """A decision step that comes round again (the plan or closure resubmitted) must ask afresh: last round's
    "return" pre-selected, or its comment still in the box, is one tap away from returning again."""
    where = f"supervisor {page.viewport_size['width']}px {page.url.split('://', 1)[-1].partition('/')[2]}"
    if form.locator(f"input[name={key}]:checked").count():
        findings.add(where, f"the decision comes pre-selected from last round: {form.locator(f'input[name={key}]:checked').get_attribute('value')}")
    if comment in form.locator("textarea[name=comments]").input_value():
        findings.add(where, "last round's return comment is already in the comments box of the new decision")


def test_response_with_required_fields_empty_shows_errors_and_stays_open(sign_in, screenshot, browser_log, users, deployed):
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    task_id = open_task_id(instance_id, "Task_Respond")

    worker = sign_in("worker", PHONE)
    open_task(worker, "group", RESPOND, claim=True)
    assert worker.url.endswith(f"/tasks/{task_id}/")
    assert worker.locator(".msg.success").inner_text().strip() == "已认领任务。"

    with worker.expect_navigation() as navigation:
        worker.click(COMPLETE)
    assert navigation.value.status == 400
    assert worker.locator(".msg.error").inner_text().strip() == "请修改下方标出的字段。"
    for key in ["response_type", "responded_at", "immediate_safety", "actions_taken"]:
        errors = worker.locator(f'.field.has-error[data-field="{key}"] .error')
        assert errors.count() >= 1, key
        assert errors.first.inner_text().strip(), key
    for key in ["child_seen", "emergency_placement_requested"]:
        assert worker.locator(f'.field[data-field="{key}"].has-error').count() == 0, key
    screenshot(worker, "cp-response-errors-360")

    worker.goto("/?tab=mine")
    assert worker.locator(f'li.task a.task-main[href="/tasks/{task_id}/"]').count() == 1
    assert not browser_log.page_errors
