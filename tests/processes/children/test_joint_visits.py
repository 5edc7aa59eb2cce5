"""A joint home visit with the school or the women's federation is a task of the office it names, and
only of that office: its people find it in their inbox, see what the visit needs and never the rest of
the child's archive, record their part, and the worker reads the answer on the child's page."""
import datetime as dt

import pytest
import time_machine
from django.conf import settings

from engine import api, clock
from engine.models import HumanTask
from engine.station import AccessLog
from processes.children.models import ChildCase, FamilyContact, JointVisit
from tests.conftest import make_user
from tests.minors import give_record_reason

from .flows import open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def offices(users):
    return {"edu": make_user("edu_partner", "partner_office", "prov-edu", villages=None),
            "women": make_user("women_partner", "partner_office", "prov-women", villages=None)}


@pytest.fixture
def kid(users, deployed, offices):
    kid = ChildCase.objects.get(instance_id=open_case(users["worker"])).child  # the worker holds its case
    kid.health, kid.family_support, kid.school, kid.grade = "哮喘，需随身带药", "父亲服刑，母亲外出", "东山小学", "四年级"
    kid.guardian_name, kid.guardian_relation = "李奶奶", "祖母"
    kid.save()
    return kid


def archive(client, user, kid):
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    url = f"/children/{kid.pk}/"
    give_record_reason(client, "child", kid.pk, next_url=url)
    return url


def ask(client, url, **data):
    form = {"_action": "joint_visit", "office": "prov-edu", "planned_on": (clock.today() + dt.timedelta(days=2)).isoformat(),
            "purpose": "了解在校情况，商量午餐补助", **data}
    return client.post(url, form)


def partner_task(instance_id):
    return HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_PartnerVisit")


ANSWER = {"_action": "complete", "outcome": "visited", "visitors": "王老师、李社工", "findings": "作业能按时完成，午饭吃得少",
          "follow_up": "班主任每周反馈一次"}


def test_the_office_named_finds_the_task_records_its_part_and_the_worker_reads_it_on_the_archive(users, offices, kid, client):
    url = archive(client, users["worker"], kid)
    response = ask(client, url)
    assert response.status_code == 302, response.content.decode()[:3000]
    visit = JointVisit.objects.get(child=kid)
    task = partner_task(visit.instance_id)
    assert (task.candidate_group, task.status, visit.status) == ("prov-edu", "open", "asked")
    assert AccessLog.objects.filter(user=users["worker"], record=f"child:{kid.pk}", view="children_joint_visit").exists()
    client.logout()
    client.force_login(offices["edu"])
    assert f"/tasks/{task.pk}/" in client.get("/?tab=group").content.decode()
    page = client.get(f"/tasks/{task.pk}/").content.decode()
    assert "李小红" in page and "李奶奶" in page and "东山小学" in page and "商量午餐补助" in page
    for private in ("哮喘", "父亲服刑", "上课不说话"):  # health, family, the case's concerns
        assert private not in page, private
    assert client.get(url).status_code == 404  # never the archive itself
    done = client.post(f"/tasks/{task.pk}/", {**ANSWER, "visited_on": clock.today().isoformat()})
    assert done.status_code == 302, done.content.decode()[:3000]
    visit.refresh_from_db()
    contact = FamilyContact.objects.get(child=kid)
    assert visit.status == "visited" and visit.contact == contact and contact.kind == "visit_school"
    assert contact.partner_org == "县教育局（学校）" and contact.recorded_by == offices["edu"]
    from portal.notifications.models import Notification

    notice = Notification.objects.get(kind="notice")  # the worker who asked hears it, and nobody else
    assert (notice.user, notice.instance_id, notice.task_name, notice.link) == (
        users["worker"], visit.instance_id, "县教育局（学校）已记录联合家访", f"/children/{kid.pk}/")
    client.logout()
    url = archive(client, users["worker"], kid)
    section = client.get(url).content.decode().split('data-testid="joint-visits"')[1].split("</ul>")[0]
    assert "午饭吃得少" in section and "班主任每周反馈一次" in section and "visited" in section
    notices = client.get("/notifications/").content.decode()
    assert "县教育局（学校）已记录联合家访" in notices and f'href="{url}"' in notices  # to the archive the worker holds,
    assert client.get(url).status_code == 200  # not to the office's case page, which would ask a supervisor's approval


def test_the_worker_who_asked_opens_the_visits_case_with_a_reason_not_an_approval(users, offices, kid, client):
    """They started it: a holder of the case, as those who did one of its tasks are. Before, the archive's
    link to the visit's case sent them to ask a supervisor for an approval."""
    ask(client, archive(client, users["worker"], kid))
    visit = JointVisit.objects.get(child=kid)
    assert api.access_need(users["worker"], instance_id=visit.instance_id, process_key="children_joint_visit",
                           village=kid.village) == "reason"
    response = client.get(f"/cases/{visit.instance_id}/")
    assert response.status_code == 302 and "/access/" in response["Location"]
    assert 'data-need="reason"' in client.get(response["Location"]).content.decode()  # "Open the case", no request
    assert api.access_need(users["worker2"], instance_id=visit.instance_id, process_key="children_joint_visit",
                           village=kid.village) == "approval"  # a colleague who did nothing in it still asks


def test_another_office_and_another_villages_worker_can_neither_open_nor_complete_it(users, offices, kid, client):
    ask(client, archive(client, users["worker"], kid))
    task = partner_task(JointVisit.objects.get().instance_id)
    for who in (offices["women"], users["worker_xishui"]):
        client.logout()
        client.force_login(who)
        assert f"/tasks/{task.pk}/" not in client.get("/?tab=group").content.decode()
        assert client.get(f"/tasks/{task.pk}/").status_code == 404
        assert client.post(f"/tasks/{task.pk}/", {**ANSWER, "visited_on": clock.today().isoformat()}).status_code == 404
        assert client.post(f"/tasks/{task.pk}/claim/").status_code == 404
    task.refresh_from_db()
    assert task.status == "open" and task.assignee_id is None and not FamilyContact.objects.exists()


def test_a_visit_that_could_not_be_made_keeps_the_reason_and_counts_no_contact(users, offices, kid, client):
    ask(client, archive(client, users["worker"], kid), office="prov-women")
    task = partner_task(JointVisit.objects.get().instance_id)
    api.complete_task(task_id=task.pk, actor=offices["women"], data={
        "outcome": "not_visited", "visited_on": clock.today().isoformat(), "visitors": "刘主任", "findings": "家中无人，电话未接"})
    visit = JointVisit.objects.get()
    assert visit.status == "not_visited" and visit.not_visited_reason == "家中无人，电话未接" and not FamilyContact.objects.exists()


@pytest.mark.parametrize("data, field, message", [
    ({"office": ""}, "office", ""),
    ({"office": "prov-police"}, "office", ""),
    ({"purpose": ""}, "purpose", ""),
    ({"purpose": "长" * 5000}, "purpose", ""),
    ({"planned_on": "2001-01-01"}, "planned_on", ""),
    ({"planned_on": (clock.today() + dt.timedelta(days=200)).isoformat()}, "planned_on", "six months"),
    ({"planned_on": "明天"}, "planned_on", ""),
])
def test_a_bad_request_is_refused_by_its_field_and_starts_nothing(users, offices, kid, client, data, field, message):
    response = ask(client, archive(client, users["worker"], kid), **data)
    text = response.content.decode()
    assert response.status_code == 400 and message in text
    form = text.split('data-testid="joint-visit"')[1].split("</form>")[0]
    assert f'max="{(clock.today() + dt.timedelta(days=183)).isoformat()}"' in form  # the phone's date picker stops there
    assert f'name="{field}"' in form.split('class="error"')[0].rsplit('class="field', 1)[1]
    assert not JointVisit.objects.exists() and not HumanTask.objects.filter(bpmn_id="Task_PartnerVisit").exists()


def test_markup_and_formulas_stay_text_for_the_partner(users, offices, kid, client):
    ask(client, archive(client, users["worker"], kid), purpose='<script>alert(1)</script>=HYPERLINK("http://x","y")')
    task = partner_task(JointVisit.objects.get().instance_id)
    client.logout()
    client.force_login(offices["edu"])
    page = client.get(f"/tasks/{task.pk}/").content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;=HYPERLINK" in page


def test_an_office_without_people_in_the_portal_is_not_asked(users, offices, kid, client):
    offices["edu"].is_active = False  # the office's only account has left
    offices["edu"].save()
    response = ask(client, archive(client, users["worker"], kid))
    assert response.status_code == 400 and "nobody in the portal" in response.content.decode()


def test_a_worker_who_may_not_open_the_archive_cannot_ask(users, offices, kid):
    from engine.errors import FormInvalid

    with pytest.raises(FormInvalid):
        api.start_instance(process_key="children_joint_visit", actor=users["worker2"], data={
            "child": str(kid.pk), "office": "prov-edu", "planned_on": clock.today().isoformat(), "purpose": "了解情况"})
    assert not JointVisit.objects.exists()


def test_the_partners_visit_before_it_was_asked_for_is_refused(users, offices, kid, client):
    ask(client, archive(client, users["worker"], kid))
    task = partner_task(JointVisit.objects.get().instance_id)
    from engine.errors import FormInvalid

    with pytest.raises(FormInvalid) as refused:
        api.complete_task(task_id=task.pk, actor=offices["edu"], data={
            "outcome": "visited", "visited_on": (clock.today() - dt.timedelta(days=30)).isoformat(), "visitors": "王老师",
            "findings": "—"})
    assert "visited_on" in refused.value.field_errors


def test_the_office_has_until_seven_days_after_the_agreed_date_then_it_is_late_and_the_supervisor_is_told(users, offices, kid, client):
    from django.utils import timezone

    from portal.notifications.models import Notification

    url = archive(client, users["worker"], kid)
    ask(client, url)  # agreed for the day after tomorrow
    visit = JointVisit.objects.get()
    task = partner_task(visit.instance_id)
    eighth_day = dt.datetime.combine(visit.planned_on + dt.timedelta(days=8), dt.time.min, tzinfo=timezone.get_default_timezone())
    assert task.due_at == eighth_day  # the agreed day and the 7 after it

    def on_the_archive():  # the worker's list of the child's joint visits
        return client.get(url).content.decode().split('data-testid="joint-visits"')[1].split("</ul>")[0]

    assert 'data-sla="green"' in on_the_archive()
    with time_machine.travel(task.due_at + dt.timedelta(hours=1), tick=False):
        archive(client, users["worker"], kid)  # a new sign-in and reason, days later
        assert 'data-sla="red"' in on_the_archive()  # the office is late: the worker sees it where they asked
    api.warn_before_deadlines(as_of=task.created_at + (task.due_at - task.created_at) * 0.55)
    assert Notification.objects.filter(user=offices["edu"], kind="due_soon", task_id=task.pk).exists()  # the office, warned
    assert not Notification.objects.filter(user=offices["women"], task_id=task.pk).exists()
    api.fire_due_timers(as_of=task.due_at - dt.timedelta(minutes=1))
    task.refresh_from_db()
    assert task.sla_breached_at is None
    api.fire_due_timers(as_of=task.due_at + dt.timedelta(minutes=1))
    task.refresh_from_db()
    assert task.sla_breached_at is not None and task.status == "open"  # late, and still the office's to record
    assert Notification.objects.filter(user=users["supervisor"], kind="breached", task_id=task.pk).exists()
    told = Notification.objects.get(user=users["worker"], kind="breached")  # and the worker who asked, once
    assert told.instance_id == visit.instance_id and told.task_name == f"县教育局（学校）尚未记录约定{visit.planned_on.isoformat()}的联合家访"
    assert not Notification.objects.filter(user__in=[offices["women"], users["worker2"]], kind="breached").exists()
    api.fire_due_timers(as_of=task.due_at + dt.timedelta(days=3))  # later sweeps tell nobody again
    assert Notification.objects.filter(user=users["worker"], kind="breached").count() == 1
    archive(client, users["worker"], kid)
    notices = client.get("/notifications/").content.decode()
    assert told.task_name in notices and "sla-red" in notices and f'href="{url}"' in notices
    api.complete_task(task_id=task.pk, actor=offices["edu"], data={
        "outcome": "visited", "visited_on": clock.today().isoformat(), "visitors": "王老师", "findings": "已家访"})
    visit.refresh_from_db()
    client.logout()
    archive(client, users["worker"], kid)
    assert visit.status == "visited" and "data-sla" not in on_the_archive()  # answered: no deadline to show
