"""A household with children is a minor's file (ADR 0020 addendum): its holders (supervisors of its
village, people who work or worked on its cases) give a purpose and a reason before the page opens;
anyone else who may see households asks and a supervisor approves; every opening and refusal is
logged and listed in the yearly minors' audit. A household of adults opens as before."""
from decimal import Decimal

import pytest
from django.utils import timezone

from engine import api
from engine.errors import InvalidState, NotFound
from engine.station import AccessLog, AccessRequest
from processes.needs_matching.models import Household, Member
from tests.conftest import make_user
from tests.minors import approve_record_access, give_record_reason
from tests.dates import today

pytestmark = pytest.mark.django_db


@pytest.fixture
def homes(users):
    family = Household.objects.create(code="HH-K-1", village="dongshan", head_name="户主甲", annual_income=Decimal("9000"))
    Member.objects.create(household=family, name="户主甲", relation="户主", age=40, sex="male")
    Member.objects.create(household=family, name="孩子乙", relation="子女", age=11, sex="female", chronic_illness=True)
    adults = Household.objects.create(code="HH-K-2", village="dongshan", head_name="户主丙", annual_income=Decimal("9000"))
    Member.objects.create(household=adults, name="户主丙", relation="户主", age=66, sex="male")
    return {"family": family, "adults": adults}


def url(household):
    return f"/households/{household.pk}/"


def test_a_worker_outside_the_household_asks_and_opens_only_after_a_supervisors_approval(client, users, homes):
    family = homes["family"]
    client.force_login(users["worker"])
    response = client.get(url(family))
    assert response.status_code == 302 and response["Location"].startswith(f"/records/household/{family.pk}/access/")
    refused = AccessLog.objects.get()
    assert (refused.outcome, refused.record, refused.user) == ("refused", f"household:{family.pk}", users["worker"])
    page = client.get(response["Location"]).content.decode()
    assert "孩子乙" not in page and "HH-K-1" in page  # the request page names the household by number only
    response = client.post(f"/records/household/{family.pk}/access/", {"purpose": "cover", "reason": "接替同事跟进", "next": url(family)})
    assert response.status_code == 302
    asked = AccessRequest.objects.get()
    assert (asked.record, asked.village, asked.subject, asked.status) == (f"household:{family.pk}", "dongshan", "HH-K-1", "pending")
    assert client.get(url(family)).status_code == 302  # still waiting
    client.force_login(users["supervisor"])
    assert f'data-request="{asked.pk}"' in client.get("/access/requests/").content.decode()
    assert client.post(f"/access/requests/{asked.pk}/decide/", {"decision": "approve", "note": "同意"}).status_code == 302
    client.force_login(users["worker"])
    response = client.get(url(family))
    assert response.status_code == 200 and "孩子乙" in response.content.decode()
    opened = AccessLog.objects.filter(outcome="granted").get()
    assert (opened.approval_id, opened.purpose, opened.reason) == (asked.pk, "cover", "接替同事跟进")


def test_holders_give_a_reason_once_a_day(client, users, homes, deployed):
    family = homes["family"]
    client.force_login(users["supervisor"])  # a supervisor of the village holds it
    assert client.get(url(family)).status_code == 302
    give_record_reason(client, "household", family.pk, next_url=url(family))
    assert client.get(url(family)).status_code == 200 and client.get(url(family)).status_code == 200
    assert list(AccessLog.objects.filter(outcome="granted").values_list("purpose", flat=True)) == ["casework"] * 2
    # A worker who started the household's needs case holds it (its assessment is in their inbox): a reason, no approval.
    api.start_instance(process_key="needs_matching", actor=users["worker"], data={"household": str(family.pk), "visit_date": today()})
    record = api.minors_record(kind="household", record_id=family.pk, viewer=users["worker"])
    assert api.record_need(users["worker"], record) == api.REASON
    assert api.record_need(users["worker2"], record) == api.APPROVAL  # the assessment is the starter's: a colleague asks
    with pytest.raises(InvalidState):  # a holder does not ask for an approval
        api.request_record_access(kind="household", record_id=family.pk, actor=users["worker"], purpose="casework", reason="家访")


def test_the_administrator_needs_an_approval_and_others_see_nothing(client, users, homes):
    family = homes["family"]
    client.force_login(users["admin"])
    assert client.get(url(family)).status_code == 302
    approve_record_access(users["admin"], "household", family.pk, approver=users["supervisor"])
    assert client.get(url(family)).status_code == 200
    partner = make_user("edu_office", "partner_office", villages=None)
    for who in (partner, users["worker_xishui"], users["civil"]):
        client.force_login(who)
        assert client.get(url(family)).status_code == 404
        assert client.get(f"/records/household/{family.pk}/access/").status_code == 404
        assert api.active_approval(who, record=f"household:{family.pk}") is None
        with pytest.raises(NotFound):  # asking through the facade is refused as well: not theirs to see
            api.request_record_access(kind="household", record_id=family.pk, actor=who, purpose="cover", reason="顶岗")
    assert not AccessLog.objects.filter(user__in=[partner, users["worker_xishui"], users["civil"]]).exists()


def test_a_household_of_adults_opens_without_a_reason_and_stays_out_of_the_audit(client, users, homes):
    client.force_login(users["worker"])
    assert client.get(url(homes["adults"])).status_code == 200
    log = AccessLog.objects.get()
    assert (log.record, log.purpose, log.outcome) == (f"household:{homes['adults'].pk}", "", "granted")
    assert api.minors_audit(year=timezone.localtime(log.at).year, viewer=users["admin"]) == []


def test_the_yearly_audit_lists_household_openings_refusals_and_requests(client, users, homes):
    family = homes["family"]
    client.force_login(users["worker"])
    client.get(url(family))  # refused
    approve_record_access(users["worker"], "household", family.pk, approver=users["supervisor"])
    client.get(url(family))  # opened under the approval
    year = timezone.localtime(AccessLog.objects.first().at).year  # the station's year, as the audit counts it
    rows = api.minors_audit(year=year, viewer=users["civil"])
    assert [(r.outcome, r.subject, r.village, r.record) for r in rows] == [
        ("refused", "HH-K-1", "dongshan", f"household:{family.pk}"), ("granted", "HH-K-1", "dongshan", f"household:{family.pk}")]
    assert rows[1].approved_by and rows[1].purpose
    assert [q.subject for q in api.minors_requests(year=year, viewer=users["civil"])] == ["HH-K-1"]
    client.force_login(users["admin"])
    html = client.get(f"/audit/minors/?year={year}").content.decode()
    assert html.count("HH-K-1") >= 3 and "孩子乙" not in html


def test_the_django_admin_page_of_a_household_with_a_child_passes_the_same_gate(client, homes):
    """The household's change page in the Django admin shows its members' names and ages: the same
    need-to-know gate as the portal's page, and the refusal logged; a household of adults opens."""
    it_admin = make_user("it_admin", "admin", villages=None)  # as the demo's administrator: staff and superuser
    it_admin.is_staff = it_admin.is_superuser = True
    it_admin.save()
    client.force_login(it_admin)
    family = homes["family"]
    response = client.get(f"/admin/needs_matching/household/{family.pk}/change/")
    assert response.status_code == 302 and response["Location"].startswith(f"/records/household/{family.pk}/access/")
    assert AccessLog.objects.get(user=it_admin).outcome == "refused"
    assert client.get(f"/admin/needs_matching/household/{homes['adults'].pk}/change/").status_code == 200
    approve_record_access(it_admin, "household", family.pk, approver=make_user("sup2", "supervisor", villages=["dongshan"]))
    opened = client.get(f"/admin/needs_matching/household/{family.pk}/change/")
    assert opened.status_code == 200 and "孩子乙" in opened.content.decode()
