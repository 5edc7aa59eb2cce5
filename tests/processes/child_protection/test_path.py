"""The child-protection process end to end, through the engine's public API."""
import pytest

from engine import api
from engine.models import AuditEvent, OutboxMessage
from processes.child_protection.models import ChildProtectionCase

from .flows import run_whole_case

pytestmark = pytest.mark.django_db


def test_whole_case_from_report_to_closure(deployed, users, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # on-commit delivery: the outbox is sent after each step commits
        instance_id = run_whole_case(users)

    info = api.get_instance(instance_id=instance_id, viewer=api.SYSTEM)
    assert info.status == "completed"
    assert info.open_tasks == []
    case = ChildProtectionCase.objects.get(instance_id=instance_id)
    assert case.status == "closed" and case.risk_level == "high"
    assert case.police_receipt_no == "JJ-2026-1129-01" and case.police_feedback == "已立案并训诫"
    assert case.child["child_name"] == "小明" and case.reporter["reporter_name"] == "张老师"
    # Police immediately, and civil affairs because of present danger: each queued and sent once.
    assert sorted(m.channel for m in OutboxMessage.objects.filter(instance_id=instance_id)) == ["partner.civil_affairs", "partner.police"]
    assert sorted(m["channel"] for m in sent) == ["partner.civil_affairs", "partner.police"]
    kinds = [e.kind for e in info.history]
    assert kinds[0] == "started" and kinds[-1] == "instance_completed"
    assert kinds.count("completed") == 9


def test_no_civil_affairs_notice_without_present_danger(deployed, users):
    from .flows import FORMS, complete, start_case

    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake", {**FORMS["Task_Intake"], "present_danger": False})
    channels = list(OutboxMessage.objects.filter(instance_id=instance_id).values_list("channel", flat=True))
    assert channels == ["partner.police"]


def test_submitted_data_is_audited_with_who(deployed, users):
    from .flows import FORMS, complete, start_case

    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    event = AuditEvent.objects.get(instance_id=instance_id, kind="completed")
    assert event.actor == users["intake"] and event.data["data"]["child_name"] == FORMS["Task_Intake"]["child_name"]
