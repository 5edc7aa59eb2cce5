"""A household's page gathers what every process holds about its people, each filtered by what the
viewer may see: a child-protection case about a member (by number, never the child's name) only for
those who may open that case under the need-to-know gate — anyone else sees no trace of it, not even
a count —, a child's growth archive (its case and groups) only for those who may open the archive,
and the sessions a group member attended for staff of the group's village."""
import datetime as dt

import pytest
from django.conf import settings

from engine import api, clock
from processes.activities.models import Activity, Attendance, Roster, RosterMember
from processes.child_protection.models import ChildProtectionCase
from processes.children.models import ChildCase, Group, GroupMember
from processes.needs_matching.models import Household, Member
from tests.minors import approve_access, approve_record_access, give_record_reason
from tests.processes.child_protection import flows as cp

pytestmark = pytest.mark.django_db
NUMBER = "HH-DS-900"


@pytest.fixture
def household(users, deployed):
    home = Household.objects.create(code=NUMBER, village="dongshan", head_name="周户主", annual_income=9000)
    Member.objects.create(household=home, name="周户主", relation="户主", age=40, sex="male")
    Member.objects.create(household=home, name="周小雨", relation="子女", age=9, sex="female", school_enrolled=True)
    for who in ("worker", "worker2"):  # neither holds a needs case of the household: both asked and were approved
        approve_record_access(users[who], "household", home.pk, approver=users["supervisor"])
    return home


@pytest.fixture
def cp_case(users, household):
    """A report about the household's child; the worker who responded links it to the household."""
    instance_id = cp.start_case(users)
    cp.complete(users, instance_id, "Task_Intake", {**cp.FORMS["Task_Intake"], "child_name": "周小雨"})
    cp.complete(users, instance_id, "Task_Respond", {**cp.FORMS["Task_Respond"], "household": NUMBER})
    return ChildProtectionCase.objects.get(instance_id=instance_id)


def page(client, user, household, *, reason=False) -> str:
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    url = f"/households/{household.pk}/"
    if reason:
        give_record_reason(client, "household", household.pk, next_url=url)
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_a_child_protection_case_shows_only_to_those_who_may_open_it_and_leaves_no_trace_for_others(users, household, cp_case, client):
    assert cp_case.household_code == NUMBER
    seen = page(client, users["worker"], household)  # responded: holds the case
    assert cp_case.case_no in seen and "Child protection" in seen
    facets = seen.split('data-testid="household-facets"')[1].split("</dl>")[0]
    assert cp_case.case_no in facets and "周小雨" not in facets  # the member list names her; the case does not
    supervisor = page(client, users["supervisor"], household, reason=True)
    assert cp_case.case_no in supervisor
    unseen = page(client, users["worker2"], household)  # same village, may open the household, not the case
    assert cp_case.case_no not in unseen and "Child protection" not in unseen and "CP-" not in unseen
    approve_access(users["worker2"], cp_case.instance_id, approver=users["supervisor"])
    assert cp_case.case_no in page(client, users["worker2"], household)


def test_the_link_is_refused_for_a_household_outside_the_workers_villages(users, household):
    from engine.errors import FormInvalid

    theirs = Household.objects.create(code="HH-XS-900", village="xishui", head_name="吴户主", annual_income=9000)
    instance_id = cp.start_case(users)
    cp.complete(users, instance_id, "Task_Intake")
    with pytest.raises(FormInvalid) as refused:
        cp.complete(users, instance_id, "Task_Respond", {**cp.FORMS["Task_Respond"], "household": theirs.code})
    assert "household" in refused.value.field_errors
    assert ChildProtectionCase.objects.get(instance_id=instance_id).household_code is None


def test_a_childs_archive_shows_its_case_and_groups_only_to_those_who_may_open_it(users, household, client):
    from tests.processes.children.flows import child, open_case

    kid = child(name="周小雨", household_code=NUMBER)
    group = Group.objects.create(village="dongshan", name="彩虹小组", goal="交朋友", facilitator="社工")
    GroupMember.objects.create(group=group, child=kid, joined_on=clock.today())
    open_case(users["worker"], child_from="archive", child=str(kid.pk))
    assert ChildCase.objects.filter(child=kid).exists()
    seen = page(client, users["worker"], household)  # holds the child's case
    assert kid.code in seen and "彩虹小组" in seen
    unseen = page(client, users["worker2"], household)  # may open the household, not the child's archive
    assert kid.code not in unseen and "彩虹小组" not in unseen and "Children in difficulty" not in unseen


def test_the_sessions_a_group_member_attended_show_to_staff_of_the_groups_village(users, household, client):
    roster = Roster.objects.create(village="dongshan", name="东山课后课堂")
    roster.workers.add(users["worker"])  # who runs it plans its sessions (ADR 0041)
    member = RosterMember.objects.create(roster=roster, name="周小雨", guardian_consent=True, joined_on=dt.date(2026, 1, 5),
                                         household_code=NUMBER)
    RosterMember.objects.create(roster=roster, name="别家孩子", guardian_consent=True, joined_on=dt.date(2026, 1, 5))
    for days in (3, 10):
        info = api.start_instance(process_key="activities", actor=users["worker"], data={
            "kind": "after_school", "title": "作业辅导", "village": "dongshan", "place": "村部",
            # this year's sessions (the page counts the year's): early in January, both on the first
            "held_on": max(clock.today() - dt.timedelta(days=days), clock.today().replace(month=1, day=1)).isoformat(),
            "facilitator": "社工", "roster": str(roster.pk)})
        activity = Activity.objects.get(instance_id=info.id)
        Attendance.objects.create(activity=activity, member=member)
        Activity.objects.filter(pk=activity.pk).update(status="approved")
    text = page(client, users["worker2"], household)
    assert "东山课后课堂: 2 sessions attended" in text and "别家孩子" not in text


def test_an_unknown_or_odd_person_key_gives_nothing(users, household):
    from engine import registry

    for key in ("household:", "household:HH-XX-404", "child:abc", "", "=HYPERLINK(\"x\")", "household:<script>"):
        assert registry.person_facets(key, users["supervisor"]) == []
