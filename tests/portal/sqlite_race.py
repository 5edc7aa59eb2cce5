"""Run by test_embedded_sqlite.py in its own process on a fresh SQLite file (the embedded default):
people completing tasks at the same moment through the portal's views, on real threads, each with
its own database connection. Prints the HTTP statuses as JSON."""
import json
import os
import sys
import threading

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from engine import api  # noqa: E402
from tests.conftest import make_user  # noqa: E402
from tests.processes.child_protection.flows import FORMS, START, complete  # noqa: E402

assert settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"), "this check is about the embedded default"
setup_test_environment()
settings.ALLOWED_HOSTS = ["testserver"]
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
call_command("migrate", verbosity=0)
call_command("collectstatic", interactive=False, verbosity=0)
users = {name: make_user(name, role) for name, role in
         [("intake", "intake_desk"), ("admin", "admin"), ("supervisor", "supervisor")] + [(f"w{i}", "worker") for i in range(6)]}
api.deploy_bundled(actor=users["admin"])
# A server loads its middleware once, when it starts; each test Client loads its own on its first
# request. Done here first, so the threads below do not race to register the metrics' collectors
# (django-prometheus creates them on the first load: DuplicateTimeseries when two threads do it).
Client().get("/accounts/login/")


def awaiting_response():
    instance_id = api.start_instance(process_key="child_protection", data=START, actor=users["intake"]).id
    complete(users, instance_id, "Task_Intake")
    return api.get_instance(instance_id=instance_id, viewer=api.SYSTEM).open_tasks


def respond_tasks(n):
    return [next(t.id for t in awaiting_response() if t.bpmn_id == "Task_Respond") for _ in range(n)]


def race(jobs):
    """jobs: [(username, task_id)] — each posts the response form at the same moment."""
    barrier, statuses = threading.Barrier(len(jobs)), [None] * len(jobs)

    def post(index, username, task_id):
        client = Client()
        client.force_login(users[username])
        data = {**FORMS["Task_Respond"], "_action": "complete", "child_seen": "on"}
        barrier.wait()
        try:
            statuses[index] = client.post(f"/tasks/{task_id}/", data).status_code
        except Exception as exc:  # a crash is what this run is looking for
            statuses[index] = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i, u, t)) for i, (u, t) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return statuses


different = race([(f"w{i}", task_id) for i, task_id in enumerate(respond_tasks(6))])
one = respond_tasks(1)[0]
same = race([(f"w{i % 6}", one) for i in range(30)])
json.dump({"different": different, "same": same}, sys.stdout)
