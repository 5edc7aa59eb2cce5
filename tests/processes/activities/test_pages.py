"""The activities' pages decide per object: staff see the sessions and groups of their own villages
only (a guessed id of another village is a 404, like one that does not exist), people outside the
station's staff see nothing, group changes keep what was typed when refused, and markup stays text."""
import pytest

from engine import api, clock
from engine.station import AccessLog
from processes.activities.models import Activity, Roster, RosterMember

pytestmark = pytest.mark.django_db


@pytest.fixture
def groups(users, deployed):
    east = Roster.objects.create(village="dongshan", name="东山村课后课堂")
    west = Roster.objects.create(village="xishui", name="西水村课后课堂")
    east.workers.add(users["worker"])  # each run by their village's worker (ADR 0041)
    west.workers.add(users["worker_xishui"])
    RosterMember.objects.create(roster=east, name="王小明", guardian_consent=True, joined_on=clock.today())
    RosterMember.objects.create(roster=west, name="李小西", guardian_consent=True, joined_on=clock.today())
    for actor, village in ((users["worker"], "dongshan"), (users["worker_xishui"], "xishui")):
        api.start_instance(process_key="activities", actor=actor, data={
            "kind": "awareness", "title": f"宣传-{village}", "village": village, "place": "广场",
            "held_on": clock.today().isoformat(), "facilitator": "社工"})
    return east, west


def as_user(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("who, sees, hidden", [
    ("worker", "东山村课后课堂", "西水村课后课堂"),
    ("worker_xishui", "西水村课后课堂", "东山村课后课堂"),
])
def test_staff_see_only_their_villages_groups_and_sessions(client, users, groups, who, sees, hidden):
    east, west = groups
    as_user(client, users[who])
    page = client.get("/activities/groups/").content.decode()
    assert sees in page and hidden not in page
    sessions = client.get("/activities/").content.decode()
    own = "宣传-dongshan" if who == "worker" else "宣传-xishui"
    other = "宣传-xishui" if who == "worker" else "宣传-dongshan"
    assert own in sessions and other not in sessions
    mine, theirs = (east, west) if who == "worker" else (west, east)
    assert client.get(f"/activities/groups/{mine.pk}/").status_code == 200
    assert client.get(f"/activities/groups/{theirs.pk}/").status_code == 404
    assert client.post(f"/activities/groups/{theirs.pk}/", {"_action": "close"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.active


def test_supervisor_sees_every_village(client, users, groups):
    as_user(client, users["supervisor"])
    page = client.get("/activities/groups/").content.decode()
    assert "东山村课后课堂" in page and "西水村课后课堂" in page


@pytest.mark.parametrize("who", ["outsider", "intake", "civil"])
def test_people_outside_the_staff_see_nothing(client, users, groups, who):
    east, _west = groups
    as_user(client, users[who])
    for url in ("/activities/", "/activities/groups/", f"/activities/groups/{east.pk}/"):
        assert client.get(url).status_code == 404, url


def test_anonymous_is_sent_to_sign_in(client, groups):
    assert client.get("/activities/").status_code == 302


def test_a_group_views_names_only_with_a_log_line(client, users, groups):
    east, _west = groups
    as_user(client, users["worker"])
    before = AccessLog.objects.count()
    assert "王小明" in client.get(f"/activities/groups/{east.pk}/").content.decode()
    assert AccessLog.objects.count() == before + 1


def test_a_group_in_another_village_cannot_be_created(client, users, groups):
    as_user(client, users["worker"])
    response = client.post("/activities/groups/", {"name": "新小组", "village": "xishui", "kind": "after_school"})
    assert response.status_code == 400 and "新小组" in response.content.decode()  # kept as typed
    assert not Roster.objects.filter(name="新小组").exists()


def test_a_duplicate_or_huge_group_name_is_refused_and_markup_stays_text(client, users, groups):
    as_user(client, users["worker"])
    assert client.post("/activities/groups/", {"name": "东山村课后课堂", "village": "dongshan", "kind": "after_school"}).status_code == 400
    assert client.post("/activities/groups/", {"name": "长" * 61, "village": "dongshan", "kind": "after_school"}).status_code == 400
    response = client.post("/activities/groups/", {"name": "<b>x</b>", "village": "dongshan", "kind": "after_school"})
    assert response.status_code == 302
    page = client.get("/activities/groups/").content.decode()
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page


def test_a_child_joins_only_with_the_guardians_consent(client, users, groups):
    east, _west = groups
    as_user(client, users["worker"])
    refused = client.post(f"/activities/groups/{east.pk}/", {"_action": "add", "name": "赵小花", "minor": "on"})
    assert refused.status_code == 400 and "赵小花" in refused.content.decode()
    assert client.post(f"/activities/groups/{east.pk}/", {"_action": "add", "name": "赵小花", "minor": "on",
                                                          "guardian_consent": "on"}).status_code == 302
    member = [m for m in east.members.all() if m.name == "赵小花"][0]  # names are encrypted: no SQL filter
    assert client.post(f"/activities/groups/{east.pk}/", {"_action": "leave", "member": member.pk}).status_code == 302
    member.refresh_from_db()
    assert not member.active


def test_the_list_counts_approved_sessions_and_person_times(client, users, groups):
    activity = Activity.objects.get(village="dongshan")
    Activity.objects.filter(pk=activity.pk).update(status="approved", participants=40)
    as_user(client, users["worker"])
    page = client.get("/activities/").content.decode()
    assert ">40<" in page
    assert client.get("/activities/?month=garbage&kind=<x>&village=nowhere").status_code == 200
