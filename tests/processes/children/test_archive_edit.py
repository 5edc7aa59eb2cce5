"""Correcting a child's archive after intake (the same checks as the archive page: staff of the
village, the need-to-know gate, then the holders' roles; errors next to the fields; every change in
the row history), and forms sent twice (a double tap, a page sent again) kept once."""
import uuid

import pytest
from django.db import connection

from engine import clock
from processes.children.models import Child, ChildCase, GroupMember, GroupSession, MentalState
from tests.minors import give_record_reason

from .flows import child, open_case

pytestmark = pytest.mark.django_db

GOOD = {"school": "东山中心小学", "grade": "五年级", "birth_date": "2015-03-02", "left_behind": "on", "guardian_name": "周奶奶",
        "guardian_relation": "祖母", "guardian_phone": "13900001234", "family_support": "父母在外务工，奶奶照料",
        "health": "轻度哮喘", "disability": ""}


@pytest.fixture
def kid(users, deployed):
    return ChildCase.objects.get(instance_id=open_case(users["worker"])).child  # the worker holds its case


@pytest.mark.postgres  # the row history (django-pghistory) is written by PostgreSQL triggers
def test_a_holder_corrects_the_archive_after_the_reason_and_the_change_is_kept(users, kid, client):
    url = f"/children/{kid.pk}/edit/"
    client.force_login(users["worker"])
    gate = client.get(url)
    assert gate.status_code == 302 and gate["Location"].startswith(f"/records/child/{kid.pk}/access/")
    assert client.post(url, GOOD).status_code == 302 and Child.objects.get(pk=kid.pk).school == ""  # nothing saved past the gate
    give_record_reason(client, "child", kid.pk, next_url=url)
    page = client.get(url)
    assert page.status_code == 200 and 'name="guardian_phone"' in page.content.decode()

    bad = client.post(url, {**GOOD, "guardian_phone": "1390000", "birth_date": "2099-01-01", "grade": "x" * 21})
    text = bad.content.decode()
    assert bad.status_code == 400
    assert text.count('class="error"') == 3 and "11" in text  # each next to its field
    assert "东山中心小学" in text and "轻度哮喘" in text  # what was typed stays in the form
    assert Child.objects.get(pk=kid.pk).school == ""

    assert client.post(url, GOOD).status_code == 302
    kid.refresh_from_db()
    assert (kid.school, kid.grade, kid.birth_date, kid.left_behind, kid.guardian_phone, kid.health) == (
        "东山中心小学", "五年级", "2015-03-02", True, "13900001234", "轻度哮喘")
    with connection.cursor() as cursor:  # personal fields are encrypted at rest
        cursor.execute("select school, health, guardian_phone from children_child where id = %s", [kid.pk])
        raw = " ".join(map(str, cursor.fetchone()))
    assert "东山" not in raw and "哮喘" not in raw and "13900001234" not in raw

    event = Child.pgh_event_model.objects.filter(pgh_obj_id=kid.pk, pgh_label="update").latest("pgh_id")
    assert event.school == "东山中心小学" and event.pgh_context.metadata["user"] == users["worker"].pk
    history = client.get(url).content.decode()
    assert "学校" in history and "监护人电话" in history  # which fields changed, and by whom
    before = Child.pgh_event_model.objects.filter(pgh_obj_id=kid.pk).count()
    assert client.post(url, GOOD).status_code == 302  # the same again changes nothing, and no history row
    assert Child.pgh_event_model.objects.filter(pgh_obj_id=kid.pk).count() == before


def test_who_may_correct_an_archive(users, kid, client):
    url = f"/children/{kid.pk}/edit/"
    for name in ("worker_xishui", "outsider", "admin"):  # another village; not staff; the administrator is no holder
        client.force_login(users[name])
        assert client.get(url).status_code == 404, name
        assert client.post(url, GOOD).status_code == 404, name
    client.force_login(users["worker2"])  # same village, no case of the child: asks a supervisor first
    asked = client.get(url)
    assert asked.status_code == 302 and "/access/" in asked["Location"]
    assert client.post(url, GOOD).status_code == 302 and Child.objects.get(pk=kid.pk).school == ""
    client.force_login(users["supervisor"])  # the village's supervisors hold every archive
    give_record_reason(client, "child", kid.pk, next_url=url, purpose="supervision")
    assert client.post(url, {**GOOD, "school": "西水小学"}).status_code == 302
    assert Child.objects.get(pk=kid.pk).school == "西水小学"
    assert f'href="{url}"' in client.get(f"/children/{kid.pk}/").content.decode()


def test_a_session_sent_twice_is_recorded_once(users, deployed, client):
    from processes.children.models import Group

    group = Group.objects.create(village="dongshan", name="阳光小组", goal="交朋友", facilitator="李社工")
    group.workers.add(users["worker"])
    member = child(name="王小明")
    GroupMember.objects.create(group=group, child=member, joined_on=clock.today())
    client.force_login(users["worker"])
    url = f"/children/groups/{group.pk}/"
    page = client.get(url).content.decode()
    token = page.split('name="_token" value="')[1].split('"')[0]
    uuid.UUID(token)
    form = {"_action": "session", "_token": token, "held_on": clock.today().isoformat(), "content": "破冰", "present": [member.pk]}
    assert client.post(url, {**form, "content": ""}).status_code == 400  # an error first: the same token comes back
    assert f'value="{token}"' in client.post(url, {**form, "content": ""}).content.decode()
    first, second = client.post(url, form), client.post(url, form)
    assert first.status_code == second.status_code == 302
    assert GroupSession.objects.count() == 1
    assert "已保存过" in client.get(url).content.decode()  # the second sending is told so
    assert client.post(url, {**form, "_token": str(uuid.uuid4())}).status_code == 302  # a new form is a new session
    assert list(GroupSession.objects.order_by("number").values_list("number", flat=True)) == [1, 2]


def test_a_mental_state_entry_sent_twice_is_saved_once(users, kid, client):
    url = f"/children/{kid.pk}/"
    client.force_login(users["worker"])
    give_record_reason(client, "child", kid.pk, next_url=url)
    before = MentalState.objects.filter(child=kid).count()
    token = str(uuid.uuid4())
    form = {"_action": "mental_state", "_token": token, "recorded_on": clock.today().isoformat(), "note": "情绪稳定"}
    assert client.post(url, form).status_code == 302 and client.post(url, form).status_code == 302
    assert MentalState.objects.filter(child=kid).count() == before + 1
    assert client.post(url, {**form, "_token": str(uuid.uuid4())}).status_code == 302
    assert MentalState.objects.filter(child=kid).count() == before + 2
