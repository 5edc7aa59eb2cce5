"""Contact with the family and the partners, per child: the quarterly letter to the parents working
away, a video session with them, a home visit with the school or the women's federation — added on the
archive page behind its gate (errors next to the fields, markup shown as text, a form sent twice kept
once), the quarter's due list (left-behind children without a letter or a video session, village by
village, numbers only) and the year's figures."""
import datetime as dt
import uuid

import pytest
from django.db import connection

from engine import clock, registry
from processes.children.models import ChildCase, FamilyContact
from processes.children.views import quarter_start
from tests.minors import give_record_reason

from .flows import child, open_case

pytestmark = pytest.mark.django_db

LETTER = {"_action": "contact", "kind": "letter", "people": "李社工", "summary": "写信告诉爸爸妈妈小红这学期的进步。"}
VIDEO = {"_action": "contact", "kind": "video", "people": "小红、爸爸、奶奶", "minutes": "25", "summary": "视频通话，爸爸答应春节回家。"}
VISIT = {"_action": "contact", "kind": "visit_school", "partner_org": "东山中心小学", "partner_person": "王老师",
         "summary": "作业能按时完成，午饭吃得少。", "follow_up": "王老师每周反馈一次"}


def today():
    return clock.today().isoformat()


@pytest.fixture
def kid(users, deployed):
    return ChildCase.objects.get(instance_id=open_case(users["worker"])).child  # the worker holds its case


@pytest.fixture
def archive(users, kid, client):
    url = f"/children/{kid.pk}/"
    client.force_login(users["worker"])
    give_record_reason(client, "child", kid.pk, next_url=url)
    return url


def test_at_seven_in_the_morning_at_the_station_today_is_today(users, kid, client):
    """From midnight to 8 at the station (Asia/Shanghai) the date in UTC is still yesterday: a letter
    written that morning was refused as "in the future" and the date field offered yesterday."""
    import time_machine
    from django.utils import timezone

    day = timezone.localdate()
    with time_machine.travel(dt.datetime.combine(day, dt.time(7), tzinfo=timezone.get_default_timezone()), tick=False):
        assert clock.today() == day and clock.now().date() == day - dt.timedelta(days=1)
        archive = f"/children/{kid.pk}/"
        client.force_login(users["worker"])
        give_record_reason(client, "child", kid.pk, next_url=archive)
        assert f'max="{day.isoformat()}"' in client.get(archive).content.decode()
        assert client.post(archive, {**LETTER, "held_on": day.isoformat()}).status_code == 302
    assert FamilyContact.objects.get(child=kid).held_on == day


def test_each_kind_is_added_and_listed_newest_first_with_its_text_encrypted(kid, archive, client):
    earlier = (clock.today() - dt.timedelta(days=3)).isoformat()
    assert client.post(archive, {**LETTER, "held_on": earlier}).status_code == 302
    assert client.post(archive, {**VIDEO, "held_on": today()}).status_code == 302
    assert client.post(archive, {**VISIT, "held_on": today()}).status_code == 302
    assert client.post(archive, {**VISIT, "kind": "visit_women", "partner_org": "镇妇联", "partner_person": "刘主任",
                                 "held_on": today()}).status_code == 302
    rows = list(FamilyContact.objects.filter(child=kid).order_by("pk"))
    assert [r.kind for r in rows] == ["letter", "video", "visit_school", "visit_women"]
    assert rows[1].minutes == 25 and rows[2].partner_person == "王老师" and rows[2].follow_up == "王老师每周反馈一次"
    assert rows[0].recorded_by is not None and rows[0].minutes is None and rows[0].partner_org == ""  # a letter keeps only its fields
    with connection.cursor() as cursor:  # the text about people is stored encrypted
        cursor.execute("SELECT summary, people, partner_person FROM children_familycontact WHERE id = %s", [rows[2].pk])
        stored = " ".join(str(v) for v in cursor.fetchone())
    assert "王老师" not in stored and "午饭" not in stored
    page = client.get(archive).content.decode()
    section = page.split('data-testid="contacts"')[1].split("</ul>")[0]
    assert section.index("刘主任") < section.index("写信告诉")  # newest first
    assert "25 分钟" in section and "王老师每周反馈一次" in section


@pytest.mark.parametrize("bad, field", [
    ({**LETTER, "held_on": "2099-01-01"}, "held_on"),
    ({**LETTER, "held_on": ""}, "held_on"),
    ({**LETTER, "summary": ""}, "summary"),
    ({**LETTER, "summary": "长" * 1001}, "summary"),
    ({**LETTER, "people": ""}, "people"),
    ({**VIDEO, "minutes": "0"}, "minutes"),
    ({**VIDEO, "minutes": "601"}, "minutes"),
    ({**VIDEO, "minutes": "12.5"}, "minutes"),
    ({**VIDEO, "minutes": ""}, "minutes"),
    ({**VISIT, "partner_person": ""}, "partner_person"),
    ({**VISIT, "partner_org": ""}, "partner_org"),
    ({**LETTER, "kind": "phone"}, "kind"),
])
def test_a_bad_contact_is_refused_next_to_its_field_and_nothing_is_saved(kid, archive, client, bad, field):
    response = client.post(archive, {"held_on": today(), **bad})
    text = response.content.decode()
    assert response.status_code == 400 and text.count('class="error"') == 1
    form = text.split('data-testid="contact"')[1].split("</form>")[0]
    assert f'name="{field}"' in form.split('class="error"')[0].rsplit('class="field', 1)[1]  # the error sits by its field
    assert not FamilyContact.objects.exists()


def test_markup_is_shown_as_text(kid, archive, client):
    assert client.post(archive, {**LETTER, "held_on": today(), "summary": "<script>alert(1)</script><b>粗</b>"}).status_code == 302
    page = client.get(archive).content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;" in page


def test_another_villages_worker_gets_a_404_and_without_a_reason_the_gate_saves_nothing(users, kid, client):
    url = f"/children/{kid.pk}/"
    client.force_login(users["worker_xishui"])
    assert client.post(url, {**LETTER, "held_on": today()}).status_code == 404
    client.logout()
    client.force_login(users["worker"])  # holds the case, but has given no reason today
    gate = client.post(url, {**LETTER, "held_on": today()})
    assert gate.status_code == 302 and gate["Location"].startswith(f"/records/child/{kid.pk}/access/")
    client.logout()
    client.force_login(users["worker2"])  # same village, holds nothing: must ask a supervisor
    assert client.post(url, {**LETTER, "held_on": today()}).status_code == 302
    assert not FamilyContact.objects.exists()


def test_a_contact_sent_twice_is_saved_once(kid, archive, client):
    token = client.get(archive).content.decode().split('data-testid="contact"')[1].split('name="_token" value="')[1].split('"')[0]
    uuid.UUID(token)
    form = {**LETTER, "_token": token, "held_on": today()}
    assert client.post(archive, {**form, "summary": ""}).status_code == 400  # an error first: the same token comes back
    assert client.post(archive, form).status_code == 302 and client.post(archive, form).status_code == 302
    assert FamilyContact.objects.filter(child=kid).count() == 1
    assert "已保存过" in client.get(archive).content.decode()
    assert client.post(archive, {**form, "_token": str(uuid.uuid4())}).status_code == 302
    assert FamilyContact.objects.filter(child=kid).count() == 2


def test_the_due_list_shows_who_still_needs_a_letter_or_a_video_this_quarter(users, deployed, client):
    now = clock.today()
    before_quarter = quarter_start(now) - dt.timedelta(days=1)
    wrote = child(name="王一", left_behind=True)
    called = child(name="王二", left_behind=True)
    both = child(name="王三", left_behind=True)
    last_quarter = child(name="王四", left_behind=True)
    at_home = child(name="王五", left_behind=False)  # parents at home: no letter is due
    theirs = child(village="xishui", name="赵六", left_behind=True)
    for kid, kind, on in ((wrote, "letter", now), (called, "video", now), (both, "letter", now), (both, "video", now),
                          (last_quarter, "letter", before_quarter), (last_quarter, "video", before_quarter)):
        FamilyContact.objects.create(child=kid, kind=kind, held_on=on, summary="已联系", people="李社工", minutes=20 if kind == "video" else None)
    client.force_login(users["worker"])
    page = client.get("/children/contacts/")
    assert page.status_code == 200
    items = {item.split('data-child="')[1].split('"')[0]: item for item in page.content.decode().split('<li class="task"')[1:]}
    assert set(items) == {wrote.code, called.code, last_quarter.code}
    assert 'data-due="video"' in items[wrote.code] and 'data-due="letter"' not in items[wrote.code]
    assert 'data-due="letter"' in items[called.code] and 'data-due="video"' not in items[called.code]
    assert 'data-due="letter"' in items[last_quarter.code] and 'data-due="video"' in items[last_quarter.code]
    text = page.content.decode()
    assert "王一" not in text and at_home.code not in text and theirs.code not in text  # numbers only, the worker's villages only
    client.logout()
    client.force_login(users["worker_xishui"])
    assert theirs.code in client.get("/children/contacts/").content.decode()
    client.logout()
    client.force_login(users["outsider"])
    assert client.get("/children/contacts/").status_code == 404


def test_the_years_figures_count_letters_and_joint_visits_by_village(users, deployed):
    now = clock.today()
    ds, xs = child(name="王一"), child(village="xishui", name="赵六")
    for kid, kind in ((ds, "letter"), (ds, "letter"), (xs, "letter"), (ds, "video"), (ds, "visit_school"), (xs, "visit_women")):
        FamilyContact.objects.create(child=kid, kind=kind, held_on=now, summary="已联系")
    FamilyContact.objects.create(child=ds, kind="letter", held_on=now.replace(year=now.year - 1), summary="去年")
    figures = {f.code: f for f in registry.figures()}
    letters = figures["children.family_letters"].compute(now.year, None)
    assert letters.total == 3 and letters.by_village == {"dongshan": 2, "xishui": 1} and letters.by_month == {now.month: 3}
    assert figures["children.family_letters"].compute(now.year, {"xishui"}).total == 1
    visits = figures["children.joint_visits"].compute(now.year, None)
    assert visits.total == 2 and visits.by_village == {"dongshan": 1, "xishui": 1}
