"""The activities process end to end: a class of a standing group recorded by name, an open event by
counts, the supervisor's return and approval, and what careless or hostile input gets."""
import datetime as dt
import re

import pytest

from engine import api, clock, registry
from engine.errors import FormInvalid
from engine.models import HumanTask
from processes.activities.models import Activity, Attendance, Roster, RosterMember

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(users, deployed):
    roster = Roster.objects.create(village="dongshan", name="东山村课后课堂", kind="after_school")
    roster.workers.add(users["worker"])  # who plans its sessions and takes their attendance (ADR 0041)
    today = clock.today()
    members = [RosterMember.objects.create(roster=roster, name=name, minor=minor, guardian_consent=True, joined_on=today)
               for name, minor in (("王小明", True), ("李小红", True), ("张老师", False))]
    return roster, members


def task(instance_id, bpmn_id):
    return HumanTask.objects.filter(instance_id=instance_id, bpmn_id=bpmn_id, status="open").order_by("pk").first()


def plan(users, roster=None, held_on=None, village="dongshan", **extra):
    data = {"kind": "after_school" if roster else "awareness", "title": "课后课堂", "village": village, "place": "村委会",
            "held_on": (held_on or clock.today()).isoformat(), "facilitator": "李明", "partner": "",
            "roster": str(roster.pk) if roster else "", **extra}
    return api.start_instance(process_key="activities", actor=users["worker"], data=data).id


def test_a_class_is_recorded_by_name_returned_once_and_approved(users, group):
    roster, (ming, hong, teacher) = group
    instance_id = plan(users, roster)
    variables = api.task_variables(task_id=task(instance_id, "Task_Attendance").pk)
    assert registry.option_source("roster_members", users["worker"], variables) == [
        (str(ming.pk), "王小明"), (str(hong.pk), "李小红"), (str(teacher.pk), "张老师")]
    api.complete_task(task_id=task(instance_id, "Task_Attendance").pk, actor=users["worker"],
                      data={"present": [str(ming.pk), str(teacher.pk)], "content": "作业辅导"})
    activity = Activity.objects.get(instance_id=instance_id)
    assert (activity.status, activity.participants, activity.children) == ("recorded", 2, 1)

    api.complete_task(task_id=task(instance_id, "Task_Review").pk, actor=users["supervisor"],
                      data={"decision": "return", "comments": "请补记李小红"})
    assert Activity.objects.get(instance_id=instance_id).status == "planned"
    api.complete_task(task_id=task(instance_id, "Task_Attendance").pk, actor=users["worker"],
                      data={"present": [str(ming.pk), str(hong.pk), str(teacher.pk)], "content": "作业辅导"})
    # Recorded again, not added to: three people once each.
    assert sorted(Attendance.objects.filter(activity=activity).values_list("member_id", flat=True)) == sorted([ming.pk, hong.pk, teacher.pk])
    api.complete_task(task_id=task(instance_id, "Task_Review").pk, actor=users["supervisor"], data={"decision": "approve"})
    activity.refresh_from_db()
    assert (activity.status, activity.participants, activity.children) == ("approved", 3, 2)
    assert api.get_instance(instance_id=instance_id, viewer=api.SYSTEM, with_history=False).status == "completed"


def test_the_supervisor_reviewing_a_class_reads_who_attended_by_name(users, group):
    """The attendance names the roster's members; the supervisor deciding on the record, and the
    case's history, show their names (the list comes from this activity's roster), not numbers."""
    roster, (ming, hong, teacher) = group
    instance_id = plan(users, roster)
    api.complete_task(task_id=task(instance_id, "Task_Attendance").pk, actor=users["worker"],
                      data={"present": [str(ming.pk), str(teacher.pk)], "content": "作业辅导"})
    for viewer in (users["supervisor"], users["worker"]):
        attendance = next(f for f in api.submitted_forms(instance_id=instance_id, viewer=viewer) if f.bpmn_id == "Task_Attendance")
        assert next(v.value for v in attendance.fields if v.key == "present") == "王小明、张老师"


def test_an_open_event_is_recorded_by_counts(users, deployed):
    instance_id = plan(users)
    assert task(instance_id, "Task_Attendance") is None
    with pytest.raises(FormInvalid) as refused:
        api.complete_task(task_id=task(instance_id, "Task_Counts").pk, actor=users["worker"],
                          data={"participants": 20, "children": 30, "content": "宣传"})
    assert "children" in refused.value.field_errors
    for bad in (-1, 2.5, 10**9):
        with pytest.raises(FormInvalid):
            api.complete_task(task_id=task(instance_id, "Task_Counts").pk, actor=users["worker"],
                              data={"participants": bad, "content": "宣传"})
    api.complete_task(task_id=task(instance_id, "Task_Counts").pk, actor=users["worker"],
                      data={"participants": 45, "children": 15, "content": "宣传"})
    activity = Activity.objects.get(instance_id=instance_id)
    assert (activity.status, activity.participants, activity.children) == ("recorded", 45, 15)


def test_a_session_cannot_be_recorded_before_it_takes_place(users, group):
    roster, members = group
    instance_id = plan(users, roster, held_on=clock.today() + dt.timedelta(days=3))
    with pytest.raises(FormInvalid) as refused:
        api.complete_task(task_id=task(instance_id, "Task_Attendance").pk, actor=users["worker"],
                          data={"present": [str(members[0].pk)], "content": "x"})
    assert "present" in refused.value.field_errors
    assert not Attendance.objects.exists()


def test_planning_refuses_a_far_date_another_village_and_another_villages_group(users, group):
    roster, _members = group
    other = Roster.objects.create(village="xishui", name="西水村课后课堂")
    for data, field in ((dict(held_on=clock.today() + dt.timedelta(days=800)), "held_on"),
                        (dict(held_on=dt.date(1999, 1, 1)), "held_on"),
                        (dict(village="xishui"), "village"),
                        (dict(roster=other), "roster")):
        with pytest.raises(FormInvalid) as refused:
            plan(users, **{"roster": roster, **data})
        assert field in refused.value.field_errors, (data, refused.value.field_errors)
    assert not Activity.objects.exists()


def test_attendance_names_only_members_of_the_group(users, group):
    roster, members = group
    stranger = RosterMember.objects.create(roster=Roster.objects.create(village="dongshan", name="另一个小组"), name="外人",
                                           joined_on=clock.today())
    instance_id = plan(users, roster)
    with pytest.raises(FormInvalid):
        api.complete_task(task_id=task(instance_id, "Task_Attendance").pk, actor=users["worker"],
                          data={"present": [str(stranger.pk)], "content": "x"})
    assert not Attendance.objects.exists()


def test_names_in_groups_are_encrypted_at_rest(group):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM activities_rostermember")
        stored = [row[0] for row in cursor.fetchall()]
    assert stored and not any("王小明" in value or "李小红" in value for value in stored)


def test_the_start_form_offers_a_worker_only_their_own_villages(users, deployed, client):
    client.force_login(users["worker"])  # dongshan
    form = client.get("/start/activities/").content.decode()
    offered = set(re.findall(r'<option value="(\w+)"', form.split('name="village"')[1].split("</select>")[0]))
    assert offered == {"dongshan"}
    from tests.conftest import make_user

    client.force_login(make_user("worker_everywhere", "worker", villages=None))  # a township-wide worker
    form = client.get("/start/activities/").content.decode()
    assert {"dongshan", "xishui"} <= set(re.findall(r'<option value="(\w+)"', form.split('name="village"')[1].split("</select>")[0]))
