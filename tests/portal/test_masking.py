"""Phone and ID numbers (forms' `mask`) read unmasked by the case's holders and masked by others
who may see the case, on the case page, in the history and through the command line."""
import json
from io import StringIO

from django.core.management import call_command

from tests.minors import clear
from tests.processes.child_protection.flows import FORMS, complete, start_case

PHONE = "13987654321"


def _case_with_guardian_phone(users):
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake", {**FORMS["Task_Intake"], "guardian_phone": PHONE})
    return instance_id


def test_holder_reads_the_number_and_a_non_holder_reads_it_masked(client, deployed, users):
    instance_id = _case_with_guardian_phone(users)
    for holder in ("worker", "supervisor", "intake"):
        client.force_login(users[holder])
        clear(client, users[holder], instance_id)  # a minor's file: a reason first (ADR 0020)
        html = client.get(f"/cases/{instance_id}/").content.decode()
        assert PHONE in html, holder
    client.force_login(users["civil"])  # sees the township's cases, holds none of this one's tasks
    clear(client, users["civil"], instance_id, approver=users["supervisor"])
    html = client.get(f"/cases/{instance_id}/").content.decode()
    assert PHONE not in html and "139****4321" in html
    out = StringIO()
    call_command("caseflow", "show", str(instance_id), "--user", "civil", "--json", stdout=out)
    assert PHONE not in out.getvalue() and "139****4321" in out.getvalue()
    out = StringIO()
    call_command("caseflow", "show", str(instance_id), "--user", "worker", "--json", "--purpose", "casework", "--reason", "家访前核对",
                 stdout=out)
    assert PHONE in json.dumps(json.loads(out.getvalue()), ensure_ascii=False)
