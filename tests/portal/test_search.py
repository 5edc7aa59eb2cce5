"""Finding a person, a household or a case: by name, number or the last digits of a phone, only among
the records the viewer may see (their villages; each process's own rule), never naming a child in a
hit; and a household's page shows what the other processes hold about its people."""
from decimal import Decimal

import pytest

from engine import clock
from processes.needs_matching.models import Household, Member
from tests.processes.elderly_care.flows import elder
from tests.processes.time_bank.flows import member

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(users, deployed):
    dongshan = Household.objects.create(code="HH-DS-301", village="dongshan", head_name="张建国", annual_income=Decimal("9000"))
    Member.objects.create(household=dongshan, name="张建国", relation="户主", age=70, sex="male")
    Member.objects.create(household=dongshan, name="张小雨", relation="孙女", age=9, sex="female", school_enrolled=True)
    xishui = Household.objects.create(code="HH-XS-302", village="xishui", head_name="张西水", annual_income=Decimal("9000"))
    Member.objects.create(household=xishui, name="张西水", relation="户主", age=50, sex="male")
    grandpa = elder(village="dongshan", name="张建国", household_code="HH-DS-301", phone="13800001234")
    elder(village="xishui", name="张西边", phone="13900001234")
    banked = member("elder", by=users["supervisor"], village="dongshan", household="HH-DS-301", name="张建国", person_key=grandpa.person_key)
    return {"users": users, "dongshan": dongshan, "xishui": xishui, "grandpa": grandpa, "banked": banked}


def found(client, query) -> str:
    response = client.get("/search/", {"q": query})
    assert response.status_code == 200
    return response.content.decode()


def test_a_worker_finds_people_and_households_of_their_villages_only(client, world):
    client.force_login(world["users"]["worker"])
    page = found(client, "张")
    hits = page.split('data-testid="hits"')[1].split("</ul>")[0]
    assert "HH-DS-301" in hits and f'/households/{world["dongshan"].pk}/' in hits
    assert f'/elderly/{world["grandpa"].pk}/' in hits and f'/time-bank/members/{world["banked"].pk}/' in hits
    assert "HH-XS-302" not in page and "张西水" not in page and "张西边" not in page  # xishui is not theirs
    assert "HH-XS-302" in found(_as(client, world, "supervisor"), "HH-XS")  # the township-wide supervisor finds it


def _as(client, world, who):
    client.force_login(world["users"][who])
    return client


def test_a_phone_is_found_by_its_last_digits_and_a_household_by_its_number(client, world):
    client.force_login(world["users"]["worker"])
    assert f'/elderly/{world["grandpa"].pk}/' in found(client, "1234")
    assert "张西边" not in found(client, "1234")
    assert f'/households/{world["dongshan"].pk}/' in found(client, "ds-301")


def test_a_child_is_never_named_in_a_hit(client, world):
    client.force_login(world["users"]["worker"])
    page = found(client, "小雨")
    hits = page.split('data-testid="hits"')[1].split("</ul>")[0]
    assert f'/households/{world["dongshan"].pk}/' in hits and "未满18岁" in hits
    assert "张小雨" not in hits


def test_cases_are_found_by_their_number_among_those_the_viewer_may_open(client, world):
    from engine import api

    users = world["users"]
    mine = api.start_instance(process_key="activities", actor=users["worker"], data={
        "kind": "awareness", "title": "宣传", "village": "dongshan", "place": "广场", "held_on": clock.today().isoformat(), "facilitator": "社工"})
    theirs = api.start_instance(process_key="activities", actor=users["worker_xishui"], data={
        "kind": "awareness", "title": "宣传", "village": "xishui", "place": "广场", "held_on": clock.today().isoformat(), "facilitator": "社工"})
    client.force_login(users["worker"])
    cases = found(client, "宣传").split('data-testid="cases"')[1].split("</ul>")[0]
    assert f"/cases/{mine.id}/" in cases and f"/cases/{theirs.id}/" not in cases


@pytest.mark.parametrize("who", ["outsider", "intake"])
def test_people_outside_the_station_staff_cannot_search(client, world, who):
    client.force_login(world["users"][who])
    assert client.get("/search/", {"q": "张"}).status_code == 404


def test_what_careless_people_type(client, world):
    client.force_login(world["users"]["worker"])
    assert 'data-testid="hits"' not in found(client, "   ")  # nothing asked, nothing listed
    assert 'data-testid="too-long"' in found(client, "张" * 41)
    page = found(client, "<script>alert(1)</script>")
    assert "<script>alert(1)</script>" not in page and 'data-testid="nothing"' in page
    assert 'data-testid="nothing"' in found(client, "=HYPERLINK(\"http://x\")")


def test_the_household_page_shows_what_the_other_processes_hold_about_its_people(client, world):
    Member.objects.filter(relation="孙女").delete()  # without a child the household's page opens without a reason
    client.force_login(world["users"]["worker"])
    url = f'/households/{world["dongshan"].pk}/'
    facets = client.get(url).content.decode().split('data-testid="household-facets"')[1].split("</dl>")[0]
    assert world["grandpa"].code in facets and world["banked"].number in facets
