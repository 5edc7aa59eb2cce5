"""What a walk through the child-protection flow found: dates recorded after the report that
precede it, a plan returned without saying why (so not marked returned), and summary dates
without their year."""
import datetime as dt

import pytest
from django.utils import timezone, translation

from engine import api, forms
from engine.catalog import definition
from engine.errors import FormInvalid
from engine.models import AuditEvent, HumanTask, ProcessInstance
from processes.child_protection.handlers import case_summary
from processes.child_protection.models import ChildProtectionCase
from tests.dates import today

from .flows import FORMS, START, complete, open_task, start_case

pytestmark = pytest.mark.django_db

BEFORE_CLOSURE = ["Task_Intake", "Task_PoliceReceipt", "Task_Respond", "Task_Assessment", "Task_CasePlan",
                  "Task_ApprovePlan", "Task_FollowUp"]


def _case_at_closure(users) -> int:
    instance_id = start_case(users)
    for bpmn_id in BEFORE_CLOSURE:
        complete(users, instance_id, bpmn_id)
    return instance_id


def _refusal(users, instance_id: int, bpmn_id: str, data: dict) -> dict:
    with pytest.raises(FormInvalid) as refused:
        complete(users, instance_id, bpmn_id, data)
    return refused.value.field_errors


def test_closure_refuses_a_feedback_date_before_the_report_or_after_today(deployed, users):
    """Ten days before a report received 20 minutes ago is within a year, which the form used to
    accept: the police cannot answer a report before it was made."""
    instance_id = _case_at_closure(users)
    errors = _refusal(users, instance_id, "Task_Closure", {**FORMS["Task_Closure"], "police_feedback_received_at": today(-10)})
    assert list(errors) == ["police_feedback_received_at"]
    assert errors["police_feedback_received_at"][0].startswith("Cannot be earlier than Received at (")
    with translation.override("zh-hans"):
        errors = _refusal(users, instance_id, "Task_Closure", {**FORMS["Task_Closure"], "police_feedback_received_at": today(-10)})
    assert "不能早于“接报时间”" in errors["police_feedback_received_at"][0], errors
    errors = _refusal(users, instance_id, "Task_Closure", {**FORMS["Task_Closure"], "police_feedback_received_at": today(1)})
    assert list(errors) == ["police_feedback_received_at"]

    complete(users, instance_id, "Task_Closure", {**FORMS["Task_Closure"], "police_feedback_received_at": today()})
    assert open_task(instance_id, "Task_ApproveClosure")


def test_follow_up_refuses_a_visit_before_the_report(deployed, users):
    instance_id = start_case(users)
    for bpmn_id in BEFORE_CLOSURE[:-1]:
        complete(users, instance_id, bpmn_id)
    errors = _refusal(users, instance_id, "Task_FollowUp", {**FORMS["Task_FollowUp"], "followup_date": today(-10)})
    assert list(errors) == ["followup_date"]
    complete(users, instance_id, "Task_FollowUp")  # today: after the report, so taken


def test_civil_affairs_contact_cannot_precede_the_report(deployed, users):
    """The civil-affairs office's task comes 48 hours after receipt; its contact time is bounded by
    the report as every other step's dates are (checked on the form with the case's variables)."""
    instance_id = start_case(users)
    row = ProcessInstance.objects.get(pk=instance_id)
    form = definition(row.definition_id).forms["Task_CivilAffairsEscalation"]
    received = timezone.localtime(ChildProtectionCase.objects.get(instance_id=instance_id).received_at)
    earlier = (received - dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    with forms.acting_as(users["civil"], {"received_at": received.isoformat()}):
        with pytest.raises(FormInvalid) as refused:
            forms.clean_form_data(form, {"oversight_action": "已电话督办", "contact_made_at": earlier})
    assert list(refused.value.field_errors) == ["contact_made_at"]


def test_a_plan_returned_without_comments_is_refused(deployed, users):
    instance_id = start_case(users)
    for bpmn_id in BEFORE_CLOSURE[:5]:
        complete(users, instance_id, bpmn_id)
    errors = _refusal(users, instance_id, "Task_ApprovePlan", {"plan_decision": "return"})
    assert list(errors) == ["comments"]
    assert open_task(instance_id, "Task_ApprovePlan")  # nothing moved


def test_a_returned_plan_comes_back_marked_returned_and_prefilled(deployed, users):
    instance_id = start_case(users)
    for bpmn_id in BEFORE_CLOSURE[:5]:
        complete(users, instance_id, bpmn_id)
    complete(users, instance_id, "Task_ApprovePlan", {"plan_decision": "return", "comments": "请写明家访频次"})
    task_id = open_task(instance_id, "Task_CasePlan")
    ready = AuditEvent.objects.filter(instance_id=instance_id, kind="task_ready", bpmn_id="Task_CasePlan").order_by("-pk").first()
    assert ready.data["returned"] is True  # what the "returned to you" notice is sent from
    notice = api.return_notice(task_id=task_id, viewer=users["worker"])
    assert notice is not None and notice.fields[0].value == "请写明家访频次"
    assert api.previous_submission(task_id=task_id, viewer=users["worker"])["goals"] == FORMS["Task_CasePlan"]["goals"]


def test_the_worker_s_inbox_marks_the_returned_plan_and_only_it(deployed, users, client):
    from django.conf import settings

    instance_id = start_case(users)
    for bpmn_id in BEFORE_CLOSURE[:4]:
        complete(users, instance_id, bpmn_id)
    first = open_task(instance_id, "Task_CasePlan")
    client.force_login(users["worker"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    def rows() -> dict[int, bool]:
        """{task: marked returned} of the worker's inbox, both tabs."""
        found = {}
        for tab in ("mine", "group"):
            page = client.get(f"/?tab={tab}").content.decode()
            found.update({int(row.split('"')[0]): 'data-testid="returned"' in row.split("</li>")[0] for row in page.split('data-task="')[1:]})
        return found

    def marked() -> set[int]:
        return {task for task, returned in rows().items() if returned}

    assert first in rows() and first not in marked()
    complete(users, instance_id, "Task_CasePlan")
    complete(users, instance_id, "Task_ApprovePlan", {"plan_decision": "return", "comments": "请写明家访频次"})
    again = open_task(instance_id, "Task_CasePlan")
    assert marked() == {again} and HumanTask.objects.get(pk=again).returned


def test_case_summary_dates_carry_the_year(deployed, users):
    """A case received last December is still open in January: "12-28" alone would read as this year's."""
    received = timezone.localtime() - dt.timedelta(days=20)
    instance_id = start_case(users, {**START, "received_at": received.strftime("%Y-%m-%dT%H:%M")})
    complete(users, instance_id, "Task_Intake")  # the response, and its deadline, come with the intake
    rows = dict(case_summary(instance_id, users["supervisor"]))
    assert rows["Report received"] == received.strftime("%Y-%m-%d %H:%M")
    due = HumanTask.objects.get(pk=open_task(instance_id, "Task_Respond")).due_at
    assert rows["Response due"] == timezone.localtime(due).strftime("%Y-%m-%d %H:%M")
