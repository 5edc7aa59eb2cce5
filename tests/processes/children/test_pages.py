"""The children's pages: the archive behind the need-to-know gate (a reason from its holders,
another village's worker refused), group membership refused without the guardian's consent, sessions
and scores with clear errors, the change per child and per group, and the year's figures."""
import datetime as dt

import pytest

from engine import clock, registry
from engine.station import AccessLog
from processes.children.models import Group, GroupMember, GroupSession, Scale, Screening
from tests.minors import give_record_reason

from .flows import child, open_case

pytestmark = pytest.mark.django_db


def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def group(users, deployed):
    anxiety = Scale.objects.create(name="儿童焦虑量表", items=20, min_score=0, max_score=40, cutoff=25, direction="lower_better")
    group = Group.objects.create(village="dongshan", name="阳光小组", goal="缓解焦虑，学习交朋友", facilitator="李社工", scale=anxiety)
    group.workers.add(users["worker"])
    return group


def test_the_archive_opens_only_after_a_reason_and_the_reading_is_logged(users, deployed, client):
    instance_id = open_case(users["worker"])
    from processes.children.models import ChildCase

    kid = ChildCase.objects.get(instance_id=instance_id).child
    url = f"/children/{kid.pk}/"
    signed_in(client, users["supervisor"])
    first = client.get(url)
    assert first.status_code == 302 and first["Location"].startswith(f"/records/child/{kid.pk}/access/")
    assert not AccessLog.objects.filter(user=users["supervisor"], record=f"child:{kid.pk}").exists()
    form = client.get(first["Location"]).content.decode()  # it speaks of the child's archive, not of a household
    assert "这是儿童成长档案" in form and "打开成长档案" in form and "家庭" not in form
    give_record_reason(client, "child", kid.pk, next_url=url)
    page = client.get(url)
    assert page.status_code == 200 and "李小红" in page.content.decode()
    log = AccessLog.objects.filter(user=users["supervisor"], record=f"child:{kid.pk}", outcome="granted").get()
    assert log.purpose == "casework" and log.reason
    # The list shows numbers, never names.
    listing = client.get("/children/").content.decode()
    assert kid.code in listing and "李小红" not in listing


def test_another_villages_worker_gets_a_404_and_a_colleague_without_a_case_must_ask(users, deployed, client):
    kid = child(village="dongshan", name="王小明")
    signed_in(client, users["worker_xishui"])
    assert client.get(f"/children/{kid.pk}/").status_code == 404
    assert kid.code not in client.get("/children/").content.decode()
    client.logout()
    signed_in(client, users["worker2"])  # same village, holds none of the child's cases: asks a supervisor
    asked = client.get(f"/children/{kid.pk}/")
    assert asked.status_code == 302
    assert AccessLog.objects.filter(user=users["worker2"], record=f"child:{kid.pk}", outcome="refused").exists()
    page = client.get(asked["Location"])
    assert page.status_code == 200 and "王小明" not in page.content.decode()
    assert "这是儿童成长档案，您不是该儿童个案的经办人" in page.content.decode()


def test_a_child_without_the_guardians_consent_cannot_join_a_group(users, group, client):
    without = child(name="陈小雨", consent_group=False, consent_date=None)
    signed_in(client, users["worker"])
    refused = client.post(f"/children/groups/{group.pk}/", {"_action": "add_member", "child": without.pk})
    assert refused.status_code == 400 and "监护人同意" in refused.content.decode()
    assert not GroupMember.objects.exists()
    consented = child(name="王小明")
    assert client.post(f"/children/groups/{group.pk}/", {"_action": "add_member", "child": consented.pk}).status_code == 302
    assert list(GroupMember.objects.values_list("child_id", flat=True)) == [consented.pk]
    theirs = child(village="xishui", name="赵小河")
    assert client.post(f"/children/groups/{group.pk}/", {"_action": "add_member", "child": theirs.pk}).status_code == 400


def test_sessions_and_scores_show_the_change_per_child_and_for_the_group(users, group, client):
    kids = [child(name=n) for n in ("王小明", "李小红", "张小军")]
    for k in kids:
        GroupMember.objects.create(group=group, child=k, joined_on=clock.today())
    signed_in(client, users["worker"])
    url = f"/children/groups/{group.pk}/"
    today = clock.today().isoformat()
    for bad in ({"held_on": "", "content": "破冰"}, {"held_on": (clock.today() + dt.timedelta(days=2)).isoformat(), "content": "破冰"},
                {"held_on": today, "content": ""}, {"held_on": today, "content": "x" * 2001}):
        assert client.post(url, {"_action": "session", **bad}).status_code == 400
    assert client.post(url, {"_action": "session", "held_on": today, "content": "破冰游戏", "present": [kids[0].pk, kids[1].pk]}).status_code == 302
    session = GroupSession.objects.get()
    assert session.number == 1 and set(session.present.values_list("pk", flat=True)) == {kids[0].pk, kids[1].pk}
    for raw in ("41", "-1", "2.5", "", "=HYPERLINK(\"x\")"):
        bad = client.post(url, {"_action": "screening", "child": kids[0].pk, "phase": "pre", "score": raw, "screened_on": today})
        assert bad.status_code == 400 and 'class="error"' in bad.content.decode()
    for k, pre, post in ((kids[0], 30, 20), (kids[1], 18, 22), (kids[2], 26, 26)):
        for phase, score in (("pre", pre), ("post", post)):
            assert client.post(url, {"_action": "screening", "child": k.pk, "phase": phase, "score": score, "screened_on": today}).status_code == 302
    assert Screening.objects.count() == 6
    page = client.get(url).content.decode()
    assert "<svg" in page and "-10" in page and "+4" in page
    assert "完成前后测 3 人；改善 1 人；变差 1 人。" in page
    figure = {f.code: f for f in registry.figures()}["children.improved"].compute(clock.today().year, None)
    assert figure.total == 1 and figure.by_village == {"dongshan": 1}
    sessions = {f.code: f for f in registry.figures()}["children.group_sessions"].compute(clock.today().year, {"xishui"})
    assert sessions.total == 0
    assert AccessLog.objects.filter(user=users["worker"], view="children_group").exists()


def test_anyone_not_staff_gets_a_404(users, group, client):
    signed_in(client, users["outsider"])
    for url in ("/children/", f"/children/groups/{group.pk}/", "/children/groups/"):
        assert client.get(url).status_code == 404
