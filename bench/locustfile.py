"""Locust users for bench/web.py (run by it; not on its own): people on the portal over loopback.

- `PageReader`: a social worker reading the inbox (mine and the group's) and task pages.
- `TaskWorker`: a social worker claiming a response task of the group and completing it through its
  page's form, as a browser submits it (tests/portal/pageform.py).
- `Supervisor`: reassigning open response tasks to workers.

Each user signs in as its own account (names from bench/web.py, handed over in BENCH_WEB_PLAN, a
JSON file). Every answer the server gives is recorded; only a 5xx, or an answer no person could
get, counts as a failure. What succeeded is appended to BENCH_WEB_LOG (one JSON line each), for
bench/web.py's checks: no lost update, no task in two inboxes."""
from __future__ import annotations

import itertools
import json
import os
import random
import sys
import threading
from pathlib import Path

from locust import HttpUser, between, task

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.portal import pageform  # noqa: E402  (lxml only, no Django)

PLAN = json.loads(Path(os.environ["BENCH_WEB_PLAN"]).read_text())
LOG = os.environ.get("BENCH_WEB_LOG", "/dev/null")
_workers = itertools.count()
_supervisors = itertools.count()
_log_lock = threading.Lock()


def record(**line) -> None:
    with _log_lock, open(LOG, "a") as out:
        out.write(json.dumps(line) + "\n")


# How long a person waits between two requests, in seconds ("low-high"): bench/web.py sets it.
THINK = tuple(float(x) for x in os.environ.get("BENCH_WEB_THINK", "0.5-1.5").split("-"))


class Person(HttpUser):
    abstract = True
    wait_time = between(*THINK)
    username = ""

    def sign_in(self, username: str) -> None:
        """Take the session bench/web.py signed in for this person, and the CSRF cookie from a page."""
        self.username = username
        self.client.cookies.set("sessionid", PLAN["sessions"][username])
        self.client.get("/", name="first inbox (sign-in)")

    def post(self, url: str, data, name: str):
        token = self.client.cookies.get("csrftoken", "")
        pairs = list(data.items()) if isinstance(data, dict) else list(data)
        if not any(k == "csrfmiddlewaretoken" for k, _ in pairs):
            pairs.append(("csrfmiddlewaretoken", token))
        return self.client.post(url, data=pairs, headers={"Referer": self.host + url}, name=name, allow_redirects=False,
                                catch_response=True)

    def get(self, url: str, name: str):
        with self.client.get(url, name=name, catch_response=True) as response:
            if response.status_code >= 500 or response.status_code not in (200, 404):
                response.failure(f"{response.status_code}")
            else:
                response.success()
            return response


class PageReader(Person):
    def on_start(self):
        self.sign_in(PLAN["workers"][next(_workers) % len(PLAN["workers"])])

    @task(3)
    def inbox_mine(self):
        self.get("/?tab=mine", "inbox mine")

    @task(3)
    def inbox_group(self):
        self.get("/?tab=group", "inbox group")

    @task(1)
    def baseline(self):
        self.get("/healthz", "healthz (baseline)")

    @task(4)
    def task_page(self):
        self.get(f"/tasks/{random.choice(PLAN['tasks'])}/", "task page")


def judged(response, ok_codes=(200, 302, 409)):
    """A 5xx or an unexpected code is a failure; a refusal a person can read (409, a message) is not."""
    with response as r:
        if r.status_code >= 500 or r.status_code not in ok_codes:
            r.failure(f"{r.status_code}")
        else:
            r.success()
        return r


class TaskWorker(Person):
    weight = 9

    def on_start(self):
        self.sign_in(PLAN["workers"][next(_workers) % len(PLAN["workers"])])

    @task
    def claim_and_complete(self):
        task_id = random.choice(PLAN["tasks"])
        judged(self.post(f"/tasks/{task_id}/claim/", {"next": f"/tasks/{task_id}/"}, "claim"))
        page = self.get(f"/tasks/{task_id}/", "task page")
        if page.status_code != 200 or b"task-form" not in page.content:
            return  # done by someone else, or not ours to complete: a person would go back to the inbox
        try:
            form = pageform.page_form(page.content)
            pairs = pageform.press(form, pageform.fill(form, PLAN["respond_form"]))
        except (AssertionError, StopIteration, pageform.NoSuchChoice):
            return
        response = judged(self.post(f"/tasks/{task_id}/", pairs, "complete"))
        if response.status_code == 302:
            record(kind="completed", task=task_id, user=self.username)


class Supervisor(Person):
    weight = 1

    def on_start(self):
        self.sign_in(PLAN["supervisors"][next(_supervisors) % len(PLAN["supervisors"])])

    @task
    def reassign(self):
        task_id = random.choice(PLAN["tasks"])
        to = random.choice(PLAN["workers"])
        response = judged(self.post(f"/tasks/{task_id}/assign/", {"assignee": to, "reason": "负载均衡改派", "next": f"/tasks/{task_id}/"},
                                    "reassign"), ok_codes=(302, 404))
        if response.status_code == 302:
            record(kind="reassigned", task=task_id, to=to, user=self.username)
