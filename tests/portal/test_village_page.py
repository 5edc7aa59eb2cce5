"""A village's page: the open work of the village that the viewer may open (by process, what is
overdue) and this year's figures; a village outside the viewer's own is a 404, like one that does
not exist."""
import datetime as dt

import pytest

from engine import api, clock
from engine.models import HumanTask

pytestmark = pytest.mark.django_db


def plan(users, actor, village, title):
    return api.start_instance(process_key="activities", actor=users[actor], data={
        "kind": "awareness", "title": title, "village": village, "place": "广场", "held_on": clock.today().isoformat(),
        "facilitator": "社工"}).id


@pytest.fixture
def work(users, deployed):
    late = plan(users, "worker", "dongshan", "逾期的宣传")
    plan(users, "worker", "dongshan", "按时的宣传")
    plan(users, "worker_xishui", "xishui", "西水宣传")
    HumanTask.objects.filter(instance_id=late).update(due_at=clock.now() - dt.timedelta(hours=5))
    # A task of the village routed to a named colleague is not the worker's to see.
    other = plan(users, "worker", "dongshan", "别人的任务")
    HumanTask.objects.filter(instance_id=other).update(assignee=users["worker2"], named=True)
    return users


def test_a_worker_sees_the_open_work_they_may_open_and_what_is_overdue(client, work):
    client.force_login(work["worker"])
    page = client.get("/villages/dongshan/").content.decode()
    open_work = page.split('data-testid="open-work"')[1].split("</table>")[0]
    assert ">2<" in open_work  # the two the worker may open; the named colleague's is not counted
    overdue = page.split('data-testid="overdue"')[1].split("</ul>")[0]
    assert "逾期的宣传" in overdue and "按时的宣传" not in overdue


def test_the_supervisor_sees_every_open_task_of_the_village(client, work):
    client.force_login(work["supervisor"])
    open_work = client.get("/villages/dongshan/").content.decode().split('data-testid="open-work"')[1].split("</table>")[0]
    assert ">3<" in open_work


@pytest.mark.parametrize("who, url", [("worker", "/villages/xishui/"), ("worker", "/villages/nowhere/"),
                                      ("outsider", "/villages/dongshan/"), ("intake", "/villages/dongshan/")])
def test_villages_outside_the_viewers_own_are_not_found(client, work, who, url):
    client.force_login(work[who])
    assert client.get(url).status_code == 404


def test_every_link_on_the_village_and_year_pages_opens_for_the_civil_affairs_office(client, work):
    """The office reads the figures and the open work; the station's records behind them are not
    theirs, so the pages offer no link that would answer "not yours to see"."""
    import re

    client.force_login(work["civil"])
    for url in ("/villages/dongshan/", "/year/"):
        page = client.get(url).content.decode()
        links = {href for href in re.findall(r'href="(/[^"]*)"', page) if not href.startswith("/static/")}
        assert links, url
        for href in links:
            assert client.get(href.replace("&amp;", "&")).status_code in (200, 302), href
    client.force_login(work["worker"])  # the station's staff keep their links into the records
    assert 'href="/households/?village=dongshan"' in client.get("/villages/dongshan/").content.decode()
