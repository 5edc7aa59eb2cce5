"""One micro-fund application through all four stages in a real browser, each step by the role that owns it:
组织申报 (the applicant on a phone), 评审立项 (worker, supervisor, three reviewers), 过程督导 (finance, applicant,
worker) and 结项评估 (applicant, worker, a reviewer, finance) — then the case page, the fund page, and what the
applicant may not see. No engine call anywhere: every step goes through the pages. Screenshots go to
test-artifacts/screenshots/mf-*.png."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from tests.browser.steps import submit, task_row
from tests.browser.conftest import DESKTOP, PHONE
from tests.conftest import make_user
from tests.processes.micro_fund.flows import join, make_organisation

pytestmark = pytest.mark.django_db(transaction=True)

APPROVED, SPENT = "4500", "4200"  # of the 5,000.00 asked for in two budget lines: 20 × 150 + 4 × 500
FUND_BUDGET = Decimal("150000")
DIAGRAM_READY = '#diagram[data-ready="true"]'
REVIEW_FORM = Path(__file__).resolve().parents[2] / "processes" / "micro_fund" / "forms" / "Task_Review.json"


def review_label(key: str) -> str:
    components = json.loads(REVIEW_FORM.read_text(encoding="utf-8"))["components"]
    return next(c["label"] for c in components if c["key"] == key)


@pytest.fixture
def people(users, deployed):
    org = make_organisation()
    return {
        **users,
        "org": org,
        "applicant": join(make_user("applicant", "applicant", villages=None), org),
        **{name: make_user(name, "reviewer", villages=None) for name in ("r1", "r2", "r3")},
        "finance": make_user("finance", "finance", villages=None),
    }


def open_task(page, tab: str, name: str, claim: bool = False):
    """Open a task from the inbox: its link, or (claim=True) its claim button, which leads to the task page."""
    row = task_row(page, tab, name)
    with page.expect_navigation():
        (row.locator("form button") if claim else row.locator("a.task-main")).click()
    assert re.search(r"/tasks/\d+/$", page.url), page.url
    assert name in page.locator("h1").inner_text()
    form = page.locator("form.task-form")
    assert form.count() == 1, page.locator("main").inner_text()
    return form


def fund_figures(page) -> tuple[str, str]:
    page.goto("/fund/")
    return (page.locator("[data-testid=committed]").inner_text().strip(),
            page.locator("[data-testid=available]").inner_text().strip())


def money(amount) -> str:
    """As the fund page writes yuan: thousands separators and fen."""
    return f"{Decimal(amount):,.2f}"


def test_one_application_through_all_four_stages_with_the_real_roles(people, sign_in, screenshot, browser_log):
    org = people["org"]

    # 1. 组织申报 — the applicant starts an application on a phone and fills it in.
    applicant = sign_in("applicant", PHONE)
    applicant.goto("/start/")
    with applicant.expect_navigation():
        applicant.click('a.task-main[href="/start/micro_fund/"]')
    form = applicant.locator("form.task-form")
    form.locator("select[name=organisation]").select_option(str(org.pk))
    form.locator("input[name=title]").fill("垃圾分类与环境整治")
    form.locator("select[name=village]").select_option("dongshan")
    form.locator("select[name=category]").select_option("environment")
    submit(applicant, "form.task-form button.primary")
    assert re.search(r"/tasks/\d+/$", applicant.url), applicant.url
    assert "填写申报书" in applicant.locator("h1").inner_text()
    case_url = applicant.locator('.task-head a[href^="/cases/"]').get_attribute("href")
    assert re.fullmatch(r"/cases/\d+/", case_url), case_url

    form = applicant.locator("form.task-form")
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
    screenshot(applicant, "mf-application-360")
    submit(applicant)

    # 2. 评审立项 — completeness check, the panel, three reviews, the decision.
    worker = sign_in("worker", PHONE)
    form = open_task(worker, "group", "形式审查")
    form.locator("input[name=completeness][value=complete]").check()
    submit(worker)

    supervisor = sign_in("supervisor", PHONE)
    form = open_task(supervisor, "group", "组建评审小组")
    for name in ("r1", "r2", "r3"):
        form.locator(f"input[name=reviewers][value={name}]").check()
    submit(supervisor)

    for name, scores in [("r1", (8, 7, 9, 8)), ("r2", (7, 8, 8, 7)), ("r3", (9, 7, 8, 8))]:
        reviewer = sign_in(name, PHONE)
        reviewer.goto("/?tab=mine")
        assert reviewer.locator('nav.tabs a[aria-current="page"]').inner_text().strip() == "我的任务"
        form = open_task(reviewer, "mine", "项目评审打分")
        for criterion, score in zip(("need", "feasibility", "participation", "budget"), scores):
            form.locator(f"input[name=score_{criterion}]").fill(str(score))
        form.locator("input[name=recommendation][value=approve]").check()
        form.locator("textarea[name=comments]").fill(f"{name}：需求明确，预算合理。")
        if name == "r1":
            screenshot(reviewer, "mf-review-360")
        submit(reviewer)

    form = open_task(supervisor, "group", "立项决定")
    form.locator("input[name=decision][value=approve]").check()
    form.locator("input[name=approved_amount]").fill(APPROVED)
    submit(supervisor)
    assert fund_figures(supervisor) == (money(APPROVED), money(FUND_BUDGET - Decimal(APPROVED)))

    # 3. 过程督导 — first tranche, progress report, site visit.
    finance = sign_in("finance", PHONE)
    form = open_task(finance, "group", "拨付首期资金（60%）")
    form.locator("input[name=confirmed]").check()
    form.locator("input[name=payment_reference]").fill("ZF-2026-001")
    form.locator("input[name=paid_on]").fill("2026-12-01")
    submit(finance)

    form = open_task(applicant, "group", "提交中期进展报告")
    form.locator("textarea[name=activities_done]").fill("完成两次清扫")
    form.locator("input[name=participants]").fill("45")
    form.locator("input[name=spent_so_far]").fill("2000")
    submit(applicant)

    form = open_task(worker, "group", "过程督导走访")
    form.locator("input[name=visit_date]").fill("2026-12-15")
    form.locator("input[name=attendance]").fill("40")
    form.locator("textarea[name=findings]").fill("活动有序开展")
    form.locator("input[name=finding_result][value=ok]").check()
    submit(worker)

    # 4. 结项评估 — final report, two evaluations (the reviewer's claimed from the group tab), final tranche.
    form = open_task(applicant, "group", "提交结项报告")
    form.locator("textarea[name=outputs_vs_goals]").fill("三处堆放点已清理")
    form.locator("input[name=beneficiaries_reached]").fill("620")
    form.locator("input[name=amount_spent]").fill(SPENT)
    submit(applicant)

    form = open_task(worker, "group", "社工结项评估")
    form.locator("input[name=score]").fill("88")
    form.locator("input[name=conclusion][value=good]").check()
    submit(worker)

    r1 = sign_in("r1", PHONE)
    form = open_task(r1, "group", "评审结项评估", claim=True)
    assert r1.locator(".msg.success").inner_text().strip() == "已认领任务。"
    form.locator("input[name=score]").fill("85")
    form.locator("input[name=conclusion][value=good]").check()
    submit(r1)

    form = open_task(finance, "group", "尾款拨付或扣留")
    form.locator("input[name=final_payment][value=release]").check()
    form.locator("input[name=payment_reference]").fill("ZF-2026-009")
    submit(finance)

    # The case is done; the fund keeps only what was spent committed.
    supervisor.goto(case_url)
    assert supervisor.locator("[data-testid=case-status]").inner_text().strip() == "已完成"
    assert supervisor.locator("section ul.tasks").count() == 0  # no open task left
    assert review_label("score_need") in supervisor.content()  # the panel's scores are on the page, for the supervisor
    screenshot(supervisor, "mf-case-1280", DESKTOP, ready=DIAGRAM_READY)
    assert fund_figures(supervisor) == (money(SPENT), money(FUND_BUDGET - Decimal(SPENT)))
    screenshot(supervisor, "mf-fund-1280", DESKTOP)

    # The applicant sees their case and their own forms, never a reviewer's scores.
    response = applicant.goto(case_url)
    assert response.status == 200
    assert applicant.locator("[data-testid=case-status]").inner_text().strip() == "已完成"
    page_text = applicant.content()
    assert "项目目标" in page_text  # the application form's own label: the earlier forms are shown
    for key in ("score_need", "score_feasibility", "score_participation", "score_budget", "recommendation"):
        assert review_label(key) not in page_text, key

    assert not browser_log.page_errors
    assert not browser_log.failed_static
