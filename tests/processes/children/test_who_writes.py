"""Reading is not writing, and a group is not a way round the archive's gate. The administrator,
approved to open an archive for technical support, reads it and changes nothing: every write of the
archive page is refused (403) and its forms are not shown, while the worker who holds the archive
still records. A group's members are named, with their scores, only to those who run it (its
workers, the village's supervisors); the administrator or a colleague of the village sees archive
numbers, no scores, and writes nothing, and the access log names what each saw."""
import datetime as dt
import io

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image

from engine import clock
from engine.models import ProcessInstance
from engine.station import AccessLog
from processes.children.models import (Child, ChildCase, ChildPhoto, FamilyContact, Group, GroupMember, GroupSession, JointVisit,
                                       MentalState, Scale, Screening)
from tests.conftest import make_user
from tests.minors import approve_record_access, give_record_reason

from .flows import child, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(tmp_path):
    with override_settings(MEDIA_ROOT=str(tmp_path)):
        yield tmp_path


def jpeg() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(out, format="JPEG")
    return SimpleUploadedFile("p.jpg", out.getvalue(), content_type="image/jpeg")


@pytest.fixture
def kid(users, deployed, client):
    """A child whose case the worker holds, with both consents on record and one photo; a partner office to visit with."""
    make_user("women_partner", "partner_office", "prov-women", villages=None)
    kid = ChildCase.objects.get(instance_id=open_case(users["worker"])).child
    Child.objects.filter(pk=kid.pk).update(consent_group=True, consent_photo=True, consent_date=dt.date(2026, 9, 1))
    client.force_login(users["worker"])
    give_record_reason(client, "child", kid.pk, next_url=f"/children/{kid.pk}/")
    assert client.post(f"/children/{kid.pk}/", {"_action": "photo", "photo": jpeg()}).status_code == 302
    client.logout()
    return Child.objects.get(pk=kid.pk)


def state(kid) -> dict:
    kid = Child.objects.get(pk=kid.pk)
    return {"consents": (kid.consent_group, kid.consent_photo, kid.consent_date), "photos": ChildPhoto.objects.filter(child=kid).count(),
            "mental_states": MentalState.objects.filter(child=kid).count(), "contacts": FamilyContact.objects.filter(child=kid).count(),
            "visits": JointVisit.objects.filter(child=kid).count(), "cases": ProcessInstance.objects.count()}


WRITES = {  # each write of the archive page, and what it changes when allowed
    "consent": (lambda kid: {"_action": "consent", "consent_group": "on", "consent_date": "2026-09-01", "delete_photos": "1"},
                {"consents", "photos"}),
    "photo_delete": (lambda kid: {"_action": "photo_delete", "photo": ChildPhoto.objects.get(child=kid).token}, {"photos"}),
    "photo": (lambda kid: {"_action": "photo", "photo": jpeg(), "caption": "六一"}, {"photos"}),
    "mental_state": (lambda kid: {"_action": "mental_state", "recorded_on": clock.today().isoformat(), "note": "情绪平稳"},
                     {"mental_states"}),
    "contact": (lambda kid: {"_action": "contact", "kind": "letter", "held_on": clock.today().isoformat(), "people": "父亲",
                             "summary": "父亲来信"}, {"contacts"}),
    "joint_visit": (lambda kid: {"_action": "joint_visit", "office": "prov-women", "planned_on": (clock.today() + dt.timedelta(days=2)).isoformat(),
                                 "purpose": "一同家访"}, {"visits", "cases"}),
}
FORMS = ("consent", "photo-form", "delete-photo", "mental-state", "contact", "joint-visit")


@pytest.mark.parametrize("action", list(WRITES))
def test_the_administrator_approved_for_support_changes_nothing_the_holder_still_records(users, kid, client, action):
    approve_record_access(users["admin"], "child", kid.pk, approver=users["supervisor"], purpose="support", reason="系统技术支持")
    form, changes = WRITES[action]
    url = f"/children/{kid.pk}/"
    client.force_login(users["admin"])
    before = state(kid)
    refused = client.post(url, form(kid))
    assert refused.status_code == 403, refused.content.decode()[:500]
    assert state(kid) == before
    client.logout()
    client.force_login(users["worker"])  # holds the child's case: a reason, then the same write is saved
    give_record_reason(client, "child", kid.pk, next_url=url)
    assert client.post(url, form(kid)).status_code == 302
    after = state(kid)
    assert {key for key in before if after[key] != before[key]} == changes


def test_the_administrator_sees_no_write_form_and_the_consents_as_text(users, kid, client):
    approve_record_access(users["admin"], "child", kid.pk, approver=users["supervisor"], purpose="support", reason="系统技术支持")
    client.force_login(users["admin"])
    page = client.get(f"/children/{kid.pk}/").content.decode()
    assert kid.name in page and 'data-testid="read-only"' in page and 'data-testid="consents"' in page
    assert not [f for f in FORMS if f'data-testid="{f}"' in page]
    assert 'method="post"' not in page.split("<main>", 1)[1].split("</main>")[0]
    client.force_login(users["worker"])
    give_record_reason(client, "child", kid.pk, next_url=f"/children/{kid.pk}/")
    page = client.get(f"/children/{kid.pk}/").content.decode()
    assert [f for f in FORMS if f'data-testid="{f}"' in page] == list(FORMS) and 'data-testid="read-only"' not in page


def test_the_administrator_starts_no_group(users, deployed, client):
    form = {"name": "阳光小组", "village": "dongshan", "goal": "交朋友", "facilitator": "李社工"}
    client.force_login(users["admin"])
    assert client.post("/children/groups/", form).status_code == 403 and not Group.objects.exists()
    assert 'name="facilitator"' not in client.get("/children/groups/").content.decode()
    client.force_login(users["worker"])  # whoever starts a group runs it
    created = client.post("/children/groups/", form)
    assert created.status_code == 302 and list(Group.objects.get().workers.all()) == [users["worker"]]


# -- the group page ----------------------------------------------------------------------------------

NAMES = ("王小明", "李小红", "张小军")


@pytest.fixture
def group(users, deployed):
    scale = Scale.objects.create(name="儿童焦虑量表", items=20, min_score=0, max_score=40, cutoff=25, direction="lower_better")
    group = Group.objects.create(village="dongshan", name="阳光小组", goal="缓解焦虑", facilitator="李社工", scale=scale)
    group.workers.add(users["worker"])
    for n, name in enumerate(NAMES):
        kid = child(name=name)
        GroupMember.objects.create(group=group, child=kid, joined_on=clock.today())
        Screening.objects.create(group=group, child=kid, scale=scale, phase="pre", score=31 + n, screened_on=clock.today())
        Screening.objects.create(group=group, child=kid, scale=scale, phase="post", score=17 + n, screened_on=clock.today())
    session = GroupSession.objects.create(group=group, number=1, held_on=clock.today(), content="破冰游戏", observations="王小明哭了一次",
                                          recorded_by=users["worker"])
    session.present.set(group.members.values_list("child_id", flat=True))
    child(name="赵小河")  # another child of the village, not in the group
    return group


def kids(group):
    return [m.child for m in group.members.select_related("child").order_by("pk")]


@pytest.mark.parametrize("viewer", ["worker", "supervisor"])
def test_who_runs_the_group_sees_names_and_scores_and_each_name_is_logged_against_its_archive(users, group, client, viewer):
    client.force_login(users[viewer])
    page = client.get(f"/children/groups/{group.pk}/").content.decode()
    assert all(name in page for name in NAMES) and "赵小河" in page  # the add-child list, to run the group
    assert 'data-testid="scores"' in page and "<svg" in page and "王小明哭了一次" in page
    for form in ("add-member", "session", "screening"):
        assert f'data-testid="{form}"' in page
    logged = AccessLog.objects.filter(user=users[viewer], view="children_group")
    assert sorted(logged.values_list("record", flat=True)) == sorted(f"child:{k.pk}" for k in kids(group))
    assert all(row.purpose == ("casework" if viewer == "worker" else "supervision") and "阳光小组" in row.reason for row in logged)
    assert not logged.filter(instance_id__gt=0).exists()


@pytest.mark.parametrize("viewer", ["admin", "worker2"])
def test_anyone_else_sees_archive_numbers_no_scores_and_records_nothing(users, group, client, viewer):
    members = kids(group)
    client.force_login(users[viewer])
    url = f"/children/groups/{group.pk}/"
    page = client.get(url).content.decode()
    assert all(k.code in page for k in members) and 'data-testid="numbers-only"' in page
    assert not [name for name in NAMES + ("赵小河",) if name in page]
    assert 'data-testid="scores"' not in page and "<svg" not in page and "王小明哭了一次" not in page and "破冰游戏" in page
    for form in ("add-member", "session", "screening", "add-worker"):
        assert f'data-testid="{form}"' not in page
    assert list(AccessLog.objects.filter(user=users[viewer], view="children_group").values_list("record", "purpose")) == [
        (f"group:{group.pk}", "")]
    other = Child.objects.get(code__isnull=False, memberships__isnull=True)
    before = (GroupMember.objects.count(), GroupSession.objects.count(), Screening.objects.count(), group.workers.count())
    for form in ({"_action": "add_member", "child": other.pk},
                 {"_action": "session", "held_on": clock.today().isoformat(), "content": "第二次", "present": [members[0].pk]},
                 {"_action": "screening", "child": members[0].pk, "phase": "post", "score": 40, "screened_on": clock.today().isoformat()},
                 {"_action": "add_worker", "worker": users[viewer].pk}):
        assert client.post(url, form).status_code == 403, form
    assert (GroupMember.objects.count(), GroupSession.objects.count(), Screening.objects.count(), group.workers.count()) == before
    assert Screening.objects.get(group=group, child=members[0], phase="post").score == 17


def test_a_supervisor_hands_the_group_to_another_worker_and_a_worker_cannot(users, group, client):
    url = f"/children/groups/{group.pk}/"
    client.force_login(users["worker"])  # runs it, but does not hand it on
    assert client.post(url, {"_action": "add_worker", "worker": users["worker2"].pk}).status_code == 403
    assert client.post(url, {"_action": "remove_worker", "worker": users["worker"].pk}).status_code == 403
    client.force_login(users["supervisor"])
    choices = client.get(url).content.decode().split('data-testid="add-worker"')[1].split("</form>")[0]
    assert f'value="{users["worker2"].pk}"' in choices and f'value="{users["worker_xishui"].pk}"' not in choices  # this village's workers
    assert client.post(url, {"_action": "add_worker", "worker": users["worker_xishui"].pk}).status_code == 400
    assert client.post(url, {"_action": "add_worker", "worker": users["worker2"].pk}).status_code == 302
    assert client.post(url, {"_action": "remove_worker", "worker": users["worker"].pk}).status_code == 302
    assert set(group.workers.all()) == {users["worker2"]}
    client.force_login(users["worker2"])
    assert all(name in client.get(url).content.decode() for name in NAMES)
    client.force_login(users["worker"])
    assert not [name for name in NAMES if name in client.get(url).content.decode()]


def test_the_yearly_audit_names_the_group_page_in_words(users, group, client):
    client.force_login(users["worker"])
    client.get(f"/children/groups/{group.pk}/")
    client.force_login(users["admin"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(f"/audit/minors/?year={clock.today().year}").content.decode()
    assert "children's group page" in page.replace("&#x27;", "'") and "children_group" not in page


def test_a_score_entered_again_replaces_the_earlier_one_only_when_the_worker_says_so(users, group, client):
    first = kids(group)[0]
    url = f"/children/groups/{group.pk}/"
    client.force_login(users["worker"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    again = {"_action": "screening", "child": first.pk, "phase": "pre", "score": 12, "screened_on": clock.today().isoformat()}
    refused = client.post(url, again)
    page = refused.content.decode()
    assert refused.status_code == 400 and "already has a score for this phase: 31" in page and 'data-testid="replace"' in page
    assert 'value="12"' in page  # what was typed is kept
    assert Screening.objects.get(group=group, child=first, phase="pre").score == 31
    assert client.post(url, {**again, "replace": clock.today().isoformat()}).status_code == 302
    assert Screening.objects.get(group=group, child=first, phase="pre").score == 12
