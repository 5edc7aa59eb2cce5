"""The elder's confirmation of a time-bank service takes a photo of the signed paper or a signature
drawn on the phone, kept like any upload and shown on the case page to the staff who see the case."""
from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from processes.time_bank.models import SessionStatus
from tests.processes.elderly_care.test_visit_proof import png

from . import flows

pytestmark = pytest.mark.django_db


def test_the_confirmation_keeps_a_signature_as_proof_and_the_case_page_links_it(deployed, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    worker = users["worker"]
    volunteer, elder = flows.member("volunteer", by=worker, name="志愿者甲"), flows.member("elder", by=worker, name="老人乙")
    instance_id = flows.request(worker, elder, volunteer)
    flows.serve(instance_id, worker, flows.moment(1, 9), flows.moment(1, 10))
    client = Client()
    client.force_login(worker)
    task = flows.open_task(instance_id, "Task_Confirm")
    page = client.get(f"/tasks/{task}/").content.decode()
    assert 'data-testid="signature-pad-proof"' in page
    response = client.post(f"/tasks/{task}/", {"_action": "complete", "confirmed": "yes", "confirmed_by": "elder", "method": "signature",
                                               "paid_with": "free", "proof": [SimpleUploadedFile("signature.png", png(), content_type="image/png")]})
    assert response.status_code == 302, response.content.decode()[:600]
    assert flows.session_of(instance_id).status == SessionStatus.DEPOSITED
    case = client.get(f"/cases/{instance_id}/").content.decode()
    token = re.search(r'href="/files/([0-9a-f]{32})/"', case).group(1)
    assert client.get(f"/files/{token}/").status_code == 200
    other = Client()
    other.force_login(users["worker_xishui"])
    assert other.get(f"/files/{token}/").status_code == 404
