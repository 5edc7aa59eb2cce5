"""Inbox pages by cursor: walking a tab forward page by page, and back again, gives exactly the rows
the offset listing gives, in the same order — with deadlines that tie, rows without a deadline
(which sort last), creation times that tie, and every tab and order."""
import datetime as dt
import random
import uuid

import pytest

from engine import api, selectors
from engine.models import HumanTask

from . import samples

PER_PAGE = 7


@pytest.fixture
def many_tasks(users):
    samples.deploy(samples.user_loop("paging"), users["admin"])
    info = api.start_instance(process_key="paging", data={}, actor=users["worker"])
    template = HumanTask.objects.get(pk=info.open_tasks[0].id)
    rng = random.Random(7)
    base = dt.datetime(2026, 11, 1, 8, tzinfo=dt.timezone.utc)
    dues = [None, base, base + dt.timedelta(hours=1), base + dt.timedelta(days=40)]
    rows = []
    for n in range(75):
        row = HumanTask(**{f.attname: getattr(template, f.attname) for f in HumanTask._meta.concrete_fields if f.attname != "id"})
        row.spiff_task_id = uuid.uuid4()
        row.due_at = rng.choice(dues)
        row.created_at = base + dt.timedelta(minutes=rng.choice([0, 0, 5, 10]))
        kind = n % 3
        if kind == 0:
            row.assignee = users["worker"]
        elif kind == 1:
            row.assignee = None
        else:
            row.status, row.completed_by = "completed", users["worker"]
            row.completed_at = base + dt.timedelta(minutes=rng.choice([1, 1, 2]))
        rows.append(row)
    HumanTask.objects.bulk_create(rows)
    return users["worker"]


def offset_listing(user, **kwargs) -> list[int]:
    ids, page = [], 1
    while True:
        found = selectors.inbox(user, page=page, per_page=PER_PAGE, **kwargs)
        ids += [t.id for t in found.tasks]
        if not found.has_next:
            return ids
        page += 1


@pytest.mark.parametrize("tab,order", [("mine", "due"), ("mine", "created"), ("group", "due"), ("group", "created"),
                                       ("overdue", "due"), ("done", "due")])
def test_walking_by_cursor_forward_and_back_matches_the_offset_listing(many_tasks, tab, order):
    user = many_tasks
    expected = offset_listing(user, tab=tab, order=order)
    assert len(expected) > 2 * PER_PAGE or tab == "overdue"
    pages, found = [], selectors.inbox(user, tab=tab, order=order, per_page=PER_PAGE)
    while True:
        pages.append([t.id for t in found.tasks])
        assert len(pages) <= len(expected) // PER_PAGE + 1, "the cursor does not advance"
        if not found.next_cursor:
            break
        found = selectors.inbox(user, tab=tab, order=order, per_page=PER_PAGE, after=found.next_cursor, page=found.page + 1)
    assert [i for p in pages for i in p] == expected
    assert found.page == len(pages)
    back = [[t.id for t in found.tasks]]
    while found.prev_cursor:
        found = selectors.inbox(user, tab=tab, order=order, per_page=PER_PAGE, before=found.prev_cursor, page=found.page - 1)
        back.append([t.id for t in found.tasks])
        assert len(back) <= len(pages), "the cursor does not go back"
    assert back[::-1] == pages
    assert found.page == 1


@pytest.mark.parametrize("cursor", ["garbage", "~~", "2026-13-01T00:00:00+00:00~2026-11-01T00:00:00+00:00~1", "x" * 500,
                                    "2026-11-01T00:00:00~2026-11-01T00:00:00~1"])
def test_a_cursor_that_does_not_parse_starts_at_the_top(many_tasks, cursor):
    top = selectors.inbox(many_tasks, tab="mine", per_page=PER_PAGE)
    found = selectors.inbox(many_tasks, tab="mine", per_page=PER_PAGE, after=cursor, page=9)
    assert ([t.id for t in found.tasks], found.page) == ([t.id for t in top.tasks], 1)


def test_the_inbox_page_links_to_the_next_page_by_cursor(client, many_tasks):
    client.force_login(many_tasks)
    first = client.get("/?tab=mine").content.decode()
    assert "after=" in first and "before=" not in first
    target = first.split('href="?')[-1].split('"')[0].replace("&amp;", "&")
    second = client.get(f"/?{target}").content.decode()
    assert "before=" in second and ("Page 2" in second or "第 2 页" in second)
