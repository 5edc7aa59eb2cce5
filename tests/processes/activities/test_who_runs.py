"""A standing group names its members (mostly children) only to those who run it (ADR 0041): its
workers — its creator, then whoever a supervisor of the village puts on it — and the village's
supervisors. Another worker of the village and the administrator see the group, its size and its
sessions, no name, and change nothing; the start form offers a worker only the groups they run, and
only those who run a group take its attendance. Groups made before they had workers are run by whoever
started their sessions."""
import importlib
import re
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.conf import settings

from engine import api, clock, registry
from engine.errors import FormInvalid
from engine.models import HumanTask
from engine.station import AccessLog
from processes.activities.handlers import plan_session
from processes.activities.models import Activity, Attendance, Roster, RosterMember

pytestmark = pytest.mark.django_db

NAMES = ("王小明", "李小红", "张老师")


@pytest.fixture
def group(users, deployed):
    roster = Roster.objects.create(village="dongshan", name="东山村课后课堂", kind="after_school")
    roster.workers.add(users["worker"])
    for name, minor in zip(NAMES, (True, True, False)):
        RosterMember.objects.create(roster=roster, name=name, minor=minor, guardian_consent=True, joined_on=clock.today())
    RosterMember.objects.create(roster=roster, name="周小雨", guardian_consent=True, joined_on=clock.today(), active=False)
    return roster


def url(roster) -> str:
    return f"/activities/groups/{roster.pk}/"


def in_english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def plan(actor, roster, held_on=None) -> int:
    return api.start_instance(process_key="activities", actor=actor, data={
        "kind": "after_school", "title": "作业辅导", "village": roster.village, "place": "村委会", "facilitator": "李明",
        "held_on": (held_on or clock.today()).isoformat(), "roster": str(roster.pk)}).id


def attendance_task(instance_id) -> HumanTask:
    return HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_Attendance", status="open")


def members(roster) -> dict[str, int]:
    return {m.name: m.pk for m in roster.members.all()}


# -- the group's page -----------------------------------------------------------------------------------

@pytest.mark.parametrize("viewer", ["worker", "supervisor"])
def test_who_runs_the_group_sees_its_names_and_each_view_is_logged(users, group, client, viewer):
    client.force_login(users[viewer])
    page = client.get(url(group)).content.decode()
    assert all(name in page for name in NAMES + ("周小雨",)) and 'data-testid="no-names"' not in page
    for form in ("add-member", "open-close"):
        assert f'data-testid="{form}"' in page
    assert ('data-testid="add-worker"' in page) == (viewer == "supervisor")
    assert AccessLog.objects.filter(user=users[viewer], view="roster").count() == 1


@pytest.mark.parametrize("viewer", ["worker2", "admin"])
def test_anyone_else_of_the_village_sees_the_group_its_size_and_sessions_but_no_name(users, group, client, viewer):
    plan(users["worker"], group)
    client.force_login(users[viewer])
    page = in_english(client).get(url(group)).content.decode()
    assert not [name for name in NAMES + ("周小雨",) if name in page]
    assert 'data-testid="no-names"' in page and "seen only by the workers who run it" in page
    assert ("can put you on the group" in page) == (viewer == "worker2")  # not the administrator, who runs no group
    size = page.split('data-testid="size"')[1].split("</p>")[0]
    assert "3 members" in size and "of whom 2 children" in size  # the active members; the one who left is not counted
    assert "作业辅导" in page  # its sessions
    workers = page.split('data-testid="workers"')[1].split("</ul>")[0]
    assert api.display_name(users["worker"]) in workers
    for form in ("add-member", "open-close", "add-worker", "remove-worker"):
        assert f'data-testid="{form}"' not in page
    assert not AccessLog.objects.filter(user=users[viewer], view="roster").exists()


@pytest.mark.parametrize("viewer", ["worker2", "admin"])
def test_anyone_else_changes_nothing(users, group, client, viewer):
    client.force_login(users[viewer])
    ming = group.members.get(pk=members(group)["王小明"])
    before = (RosterMember.objects.count(), list(RosterMember.objects.order_by("pk").values_list("active", flat=True)),
              Roster.objects.get(pk=group.pk).active, set(group.workers.all()))
    for form in ({"_action": "add", "name": "赵小花", "minor": "on", "guardian_consent": "on"},
                 {"_action": "leave", "member": ming.pk}, {"_action": "close"}, {"_action": "reopen"},
                 {"_action": "add_worker", "worker": users["worker2"].pk}, {"_action": "remove_worker", "worker": users["worker"].pk}):
        refused = in_english(client).post(url(group), form)
        assert refused.status_code == 403, form
        assert "Only" in refused.content.decode() and "赵小花" not in refused.content.decode()
    assert (RosterMember.objects.count(), list(RosterMember.objects.order_by("pk").values_list("active", flat=True)),
            Roster.objects.get(pk=group.pk).active, set(group.workers.all())) == before


def test_a_supervisor_hands_the_group_to_another_worker_and_a_worker_cannot(users, group, client):
    client.force_login(users["worker"])  # runs it, but does not hand it on
    assert client.post(url(group), {"_action": "add_worker", "worker": users["worker2"].pk}).status_code == 403
    assert client.post(url(group), {"_action": "remove_worker", "worker": users["worker"].pk}).status_code == 403
    client.force_login(users["supervisor"])
    choices = client.get(url(group)).content.decode().split('data-testid="add-worker"')[1].split("</form>")[0]
    assert f'value="{users["worker2"].pk}"' in choices and f'value="{users["worker_xishui"].pk}"' not in choices  # this village's workers
    refused = client.post(url(group), {"_action": "add_worker", "worker": users["worker_xishui"].pk})
    assert refused.status_code == 400 and 'role="alert"' in refused.content.decode()
    assert client.post(url(group), {"_action": "add_worker", "worker": users["worker2"].pk}).status_code == 302
    assert client.post(url(group), {"_action": "remove_worker", "worker": users["worker"].pk}).status_code == 302
    assert set(group.workers.all()) == {users["worker2"]}
    client.force_login(users["worker2"])
    assert all(name in client.get(url(group)).content.decode() for name in NAMES)
    client.force_login(users["worker"])
    assert not [name for name in NAMES if name in client.get(url(group)).content.decode()]


def test_a_refused_member_keeps_what_was_typed(users, group, client):
    client.force_login(users["worker"])
    refused = client.post(url(group), {"_action": "add", "name": "赵小花", "minor": "on"})  # no consent on record
    assert refused.status_code == 400 and 'value="赵小花"' in refused.content.decode()
    assert "赵小花" not in {m.name for m in RosterMember.objects.all()}


def test_whoever_creates_a_group_runs_it_and_the_administrator_creates_none(users, deployed, client):
    form = {"name": "西水村培训班", "village": "dongshan", "kind": "training"}
    client.force_login(users["admin"])
    assert client.post("/activities/groups/", form).status_code == 403 and not Roster.objects.exists()
    assert 'name="kind"' not in client.get("/activities/groups/").content.decode()
    client.force_login(users["worker"])
    assert client.post("/activities/groups/", form).status_code == 302
    assert list(Roster.objects.get().workers.all()) == [users["worker"]]


# -- the process: planning and attendance ---------------------------------------------------------------

def offered(client, user) -> set[str]:
    client.force_login(user)
    form = client.get("/start/activities/").content.decode()
    return set(re.findall(r'<option value="(\d+)"', form.split('name="roster"')[1].split("</select>")[0]))


def test_the_start_form_offers_only_the_groups_the_user_runs(users, group, client):
    other = Roster.objects.create(village="dongshan", name="东山村培训班", kind="training")
    other.workers.add(users["worker2"])
    Roster.objects.create(village="xishui", name="西水村课后课堂").workers.add(users["worker_xishui"])
    assert offered(client, users["worker"]) == {str(group.pk)}
    assert offered(client, users["worker2"]) == {str(other.pk)}
    # The list behind the form: a supervisor (who starts no session, the worker's lane) runs every group of their villages.
    assert {pk for pk, _name in registry.option_source("activity_rosters", users["supervisor"])} == {str(r.pk) for r in Roster.objects.all()}
    assert registry.option_source("activity_rosters", users["admin"]) == []


def test_planning_a_session_of_a_group_one_does_not_run_is_refused(users, group):
    data = {"kind": "after_school", "title": "作业辅导", "village": "dongshan", "place": "村委会", "facilitator": "李明",
            "held_on": clock.today().isoformat(), "roster": str(group.pk)}
    with pytest.raises(FormInvalid) as refused:
        api.start_instance(process_key="activities", actor=users["worker2"], data=data)
    assert "roster" in refused.value.field_errors
    # The hook refuses too, whatever the form offered.
    ctx = SimpleNamespace(actor=users["worker2"], instance_id=0)
    with pytest.raises(FormInvalid) as refused:
        plan_session(ctx, data)
    assert "roster" in refused.value.field_errors and not Activity.objects.exists()


def test_the_attendance_names_the_members_only_to_those_who_run_the_group(users, group):
    variables = api.task_variables(task_id=attendance_task(plan(users["worker"], group)).pk)
    named = [(str(pk), name) for name, pk in members(group).items() if name != "周小雨"]
    for user in ("worker", "supervisor"):
        assert registry.option_source("roster_members", users[user], variables) == named
    for user in ("worker2", "admin", "worker_xishui"):
        assert registry.option_source("roster_members", users[user], variables) == []


@pytest.mark.parametrize("holder", ["worker2", "admin"])
def test_the_attendance_is_refused_to_whoever_does_not_run_the_group(users, group, holder):
    instance_id = plan(users["worker"], group)
    task = attendance_task(instance_id)
    api.assign_task(task_id=task.pk, assignee_username=holder, actor=users["supervisor"], reason="代班")
    ming = members(group)["王小明"]
    for present in ([], [str(ming)]):
        with pytest.raises(FormInvalid) as refused:
            api.complete_task(task_id=task.pk, actor=users[holder], data={"present": present, "content": "作业辅导"})
        assert "present" in refused.value.field_errors
    assert not Attendance.objects.exists() and Activity.objects.get(instance_id=instance_id).status == "planned"


def test_the_hook_refuses_whoever_does_not_run_the_group(users, group):
    """Whatever the form let through (a member's number known from elsewhere), the hook checks the actor."""
    from processes.activities.handlers import record_attendance

    instance_id = plan(users["worker"], group)
    ctx = SimpleNamespace(actor=users["worker2"], instance_id=instance_id)
    with pytest.raises(FormInvalid) as refused:
        record_attendance(ctx, {"present": [str(members(group)["王小明"])]})
    assert "present" in refused.value.field_errors and not Attendance.objects.exists()


def test_the_planner_and_a_supervisor_who_takes_the_task_over_record_it(users, group):
    ming, hong = members(group)["王小明"], members(group)["李小红"]
    first = plan(users["worker"], group)
    api.complete_task(task_id=attendance_task(first).pk, actor=users["worker"], data={"present": [str(ming)], "content": "作业辅导"})
    second = plan(users["worker"], group)
    task = attendance_task(second)
    api.assign_task(task_id=task.pk, assignee_username="supervisor", actor=users["supervisor"], reason="社工病假")
    api.complete_task(task_id=task.pk, actor=users["supervisor"], data={"present": [str(ming), str(hong)], "content": "阅读分享"})
    assert [Activity.objects.get(instance_id=i).participants for i in (first, second)] == [1, 2]
    for instance_id in (first, second):
        review = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_Review", status="open")
        api.complete_task(task_id=review.pk, actor=users["supervisor"], data={"decision": "approve"})
    assert set(Activity.objects.values_list("status", flat=True)) == {"approved"}


# -- groups made before they had workers --------------------------------------------------------------------

def test_the_migration_gives_each_group_the_workers_who_started_its_sessions(users, deployed):
    """Run on the project's models: the migration's function reads them by the same names."""
    migration = importlib.import_module("processes.activities.migrations.0004_roster_workers")
    held, idle = Roster.objects.create(village="dongshan", name="东山村课后课堂"), Roster.objects.create(village="dongshan", name="空小组")
    for actor in (users["worker"], users["worker2"], users["worker"]):  # sessions planned before groups had workers
        instance_id = api.start_instance(process_key="activities", actor=actor, data={
            "kind": "awareness", "title": "宣传", "village": "dongshan", "place": "广场", "facilitator": "社工",
            "held_on": clock.today().isoformat()}).id
        Activity.objects.filter(instance_id=instance_id).update(roster=held)
    migration.workers_from_sessions(django_apps, None)
    assert set(held.workers.all()) == {users["worker"], users["worker2"]} and not idle.workers.exists()
