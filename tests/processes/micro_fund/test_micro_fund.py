"""The micro-fund from application to evaluation, and the rules around the money and the panel."""
import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from engine import api, selectors
from engine.errors import FormInvalid, NotFound, NotPermitted
from engine.models import HumanTask, OutboxMessage
from django.conf import settings

from processes.micro_fund import handlers
from processes.micro_fund.models import Application, Fund, LedgerEntry, Review
from tests.conftest import make_user

from .flows import FORMS, apply, complete, join, make_organisation, open_task, run_to_completion, to_decision

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(users, deployed):
    org = make_organisation()
    return {
        **users,
        "org": org,
        "applicant": join(make_user("applicant", "applicant", villages=None), org),
        "r1": make_user("r1", "reviewer", villages=None), "r2": make_user("r2", "reviewer", villages=None),
        "r3": make_user("r3", "reviewer", villages=None), "r4": make_user("r4", "reviewer", villages=None),
        "finance": make_user("finance", "finance", villages=None),
    }


def fund():
    return Fund.objects.get()


def test_whole_path_from_application_to_evaluation(people):
    instance_id = run_to_completion(people, people["org"])
    assert api.get_instance(instance_id=instance_id, viewer=api.SYSTEM).status == "completed"
    application = Application.objects.get(instance_id=instance_id)
    assert application.stage == "completed"
    assert (application.requested_amount, application.approved_amount, application.spent) == (Decimal("5000.00"), Decimal("4500.00"), Decimal("4200.00"))
    assert application.disbursed == Decimal("4200.00")  # 60 % of 4,500 = 2,700, then 1,500 due at the end
    f = fund()
    assert (f.committed, f.disbursed, f.returned) == (Decimal("4200.00"), Decimal("4200.00"), Decimal("0"))
    assert f.available == Decimal("150000.00") - Decimal("4200.00")
    assert [e.kind for e in LedgerEntry.objects.order_by("pk")] == ["commit", "disburse", "disburse", "release"]
    assert Review.objects.filter(application=application).count() == 3


def test_overpaid_project_pays_back_and_the_unused_commitment_is_released(people):
    decision = {**FORMS["Task_Decide"], "approved_amount": "5000"}
    instance_id = apply(people["applicant"], people["org"])
    to_decision(people, instance_id)
    complete(instance_id, "Task_Decide", people["supervisor"], decision)
    complete(instance_id, "Task_Tranche1", people["finance"])  # 3,000 paid
    complete(instance_id, "Task_ProgressReport", people["applicant"])
    complete(instance_id, "Task_SiteVisit", people["worker"])
    complete(instance_id, "Task_FinalReport", people["applicant"], {**FORMS["Task_FinalReport"], "amount_spent": "2500"})
    complete(instance_id, "Task_WorkerEvaluation", people["worker"])
    complete(instance_id, "Task_ReviewerEvaluation", people["r1"])
    client = Client()
    client.force_login(people["finance"])
    tranche = open_task(instance_id, "Task_FinalTranche")
    page = client.get(f"/tasks/{tranche}/").content.decode()
    assert "应退回" in page and "500.00：已拨付 3,000.00，实际支出 2,500.00" in page  # what is owed back, and why
    # Nothing is due: finishing needs no voucher for a payment of nothing.
    complete(instance_id, "Task_FinalTranche", people["finance"], {"final_payment": "release"})
    f = fund()
    # The commitment is what the project cost; the 500 is owed, not yet received.
    assert (f.committed, f.disbursed, f.returned) == (Decimal("2500.00"), Decimal("3000.00"), Decimal("0"))
    application = Application.objects.get(instance_id=instance_id)
    assert handlers.refund_owed(application) == Decimal("500.00")
    client.force_login(people["applicant"])  # the organisation is told what it owes
    assert "500.00：已拨付 3,000.00，实际支出 2,500.00" in client.get(f"/cases/{instance_id}/").content.decode()
    with pytest.raises(FormInvalid):  # no receipt, no booking
        complete(instance_id, "Task_ConfirmRefund", people["finance"], {"received": True, "received_on": FORMS["Task_Tranche1"]["paid_on"]})
    complete(instance_id, "Task_ConfirmRefund", people["finance"],
             {"received": True, "receipt_reference": "SK-2026-031", "received_on": FORMS["Task_Tranche1"]["paid_on"]})
    f = fund()
    assert (f.committed, f.disbursed, f.returned) == (Decimal("2500.00"), Decimal("3000.00"), Decimal("500.00"))
    assert handlers.refund_owed(application) == 0
    assert api.get_instance(instance_id=instance_id, viewer=api.SYSTEM).status == "completed"
    assert "SK-2026-031" in LedgerEntry.objects.get(application=application, kind="return").reason


def test_return_for_revision_loops_and_every_round_is_kept(people):
    instance_id = apply(people["applicant"], people["org"])
    complete(instance_id, "Task_CheckCompleteness", people["worker"], {"completeness": "return", "return_reasons": "缺少活动安排"})
    complete(instance_id, "Task_Application", people["applicant"], {**FORMS["Task_Application"], "schedule": "每周六上午"})
    to_decision(people, instance_id)
    complete(instance_id, "Task_Decide", people["supervisor"], {"decision": "return", "reasons": "预算需细化"})
    assert open_task(instance_id, "Task_Application")
    assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Application", status="completed").count() == 2
    assert Application.objects.get(instance_id=instance_id).revision_rounds == 2


def test_a_returned_application_is_scored_again_by_the_same_panel_round_after_round(people):
    """Scores of the application before it was revised do not decide the revised one: each return
    opens a new round, which the same panel may score (three rounds with four reviewers)."""
    instance_id = apply(people["applicant"], people["org"])
    first_round = {**FORMS["Task_Review"], "score_need": 9, "score_feasibility": 9, "score_participation": 9, "score_budget": 9}
    complete(instance_id, "Task_CheckCompleteness", people["worker"])
    complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": ["r1", "r2", "r3"]})
    for name in ("r1", "r2", "r3"):
        complete(instance_id, "Task_Review", people[name], first_round, assignee=name)
    for round_no in (2, 3):
        complete(instance_id, "Task_Decide", people["supervisor"], {"decision": "return", "reasons": "预算过高"})
        complete(instance_id, "Task_Application", people["applicant"])
        complete(instance_id, "Task_CheckCompleteness", people["worker"])
        application = Application.objects.get(instance_id=instance_id)
        assert application.review_round == round_no
        assert handlers.valid_reviews(application) == []  # the earlier scores are not this round's
        panel = [username for username, _label in handlers.panel_candidates(None, {"application_id": application.pk})]
        assert {"r1", "r2", "r3", "r4"} <= set(panel)
        with pytest.raises(FormInvalid):  # one reviewer is not a panel
            complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": ["r4"]})
        complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": ["r1", "r2", "r3"]})
        for name in ("r1", "r2", "r3"):
            complete(instance_id, "Task_Review", people[name], assignee=name)
    application = Application.objects.get(instance_id=instance_id)
    assert Review.objects.filter(application=application).count() == 9  # every round is kept
    assert [r.round for r in handlers.valid_reviews(application)] == [3, 3, 3]
    expected = sum(Decimal(str(FORMS["Task_Review"][f"score_{c}"])) * Decimal(w)
                   for c, w in settings.MICRO_FUND["weights"].items()).quantize(Decimal("0.01"))
    assert handlers.panel_summary(application) == {"reviews": 3, "excluded": 0, "average": expected}
    complete(instance_id, "Task_Decide", people["supervisor"], {**FORMS["Task_Decide"], "approved_amount": "1000"})
    assert Application.objects.get(instance_id=instance_id).stage == "approved"


def test_the_decision_shows_every_review_of_the_round_as_current_and_earlier_rounds_as_earlier(people):
    instance_id = apply(people["applicant"], people["org"])
    to_decision(people, instance_id)
    forms = api.submitted_forms(instance_id=instance_id, viewer=people["supervisor"])
    assert [(f.completed_by, f.superseded) for f in forms if f.bpmn_id == "Task_Review"] == [("r1", False), ("r2", False), ("r3", False)]
    complete(instance_id, "Task_Decide", people["supervisor"], {"decision": "return", "reasons": "预算过高"})
    complete(instance_id, "Task_Application", people["applicant"])
    to_decision(people, instance_id, panel=("r2", "r3", "r4"))
    forms = [f for f in api.submitted_forms(instance_id=instance_id, viewer=people["supervisor"]) if f.bpmn_id == "Task_Review"]
    assert [(f.completed_by, f.superseded) for f in forms] == [
        ("r1", True), ("r2", True), ("r3", True), ("r2", False), ("r3", False), ("r4", False)]
    decide = open_task(instance_id, "Task_Decide")
    focus = api.focus_forms(task_id=decide, viewer=people["supervisor"])
    assert sorted(f.completed_by for f in focus if f.bpmn_id == "Task_Review") == ["r2", "r3", "r4"]


def test_spending_reported_midway_is_at_most_the_approval(people):
    instance_id = apply(people["applicant"], people["org"])
    to_decision(people, instance_id)
    complete(instance_id, "Task_Decide", people["supervisor"])  # 4,500 approved
    complete(instance_id, "Task_Tranche1", people["finance"])
    with pytest.raises(FormInvalid) as refused:
        complete(instance_id, "Task_ProgressReport", people["applicant"], {**FORMS["Task_ProgressReport"], "spent_so_far": "99999999999"})
    assert "4,500.00" in refused.value.field_errors["spent_so_far"][0]
    complete(instance_id, "Task_ProgressReport", people["applicant"], {**FORMS["Task_ProgressReport"], "spent_so_far": "4500"})


def test_rejection_needs_reasons_and_commits_nothing(people):
    instance_id = apply(people["applicant"], people["org"])
    to_decision(people, instance_id)
    with pytest.raises(FormInvalid) as excinfo:
        complete(instance_id, "Task_Decide", people["supervisor"], {"decision": "reject"})
    assert "reasons" in excinfo.value.field_errors
    complete(instance_id, "Task_Decide", people["supervisor"], {"decision": "reject", "reasons": "与基金方向不符"})
    assert api.get_instance(instance_id=instance_id, viewer=api.SYSTEM).status == "completed"
    assert fund().committed == 0 and not LedgerEntry.objects.exists()


@pytest.mark.parametrize("lines,message_part", [
    ([{"item": "工具", "quantity": "-2", "unit_price": "10"}], "Row 1"),
    ([{"item": "工具", "quantity": "abc", "unit_price": "10"}], "Row 1"),
    ([{"item": "工具", "quantity": "1", "unit_price": "40000"}], "at most"),
    ([], "at least one row"),
])
def test_bad_amounts_are_refused_with_field_errors(people, lines, message_part):
    info = api.start_instance(process_key="micro_fund", actor=people["applicant"],
                              data={"organisation": str(people["org"].pk), "title": "t", "village": "dongshan", "category": "culture"})
    with pytest.raises(FormInvalid) as excinfo:
        complete(info.id, "Task_Application", people["applicant"], {**FORMS["Task_Application"], "budget_lines": lines})
    assert any(message_part in m for m in excinfo.value.field_errors["budget_lines"])
    assert open_task(info.id, "Task_Application")


def test_approved_amount_must_be_positive_and_within_the_request(people):
    instance_id = apply(people["applicant"], people["org"])
    to_decision(people, instance_id)
    for amount in ["-1", "0", "5000.01", "abc"]:
        with pytest.raises(FormInvalid) as excinfo:
            complete(instance_id, "Task_Decide", people["supervisor"], {"decision": "approve", "approved_amount": amount})
        assert "approved_amount" in excinfo.value.field_errors
    assert fund().committed == 0


def test_conflicted_reviewer_is_refused_on_the_panel_and_a_declared_conflict_is_excluded(people):
    member = join(make_user("r_member", "reviewer", villages=None), people["org"])
    local = make_user("r_local", "reviewer", villages=["dongshan"])
    instance_id = apply(people["applicant"], people["org"])
    complete(instance_id, "Task_CheckCompleteness", people["worker"])
    with pytest.raises(FormInvalid):  # conflicted reviewers are not even offered
        complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": ["r1", "r_member", "r_local"]})
    from processes.micro_fund.handlers import conflict_reason, panel_candidates

    application = Application.objects.get(instance_id=instance_id)
    offered = {u for u, _label in panel_candidates(people["supervisor"], {"application_id": application.pk})}
    assert {"r1", "r2", "r3"} <= offered and not offered & {"r_member", "r_local"}
    assert conflict_reason("r_member", application) and conflict_reason("r_local", application)  # and the hook refuses them too
    assert member and local
    complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": ["r1", "r2", "r3"]})
    complete(instance_id, "Task_Review", people["r1"], assignee="r1")
    complete(instance_id, "Task_Review", people["r2"], {**FORMS["Task_Review"], "score_need": 2}, assignee="r2")
    complete(instance_id, "Task_Review", people["r3"], {"conflict_of_interest": True, "conflict_reason": "是申请人的亲属"}, assignee="r3")
    from processes.micro_fund.handlers import panel_summary

    summary = panel_summary(Application.objects.get(instance_id=instance_id))
    assert summary["reviews"] == 2 and summary["excluded"] == 1
    assert summary["average"] == Decimal("7.00")  # (7.90 + 6.10) / 2 with weights .3/.3/.2/.2


def test_too_small_a_panel_is_refused(people):
    instance_id = apply(people["applicant"], people["org"])
    complete(instance_id, "Task_CheckCompleteness", people["worker"])
    with pytest.raises(FormInvalid):
        complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": ["r1", "r2"]})


def test_each_review_goes_to_its_named_reviewer_only(people):
    instance_id = apply(people["applicant"], people["org"])
    complete(instance_id, "Task_CheckCompleteness", people["worker"])
    complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": ["r1", "r2", "r3"]})
    reviews = HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Review", status="open")
    assert sorted(reviews.values_list("assignee__username", flat=True)) == ["r1", "r2", "r3"]
    with pytest.raises(NotPermitted):
        api.complete_task(task_id=open_task(instance_id, "Task_Review", "r1"), data=FORMS["Task_Review"], actor=people["r2"])
    assert selectors.tasks_for_user(people["r4"]) == []


def test_reviewer_missing_the_deadline_is_reminded_then_replaced(people):
    instance_id = apply(people["applicant"], people["org"])
    complete(instance_id, "Task_CheckCompleteness", people["worker"])
    complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": ["r1", "r2", "r3"]})
    complete(instance_id, "Task_Review", people["r1"], assignee="r1")
    complete(instance_id, "Task_Review", people["r2"], assignee="r2")
    started = HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Review").order_by("created_at").first().created_at
    assert api.fire_due_timers(as_of=started + dt.timedelta(days=6)).timers_fired == 0
    api.fire_due_timers(as_of=started + dt.timedelta(days=7, hours=1))
    assert OutboxMessage.objects.filter(instance_id=instance_id, channel="notify.reminder").count() == 1
    complete(instance_id, "Task_ReplaceReviewer", people["supervisor"], {"late_reviewer": "r3", "replacement": "r4", "reason": "r3 外出"})
    assert HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_Review", status="open").assignee == people["r4"]
    complete(instance_id, "Task_Review", people["r4"], assignee="r4")
    assert open_task(instance_id, "Task_Decide")


def test_applicant_cannot_reach_another_organisations_application(people):
    other_org = make_organisation("西水村妇女互助会", village="xishui", kind="women")
    other = join(make_user("other_applicant", "applicant", villages=None), other_org)
    instance_id = apply(people["applicant"], people["org"])
    to_decision(people, instance_id)
    with pytest.raises(NotFound):
        selectors.instance_for_user(other, instance_id)
    assert selectors.tasks_for_user(other) == []
    with pytest.raises(FormInvalid):  # nor apply in the name of an organisation they are not in
        api.start_instance(process_key="micro_fund", actor=other,
                           data={"organisation": str(people["org"].pk), "title": "t", "village": "dongshan", "category": "culture"})
    # The applicant sees their own application but never the reviewers' scores.
    assert selectors.instance_for_user(people["applicant"], instance_id).id == instance_id
    seen = [f.bpmn_id for f in api.submitted_forms(instance_id=instance_id, viewer=people["applicant"])]
    assert "Task_Application" in seen and "Task_Review" not in seen
    assert "Task_Review" in [f.bpmn_id for f in api.submitted_forms(instance_id=instance_id, viewer=people["supervisor"])]


@pytest.mark.django_db(transaction=True)  # threads: each approval has its own connection and sees only committed rows
@pytest.mark.postgres
def test_two_approvals_racing_for_the_last_money_cannot_both_commit_it(people, settings):
    settings.MICRO_FUND = {**settings.MICRO_FUND, "budget": "8000.00"}
    first, second = apply(people["applicant"], people["org"]), apply(people["applicant"], people["org"], title="文化节")
    for instance_id in (first, second):
        to_decision(people, instance_id)
    barrier = threading.Barrier(2)
    outcomes = []

    def approve(instance_id):
        try:
            barrier.wait()
            complete(instance_id, "Task_Decide", people["supervisor"], {"decision": "approve", "approved_amount": "5000"})
            outcomes.append("approved")
        except FormInvalid as exc:
            outcomes.append(exc.field_errors["approved_amount"][0])
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(i,)) for i in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes.count("approved") == 1 and len(outcomes) == 2
    assert fund().committed == Decimal("5000.00") and fund().available == Decimal("3000.00")
    assert LedgerEntry.objects.filter(kind="commit").count() == 1


def test_every_review_of_the_panel_shows_the_deadline_and_is_flagged_when_it_passes(people):
    instance_id = apply(people["applicant"], people["org"])
    complete(instance_id, "Task_CheckCompleteness", people["worker"])
    complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": ["r1", "r2", "r3"]})
    reviews = HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Review")
    assert all(r.due_at and r.due_at - r.created_at == pytest.approx(dt.timedelta(days=7), abs=dt.timedelta(seconds=5)) for r in reviews)
    complete(instance_id, "Task_Review", people["r1"], assignee="r1")
    api.fire_due_timers(as_of=reviews[0].created_at + dt.timedelta(days=8))
    late = HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Review", status="open")
    assert late.count() == 2 and all(r.sla_breached_at for r in late)
    assert OutboxMessage.objects.filter(instance_id=instance_id, channel="sla.breach").count() == 2


def test_fund_page_adds_up_and_exports_a_spreadsheet(client, people):
    from io import BytesIO

    from openpyxl import load_workbook

    run_to_completion(people, people["org"])
    open_one = apply(people["applicant"], people["org"], title="文化节")
    to_decision(people, open_one)
    complete(open_one, "Task_Decide", people["supervisor"], {"decision": "approve", "approved_amount": "3000"})
    client.force_login(people["supervisor"])
    html = client.get("/fund/").content.decode()
    assert "7,200.00" in html  # committed: 4,200 spent by the closed project + 3,000 approved
    book = load_workbook(BytesIO(client.get("/fund/export.xlsx").content))
    assert {"Summary", "Projects", "Ledger"} <= set(book.sheetnames) or len(book.sheetnames) == 3
    projects = list(book.worksheets[1].iter_rows(values_only=True))
    assert len(projects) == 3  # header + two applications
    client.force_login(people["applicant"])
    assert client.get("/fund/").status_code == 404


def test_case_page_shows_the_stage_to_the_applicant_and_the_panel_summary_only_when_all_have_scored(client, people):
    instance_id = apply(people["applicant"], people["org"])
    complete(instance_id, "Task_CheckCompleteness", people["worker"])
    complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": ["r1", "r2", "r3"]})
    complete(instance_id, "Task_Review", people["r1"], assignee="r1")
    client.force_login(people["r1"])
    page = client.get(f"/cases/{instance_id}/").content.decode()
    assert 'data-testid="case-summary"' in page and "评审" in page  # stage shown
    assert "7.90" not in page  # the panel has not finished
    complete(instance_id, "Task_Review", people["r2"], assignee="r2")
    complete(instance_id, "Task_Review", people["r3"], assignee="r3")
    assert "7.90" in client.get(f"/cases/{instance_id}/").content.decode()
    client.force_login(people["applicant"])
    page = client.get(f"/cases/{instance_id}/").content.decode()
    assert "5,000.00" in page and "7.90" not in page
