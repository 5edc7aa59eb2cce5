"""One micro-fund application through all four stages in a real browser, each step by the role that owns it, each
on their own phone (360 px; key pages also at 1280 px):

组织申报 — the applicant applies; the worker returns it once at the completeness check and the applicant finds it
filled in, with the reasons on top, and resubmits; 评审立项 — the supervisor chooses a panel of three, each reviewer
scores on their phone without seeing the others' scores, one declares a conflict of interest, so the case comes
back to the supervisor to add a fourth reviewer before anyone may decide; the decision; 过程督导 — first tranche
(finance sees what to pay), progress report, site visit; 结项评估 — final report, the two evaluations, the final
tranche (finance sees what is still due). Then the case page, the fund page, and what the applicant may never
see: who reviewed and what they scored. No engine call anywhere. Screenshots: test-artifacts/screenshots/mf-*.png."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import (
    case_url_of,
    inbox_tab,
    name_people,
    on_task,
    open_task,
    submit,
)
from tests.conftest import make_user
from tests.dates import today
from tests.processes.micro_fund.flows import join, make_organisation

pytestmark = pytest.mark.django_db(transaction=True)

APPROVED, SPENT = "4500", "4200"  # of the 5,000.00 asked for in two budget lines: 20 × 150 + 4 × 500
FIRST_TRANCHE, FINAL_TRANCHE = "2,700.00", "1,500.00"  # 60 % of 4,500; then 4,200 spent less 2,700 paid
FUND_BUDGET = Decimal("150000")
DIAGRAM_READY = '#diagram[data-ready="true"]'
MINE_TAB, GROUP_TAB = "我的任务", "我所在角色的任务"
REVIEW_FORM = Path(__file__).resolve().parents[2] / "processes" / "micro_fund" / "forms" / "Task_Review.json"
REVIEWERS = {"r1": "评审 周教授", "r2": "评审 吴老师", "r3": "评审 郑主任", "r4": "评审 冯律师"}
LOCAL_REVIEWER = "评审 何村医"  # the shared fixtures' "outsider": a reviewer who works in the project's village
NAMES = {"outsider": LOCAL_REVIEWER, "applicant": "东山村老年协会 王会长", "worker": "社工 李明", "supervisor": "督导 陈刚", "finance": "财务 孙会计",
         **REVIEWERS}
RETURN_REASONS = "缺少村委会盖章的备案证明；活动安排请写明每周的时间。"
CONFLICT = "申报组织的会长是我的舅舅。"


def review_label(key: str) -> str:
    components = json.loads(REVIEW_FORM.read_text(encoding="utf-8"))["components"]
    return next(c["label"] for c in components if c["key"] == key)


@pytest.fixture
def people(users, deployed):
    org = make_organisation()
    people = {
        **users,
        "org": org,
        "applicant": join(make_user("applicant", "applicant", villages=None), org),
        **{name: make_user(name, "reviewer", villages=None) for name in REVIEWERS},
        "finance": make_user("finance", "finance", villages=None),
    }
    name_people(NAMES)
    return people


def fund_figures(page) -> tuple[str, str]:
    page.goto("/fund/")
    return (page.locator("[data-testid=committed]").inner_text().strip(),
            page.locator("[data-testid=available]").inner_text().strip())


def money(amount) -> str:
    """As the fund page writes yuan: thousands separators and fen."""
    return f"{Decimal(amount):,.2f}"


def summary_of(page) -> dict[str, str]:
    """The case summary above a task or case page: label -> value."""
    box = page.locator("[data-testid=case-summary]")
    return {dt.inner_text().strip(): dd.inner_text().strip() for dt, dd in zip(box.locator("dt").all(), box.locator("dd").all())}


def panel_check(form, names: list[str]):
    """Tick exactly these reviewers on the panel form, by the names the supervisor reads."""
    for box in form.locator("input[name=reviewers]").all():
        box.set_checked(False)
    for name in names:
        form.locator("label.check", has_text=name).locator("input[name=reviewers]").check()


def test_one_application_through_all_four_stages_with_the_real_roles(people, sign_in, screenshot, browser_log, findings):
    org = people["org"]
    applicant_pages = []  # every page the applicant saw: none may name a reviewer or show a score

    def applicant_saw(page):
        applicant_pages.append((page.url, page.locator("body").text_content()))

    # 1. 组织申报 — the applicant starts an application on a phone and fills it in.
    applicant = sign_in("applicant", PHONE)
    applicant.goto("/start/")
    with applicant.expect_navigation():
        applicant.click('a.task-main[href="/start/micro_fund/"]')
    form = applicant.locator("form.task-form")
    form.locator("select[name=organisation]").select_option(label=org.name)
    form.locator("input[name=title]").fill("垃圾分类与环境整治")
    form.locator("select[name=village]").select_option(label="东山村")
    form.locator("select[name=category]").select_option("environment")
    findings.check(applicant, "applicant")
    submit(applicant, "form.task-form button.primary")
    form = on_task(applicant, "填写申报书")
    case_url = case_url_of(applicant)

    form.locator("textarea[name=goals]").fill("清理村内三处垃圾堆放点，建立每周志愿清扫制度")
    form.locator("textarea[name=activities]").fill("动员会；每周六清扫；评比")
    form.locator("textarea[name=schedule]").fill("2026年12月—2027年3月")
    form.locator("input[name=beneficiaries_count]").fill("600")
    form.locator("select[name=beneficiary_group]").select_option("all_residents")
    for row, (item, quantity, unit_price) in enumerate([("清扫工具", "20", "150"), ("宣传展板", "4", "500")]):
        form.locator(f"input[name=budget_lines-{row}-item]").fill(item)
        form.locator(f"input[name=budget_lines-{row}-quantity]").fill(quantity)
        form.locator(f"input[name=budget_lines-{row}-unit_price]").fill(unit_price)
    form.locator("input[name=co_funding]").fill("1000")
    form.locator("input[name=contact_person]").fill("王大爷")
    form.locator("input[name=contact_phone]").fill("13900000001")
    findings.check(applicant, "applicant")
    screenshot(applicant, "mf-01-application-360")
    screenshot(applicant, "mf-01-application-1280", DESKTOP, reload=False)
    applicant.set_viewport_size(PHONE)
    submit(applicant)
    applicant_saw(applicant)

    # 2. The worker finds it among the group's tasks and returns it once: a document is missing.
    worker = sign_in("worker", PHONE)
    assert inbox_tab(worker) == GROUP_TAB
    form = open_task(worker, "group", "形式审查")
    assert "清扫工具" in worker.locator("main").inner_text()  # the application, to check it
    summary = summary_of(worker)
    assert summary.get("申请金额") == "5,000.00", summary
    form.locator("input[name=completeness][value=return]").check()
    form.locator("textarea[name=return_reasons]").fill(RETURN_REASONS)
    findings.check(worker, "worker")
    screenshot(worker, "mf-02-completeness-360")
    submit(worker)

    # The applicant finds the application back in its own tab, as it was sent, with the reasons on top.
    assert inbox_tab(applicant) == MINE_TAB
    form = open_task(applicant, "mine", "填写申报书")
    returned = applicant.locator("[data-testid=returned]")
    assert returned.count() == 1, applicant.locator("main").inner_text()
    assert RETURN_REASONS in returned.inner_text(), returned.inner_text()
    assert returned.bounding_box()["y"] < form.bounding_box()["y"]
    assert NAMES["worker"] not in returned.inner_text()  # the station's staff appear by role to an applicant
    assert form.locator("textarea[name=goals]").input_value() == "清理村内三处垃圾堆放点，建立每周志愿清扫制度"
    assert form.locator("input[name=budget_lines-1-item]").input_value() == "宣传展板"
    assert Decimal(form.locator("input[name=budget_lines-0-unit_price]").input_value()) == Decimal("150")
    assert Decimal(form.locator("input[name=co_funding]").input_value()) == Decimal("1000")
    assert form.locator("input[name=contact_phone]").input_value() == "13900000001"
    findings.check(applicant, "applicant")
    screenshot(applicant, "mf-03-application-returned-360")
    screenshot(applicant, "mf-03-application-returned-1280", DESKTOP, reload=False)
    applicant.set_viewport_size(PHONE)
    applicant_saw(applicant)
    form.locator("textarea[name=activities]").fill("12月5日动员会；每周六上午9点清扫；3月评比")
    submit(applicant)

    form = open_task(worker, "mine", "形式审查")  # the worker who returned it checks it again
    stale_choice(findings, worker, "worker", form, "completeness", "return_reasons", RETURN_REASONS)
    form.locator("input[name=completeness][value=complete]").check()
    form.locator("textarea[name=return_reasons]").fill("")
    submit(worker)

    # 3. 评审立项 — the supervisor picks three reviewers by name.
    supervisor = sign_in("supervisor", PHONE)
    assert inbox_tab(supervisor) == GROUP_TAB
    form = open_task(supervisor, "group", "组建评审小组")
    offered = [label.inner_text().strip() for label in form.locator("label.check", has=supervisor.locator("input[name=reviewers]")).all()]
    # Names, not usernames; a reviewer who works in the project's village is not offered at all.
    assert sorted(offered) == sorted(REVIEWERS.values()), offered
    panel_check(form, [REVIEWERS["r1"], REVIEWERS["r2"], REVIEWERS["r3"]])
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "mf-04-panel-360")
    submit(supervisor)

    # Reviews go to the named reviewers only: one not on the panel has nothing, in either tab.
    r4 = sign_in("r4", PHONE)
    for tab in ("mine", "group"):
        r4.goto(f"/?tab={tab}")
        assert "项目评审打分" not in r4.locator("main").inner_text(), tab

    # Each reviewer scores on their own phone; nobody sees another's scores while the panel is open.
    comments = {"r1": "需求明确，预算合理。", "r2": "可行性较好，建议加强居民动员。"}
    for name, scores in [("r1", (8, 7, 9, 8)), ("r2", (7, 8, 8, 7))]:
        reviewer = sign_in(name, PHONE)
        assert inbox_tab(reviewer) == MINE_TAB
        reviewer.goto("/?tab=group")
        assert "项目评审打分" not in reviewer.locator("main").inner_text()  # the others' reviews are not offered
        form = open_task(reviewer, "mine", "项目评审打分")
        text = reviewer.locator("main").text_content()  # folded-away earlier forms too
        assert "清扫工具" in text  # the application, to judge it (folded away under 填写申报书)
        for other, comment in comments.items():
            if other != name:
                assert comment not in text, (name, "sees", other)
        assert "评审平均分" not in text
        for criterion, score in zip(("need", "feasibility", "participation", "budget"), scores):
            form.locator(f"input[name=score_{criterion}]").fill(str(score))
        form.locator("input[name=recommendation][value=approve]").check()
        form.locator("textarea[name=comments]").fill(comments[name])
        findings.check(reviewer, name)
        if name == "r1":
            screenshot(reviewer, "mf-05-review-360")
            screenshot(reviewer, "mf-05-review-1280", DESKTOP, reload=False)
            reviewer.set_viewport_size(PHONE)
        submit(reviewer)
        if name == "r1":  # one score in, two to come: the supervisor sees no average yet
            supervisor.goto(case_url)
            assert "评审平均分" not in summary_of(supervisor), summary_of(supervisor)
            assert comments["r1"] not in supervisor.locator("main").text_content()

    r3 = sign_in("r3", PHONE)
    form = open_task(r3, "mine", "项目评审打分")
    assert comments["r1"] not in r3.locator("main").text_content()
    form.locator("input[name=conflict_of_interest]").check()
    form.locator("textarea[name=conflict_reason]").fill(CONFLICT)
    screenshot(r3, "mf-06-review-conflict-360")
    submit(r3)

    # Two valid scores are not enough: the panel comes back to the supervisor to add a reviewer.
    assert inbox_tab(supervisor) == MINE_TAB
    form = open_task(supervisor, "mine", "组建评审小组")
    assert summary_of(supervisor).get("有效评审", "").startswith("2 份"), summary_of(supervisor)
    if CONFLICT not in summary_of(supervisor).get("申报回避", ""):
        findings.add("supervisor /tasks/ 组建评审小组 (again)", "does not say why the panel is back (the declared conflict)")
    already = [box.get_attribute("value") for box in form.locator("input[name=reviewers]:checked").all()]
    if already:
        findings.add("supervisor /tasks/ 组建评审小组 (again)",
                     f"comes with the reviewers who already reviewed ticked ({', '.join(already)}): each must be unticked or "
                     "the form is refused")
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "mf-07-panel-again-360")
    panel_check(form, [REVIEWERS["r4"]])
    form.locator("textarea[name=note]").fill("郑主任回避，补选冯律师。")
    submit(supervisor)

    assert inbox_tab(r4) == MINE_TAB
    form = open_task(r4, "mine", "项目评审打分")
    assert comments["r1"] not in r4.locator("main").text_content() and CONFLICT not in r4.locator("main").text_content()
    for criterion, score in zip(("need", "feasibility", "participation", "budget"), (9, 7, 8, 8)):
        form.locator(f"input[name=score_{criterion}]").fill(str(score))
    form.locator("input[name=recommendation][value=approve]").check()
    submit(r4)

    # The decision, with the panel's average now shown to the supervisor.
    form = open_task(supervisor, "mine", "立项决定")
    summary = summary_of(supervisor)
    assert re.match(r"\d+(\.\d+)? 分（3 份评审，1 份因利益冲突排除）", summary.get("评审平均分", "")), summary
    assert comments["r1"] in supervisor.locator("main").text_content()  # the scores and comments, to decide on them
    form.locator("input[name=decision][value=approve]").check()
    form.locator("input[name=approved_amount]").fill(APPROVED)
    form.locator("textarea[name=conditions]").fill("每季度提交活动照片。")
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "mf-08-decide-360")
    screenshot(supervisor, "mf-08-decide-1280", DESKTOP, reload=False)
    supervisor.set_viewport_size(PHONE)
    submit(supervisor)
    assert fund_figures(supervisor) == (money(APPROVED), money(FUND_BUDGET - Decimal(APPROVED)))

    # 4. 过程督导 — first tranche: finance sees the amount to pay now.
    finance = sign_in("finance", PHONE)
    assert inbox_tab(finance) == GROUP_TAB
    form = open_task(finance, "group", "拨付首期资金（60%）")
    assert summary_of(finance).get("本次应拨付（元）") == FIRST_TRANCHE, summary_of(finance)
    form.locator("input[name=confirmed]").check()
    form.locator("input[name=payment_reference]").fill("ZF-2026-001")
    form.locator("input[name=paid_on]").fill(today())
    findings.check(finance, "finance")
    screenshot(finance, "mf-09-tranche1-360")
    submit(finance)

    form = open_task(applicant, "mine", "提交中期进展报告")
    applicant_saw(applicant)
    form.locator("textarea[name=activities_done]").fill("完成两次清扫")
    form.locator("input[name=participants]").fill("45")
    form.locator("input[name=spent_so_far]").fill("2000")
    findings.check(applicant, "applicant")
    submit(applicant)

    form = open_task(worker, "mine", "过程督导走访")
    form.locator("input[name=visit_date]").fill(today())
    form.locator("input[name=attendance]").fill("40")
    form.locator("textarea[name=findings]").fill("活动有序开展")
    form.locator("input[name=finding_result][value=ok]").check()
    findings.check(worker, "worker")
    submit(worker)

    # 5. 结项评估 — final report, the two evaluations, the final tranche.
    form = open_task(applicant, "mine", "提交结项报告")
    applicant_saw(applicant)
    form.locator("textarea[name=outputs_vs_goals]").fill("三处堆放点已清理")
    form.locator("input[name=beneficiaries_reached]").fill("620")
    form.locator("input[name=amount_spent]").fill(SPENT)
    findings.check(applicant, "applicant")
    screenshot(applicant, "mf-10-final-report-360")
    submit(applicant)

    form = open_task(worker, "mine", "社工结项评估")
    form.locator("input[name=score]").fill("88")
    form.locator("input[name=conclusion][value=good]").check()
    submit(worker)

    r1 = sign_in("r1", PHONE)
    assert inbox_tab(r1) == MINE_TAB  # the panel's evaluation goes to a reviewer who scored it, by name
    form = open_task(r1, "mine", "评审结项评估")
    form.locator("input[name=score]").fill("85")
    form.locator("input[name=conclusion][value=good]").check()
    findings.check(r1, "r1")
    submit(r1)

    form = open_task(finance, "mine", "尾款拨付或扣留")
    assert summary_of(finance).get("本次应拨付（元）") == FINAL_TRANCHE, summary_of(finance)
    form.locator("input[name=final_payment][value=release]").check()
    form.locator("input[name=payment_reference]").fill("ZF-2026-009")
    findings.check(finance, "finance")
    screenshot(finance, "mf-11-final-tranche-360")
    screenshot(finance, "mf-11-final-tranche-1280", DESKTOP, reload=False)
    finance.set_viewport_size(PHONE)
    submit(finance)

    # The case is done; the fund keeps only what was spent committed.
    supervisor.goto(case_url)
    assert supervisor.locator("[data-testid=case-status]").inner_text().strip() == "已完成"
    assert supervisor.locator("section ul.tasks").count() == 0  # no open task left
    assert review_label("score_need") in supervisor.content()  # the panel's scores are on the page, for the supervisor
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "mf-12-case-360", ready=DIAGRAM_READY)
    screenshot(supervisor, "mf-12-case-1280", DESKTOP, ready=DIAGRAM_READY)
    assert fund_figures(supervisor) == (money(SPENT), money(FUND_BUDGET - Decimal(SPENT)))
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "mf-13-fund-1280", DESKTOP)
    supervisor.set_viewport_size(PHONE)
    supervisor.reload()
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "mf-13-fund-360")

    # The applicant sees their case and their own forms, never who reviewed nor what anyone scored.
    response = applicant.goto(case_url)
    assert response.status == 200
    assert applicant.locator("[data-testid=case-status]").inner_text().strip() == "已完成"
    assert "项目目标" in applicant.content()  # the application form's own label: the earlier forms are shown
    findings.check(applicant, "applicant")
    screenshot(applicant, "mf-14-case-applicant-360", ready=DIAGRAM_READY)
    applicant_saw(applicant)
    for tab in ("mine", "group", "done"):
        applicant.goto(f"/?tab={tab}")
        applicant_saw(applicant)
    applicant.goto("/notifications/")
    applicant_saw(applicant)
    screenshot(applicant, "mf-15-notifications-applicant-360")
    for url, text in applicant_pages:
        for secret in [*REVIEWERS.values(), *(f" {u} " for u in REVIEWERS), *comments.values(), CONFLICT, "评审平均分",
                       *(review_label(k) for k in ("score_need", "score_feasibility", "score_participation", "score_budget",
                                                   "recommendation", "conflict_of_interest"))]:
            assert secret not in f" {text} ", (url, secret)
    assert applicant.goto("/fund/").status in (403, 404)  # the fund's books are the station's

    assert not browser_log.page_errors
    assert not browser_log.failed_static
    findings.assert_none()


def stale_choice(findings, page, who: str, form, key: str, comment_key: str, comment: str) -> None:
    """A check that comes round again must ask afresh: last round's "return" pre-selected, or its reasons still
    in the box, is one tap away from returning a corrected application again."""
    where = f"{who} {page.viewport_size['width']}px {page.url.split('://', 1)[-1].partition('/')[2]}"
    if form.locator(f"input[name={key}]:checked").count():
        findings.add(where, f"the decision comes pre-selected from last round: {form.locator(f'input[name={key}]:checked').get_attribute('value')}")
    if comment in form.locator(f"textarea[name={comment_key}]").input_value():
        findings.add(where, "last round's return reasons are already in the box of the new check")
