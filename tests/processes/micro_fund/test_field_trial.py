"""The micro-fund as its users met it in a field trial: reviews belong to their panel member alone,
scores stay sealed until the panel is complete, the panel's evaluator is one of its own reviewers and
a decision needs three valid scores, the final tranche needs its voucher, the spreadsheet is safe to
open, and the applicant never learns who reviewed it."""
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import load_workbook

from engine import api
from engine.errors import FormInvalid, NotPermitted
from engine.models import HumanTask
from portal.notifications.models import Notification
from processes.micro_fund.models import Application
from tests.conftest import make_user
from tests.portal import pageform

from .flows import FORMS, apply, complete, join, make_organisation, open_task, to_decision

pytestmark = pytest.mark.django_db
SCORE = FORMS["Task_Review"]


@pytest.fixture
def people(users, deployed):
    org = make_organisation()
    people = {**users, "org": org, "applicant": join(make_user("applicant", "applicant", villages=None), org),
              "finance": make_user("finance", "finance", villages=None)}
    for name in ("r1", "r2", "r3", "r4", "r5"):
        people[name] = make_user(name, "reviewer", villages=None)
        people[name].first_name = f"评审{name[1]}"
        people[name].save()
    return people


def paneled(people, panel=("r1", "r2", "r3")):
    instance_id = apply(people["applicant"], people["org"])
    complete(instance_id, "Task_CheckCompleteness", people["worker"])
    complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": list(panel)})
    return instance_id


# 5 ----------------------------------------------------------------------------------------------
def test_a_reviewer_off_the_panel_cannot_open_or_hear_of_its_reviews(client, people):
    instance_id = paneled(people)
    review = open_task(instance_id, "Task_Review", "r1")
    client.force_login(people["r4"])  # a reviewer, never on this panel
    assert client.get(f"/tasks/{review}/").status_code == 404
    assert client.get(f"/cases/{instance_id}/").status_code == 404
    assert f"/tasks/{review}/" not in client.get("/?tab=group").content.decode()
    assert not Notification.objects.filter(user=people["r4"]).exists()
    client.force_login(people["r2"])  # on the panel, but this review is r1's
    assert client.get(f"/tasks/{review}/").status_code == 404
    assert Notification.objects.filter(user=people["r2"], kind="new_task").count() == 1  # their own review only


def test_a_named_review_cannot_be_released_to_the_whole_group(people):
    instance_id = paneled(people)
    with pytest.raises(Exception) as refused:
        api.release_task(task_id=open_task(instance_id, "Task_Review", "r1"), actor=people["r1"])
    assert "by name" in str(refused.value)
    assert HumanTask.objects.get(pk=open_task(instance_id, "Task_Review", "r1")).assignee == people["r1"]


# 6 ----------------------------------------------------------------------------------------------
def test_scores_stay_hidden_until_the_whole_panel_has_scored(client, people):
    instance_id = paneled(people)
    complete(instance_id, "Task_Review", people["r1"], {**SCORE, "comments": "评审一号的意见"}, assignee="r1")
    client.force_login(people["r2"])  # has not scored yet
    page = client.get(f"/tasks/{open_task(instance_id, 'Task_Review', 'r2')}/").content.decode()
    assert "评审一号的意见" not in page
    client.force_login(people["worker"])
    assert "评审一号的意见" not in client.get(f"/cases/{instance_id}/").content.decode()
    for user in ("worker", "finance", "supervisor"):
        client.force_login(people[user])
        fund = client.get("/fund/").content.decode()
        assert "评审得分" not in fund and "Panel score" not in fund, user
    complete(instance_id, "Task_Review", people["r2"], assignee="r2")
    complete(instance_id, "Task_Review", people["r3"], assignee="r3")
    client.force_login(people["r2"])
    assert "评审一号的意见" in client.get(f"/cases/{instance_id}/").content.decode()


# 7 ----------------------------------------------------------------------------------------------
def test_a_declared_conflict_sends_the_panel_back_to_be_completed_before_anyone_decides(people):
    instance_id = paneled(people)
    complete(instance_id, "Task_Review", people["r1"], assignee="r1")
    complete(instance_id, "Task_Review", people["r2"], assignee="r2")
    complete(instance_id, "Task_Review", people["r3"], {"conflict_of_interest": True, "conflict_reason": "是申请人的亲属"}, assignee="r3")
    assert not HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Decide", status="open").exists()
    with pytest.raises(FormInvalid):  # somebody who already reviewed does not count again
        complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": ["r1"]})
    complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": ["r4"]})
    complete(instance_id, "Task_Review", people["r4"], assignee="r4")
    assert open_task(instance_id, "Task_Decide")


def test_the_decision_needs_three_valid_scores(people):
    """Even on a case whose panel check was skipped (an older version), two valid scores are not enough."""
    instance_id = paneled(people)
    complete(instance_id, "Task_Review", people["r1"], assignee="r1")
    complete(instance_id, "Task_Review", people["r2"], assignee="r2")
    complete(instance_id, "Task_Review", people["r3"], assignee="r3")
    application = Application.objects.get(instance_id=instance_id)
    application.reviews.filter(reviewer=people["r3"]).update(conflict_of_interest=True, weighted_score=None)
    with pytest.raises(FormInvalid) as refused:
        complete(instance_id, "Task_Decide", people["supervisor"])
    assert "decision" in refused.value.field_errors


def test_the_final_evaluation_goes_to_one_valid_panel_member_only(client, people):
    instance_id = paneled(people, ("r2", "r1", "r3"))
    for name in ("r2", "r1"):
        complete(instance_id, "Task_Review", people[name], assignee=name)
    complete(instance_id, "Task_Review", people["r3"], {"conflict_of_interest": True, "conflict_reason": "同村"}, assignee="r3")
    complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": ["r4"]})
    complete(instance_id, "Task_Review", people["r4"], assignee="r4")
    for bpmn_id, who in (("Task_Decide", "supervisor"), ("Task_Tranche1", "finance"), ("Task_ProgressReport", "applicant"),
                         ("Task_SiteVisit", "worker"), ("Task_FinalReport", "applicant")):
        complete(instance_id, bpmn_id, people[who])
    evaluation = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_ReviewerEvaluation", status="open")
    assert evaluation.assignee == people["r2"]  # the first to score without a conflict
    for outsider in ("r3", "r5", "r1"):
        client.force_login(people[outsider])
        assert client.get(f"/tasks/{evaluation.pk}/").status_code == 404, outsider
        with pytest.raises(NotPermitted):
            api.complete_task(task_id=evaluation.pk, data=FORMS["Task_ReviewerEvaluation"], actor=people[outsider])


# 8 ----------------------------------------------------------------------------------------------
def test_the_final_tranche_needs_a_voucher_and_finance_sees_what_to_pay(client, people):
    instance_id = paneled(people)
    for name in ("r1", "r2", "r3"):
        complete(instance_id, "Task_Review", people[name], assignee=name)
    complete(instance_id, "Task_Decide", people["supervisor"])
    client.force_login(people["finance"])
    page = client.get(f"/tasks/{open_task(instance_id, 'Task_Tranche1')}/").content.decode()
    assert "2,700.00" in page  # 60 % of the 4,500 approved
    for bpmn_id, who in (("Task_Tranche1", "finance"), ("Task_ProgressReport", "applicant"), ("Task_SiteVisit", "worker"),
                         ("Task_FinalReport", "applicant"), ("Task_WorkerEvaluation", "worker"), ("Task_ReviewerEvaluation", "r1")):
        complete(instance_id, bpmn_id, people[who])
    final = open_task(instance_id, "Task_FinalTranche")
    assert "1,500.00" in client.get(f"/tasks/{final}/").content.decode()  # 4,200 spent less 2,700 paid
    with pytest.raises(FormInvalid) as refused:
        complete(instance_id, "Task_FinalTranche", people["finance"], {"final_payment": "release"})
    assert "payment_reference" in refused.value.field_errors


# 9 ----------------------------------------------------------------------------------------------
def test_the_spreadsheet_has_no_live_formulas_and_reads_like_the_pages(client, people):
    instance_id = apply(people["applicant"], people["org"], title='=HYPERLINK("http://evil.example","点此")')
    to_decision(people, instance_id)
    complete(instance_id, "Task_Decide", people["supervisor"])
    client.force_login(people["finance"])
    book = load_workbook(BytesIO(client.get("/fund/export.xlsx").content))
    projects = book.worksheets[1]
    title = projects.cell(row=2, column=1)
    assert title.data_type == "s" and title.value.startswith("=HYPERLINK")  # kept as text, never a formula
    assert projects.cell(row=2, column=3).value == "东山村"  # the village's name, not its code
    ledger = book.worksheets[2]
    moment = ledger.cell(row=2, column=1).value
    from django.utils import timezone

    approved_at = Application.objects.get(instance_id=instance_id).decided_at
    assert abs((timezone.make_aware(moment) - approved_at).total_seconds()) < 60  # Asia/Shanghai, not UTC
    assert ledger.cell(row=2, column=5).value != "supervisor" or people["supervisor"].first_name == ""


# 10 ---------------------------------------------------------------------------------------------
def test_the_applicant_never_sees_who_reviewed_it(client, people):
    instance_id = paneled(people)
    for name in ("r1", "r2", "r3"):
        complete(instance_id, "Task_Review", people[name], assignee=name)
    client.force_login(people["applicant"])
    page = client.get(f"/cases/{instance_id}/").content.decode()
    for name in ("r1", "r2", "r3"):
        assert f">{name}<" not in page and people[name].first_name not in page
    history = api.get_instance(instance_id=instance_id, viewer=people["applicant"]).history
    assert not {e.actor_label for e in history} & {"r1", "r2", "r3", "评审1", "评审2", "评审3"}


def test_returned_application_comes_back_filled_in_with_the_reasons_on_top(client, people):
    instance_id = apply(people["applicant"], people["org"])
    complete(instance_id, "Task_CheckCompleteness", people["worker"], {"completeness": "return", "return_reasons": "缺少村委会盖章的证明"})
    client.force_login(people["applicant"])
    task_id = open_task(instance_id, "Task_Application")
    page = client.get(f"/tasks/{task_id}/").content.decode()
    assert 'data-testid="returned"' in page and "缺少村委会盖章的证明" in page
    assert FORMS["Task_Application"]["goals"] in page and 'value="宣传展板"' in page
    response = pageform.submit(client, f"/tasks/{task_id}/", {}, button="complete")  # resubmit as it stands
    assert response.status_code == 302
    assert Application.objects.get(instance_id=instance_id).requested_amount == Decimal("5000.00")


def test_replacing_a_late_reviewer_with_one_from_another_village_works_or_says_why(people):
    import datetime as dt

    instance_id = paneled(people)
    far = make_user("r_far", "reviewer", villages=["xishui"])  # no conflict with a dongshan project
    started = HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Review").order_by("pk").first().created_at
    api.fire_due_timers(as_of=started + dt.timedelta(days=7, hours=1))
    complete(instance_id, "Task_ReplaceReviewer", people["supervisor"],
             {"late_reviewer": "r1", "replacement": "r_far", "reason": "周教授出差"})
    assert HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_Review", status="open", assignee=far)


def test_the_replacement_task_is_withdrawn_once_every_review_is_in(people):
    import datetime as dt

    instance_id = paneled(people)
    started = HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Review").order_by("pk").first().created_at
    api.fire_due_timers(as_of=started + dt.timedelta(days=7, hours=1))
    replace = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_ReplaceReviewer")
    for name in ("r1", "r2", "r3"):  # late, but all in before the supervisor got to it
        complete(instance_id, "Task_Review", people[name], assignee=name)
    replace.refresh_from_db()
    assert replace.status == "cancelled"
    for bpmn_id, who in (("Task_Decide", "supervisor"), ("Task_Tranche1", "finance"), ("Task_ProgressReport", "applicant"),
                         ("Task_SiteVisit", "worker"), ("Task_FinalReport", "applicant"), ("Task_WorkerEvaluation", "worker"),
                         ("Task_ReviewerEvaluation", "r1"), ("Task_FinalTranche", "finance")):
        complete(instance_id, bpmn_id, people[who])
    assert api.get_instance(instance_id=instance_id, viewer=api.SYSTEM).status == "completed"


def test_a_refused_budget_comes_back_with_its_rows_and_no_pile_of_empty_ones(client, people):
    """Each refused submit of a form with rows (a budget over the cap) came back with three more
    empty rows than before, each marked red."""
    import re

    info = api.start_instance(process_key="micro_fund", actor=people["applicant"],
                              data={"organisation": str(people["org"].pk), "title": "t", "village": "dongshan", "category": "culture"})
    client.force_login(people["applicant"])
    url = f"/tasks/{open_task(info.id, 'Task_Application')}/"
    values = {**{k: v for k, v in FORMS["Task_Application"].items() if k != "budget_lines"},
              "budget_lines-0-item": "炊具", "budget_lines-0-quantity": "2", "budget_lines-0-unit_price": "20000"}
    page = client.get(url).content
    for _attempt in range(3):  # each time the refused page itself is sent again, as a person would
        form = pageform.page_form(page)
        response = client.post(url, pageform.encode(pageform.press(form, pageform.fill(form, values), "complete")))
        assert response.status_code == 400
        page = response.content
        rows = set(re.findall(r'name="budget_lines-(\d+)-item"', page.decode()))
        assert len(rows) == 1 + 3 and 'value="炊具"' in page.decode()
