"""Encryption at rest (ADR 0019): nothing personal is readable in the database or the media folder,
everything still reads through the fields, keys rotate, and a wrong key is a clear error."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection

from engine import api, clock
from engine.crypto import EncryptionKeyError, key_file_keys, parse_keys
from engine.forms import mask_value
from engine.models import AuditEvent, HumanTask, OutboxMessage
from processes.child_protection.models import ChildProtectionCase
from processes.needs_matching.models import Household, Member, Need, Referral, Resource
from tests.processes.child_protection.flows import FORMS, complete, open_task, start_case

PLANTED = {
    "reporter_name": "举报人甲乙丙", "reporter_phone": "13812345678", "child_name": "儿童丁戊己",
    "guardian_name": "监护人庚辛", "guardian_phone": "13987654321", "description": "被打伤的详细经过壬癸",
}
DRAFT_TEXT = "草稿里的家访记录子丑寅"
MEMBER_NAME, HEAD_NAME, INCOME = "家庭成员卯辰巳", "户主午未申", Decimal("12345.67")
FILE_BYTES = "上传文件里的秘密酉戌亥".encode()
REFERRAL_REASON = "转介理由：孩子癫痫需长期服药甲子"
# Ages and yes/no flags cannot be looked for as text in a dump (a "9" is everywhere): their columns
# must hold nothing but Fernet tokens, in the table and in its row history.
SENSITIVE_COLUMNS = {"needs_matching_member": ["age", "disability_certificate", "chronic_illness"],
                     "needs_matching_memberevent": ["age", "disability_certificate", "chronic_illness"],
                     "needs_matching_referral": ["reason"]}


def _plant(users, tmp_path, settings) -> dict:
    settings.MEDIA_ROOT = tmp_path
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake", {**FORMS["Task_Intake"], **PLANTED})
    respond = open_task(instance_id, "Task_Respond")
    api.save_draft(task_id=respond, data={"actions_taken": DRAFT_TEXT}, actor=users["worker"])
    household = Household.objects.create(code="HH-ENC-1", village="dongshan", head_name=HEAD_NAME, annual_income=INCOME)
    Member.objects.create(household=household, name=MEMBER_NAME, relation="child", age=9, sex="female",
                          disability_certificate=True, chronic_illness=True)
    need = Need.objects.create(household=household, instance_id=0, number=1, category="medical_aid", description="x", urgency="high")
    resource = Resource.objects.create(name="医疗救助", kind="policy", provider="医保局", categories=["medical_aid"],
                                       capacity_left=1, capacity_total=1)
    Referral.objects.create(need=need, resource=resource, instance_id=0, sent_at=clock.now(), reason=REFERRAL_REASON)
    name = default_storage.save("attachments/ab/planted", ContentFile(FILE_BYTES))
    return {"instance_id": instance_id, "respond": respond, "household": household.pk, "file": name}


def _raw_column_values(table: str, column: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name(column)} FROM {connection.ops.quote_name(table)}")
        return [row[0] for row in cursor.fetchall()]


def _raw_database_text() -> str:
    """Every row of every table as the database returns it, without the fields' decryption."""
    chunks = []
    with connection.cursor() as cursor:
        for model in apps.get_models(include_auto_created=True):
            if not model._meta.managed or model._meta.proxy:
                continue  # views and proxies (pghistory's aggregate of events) have no table of their own
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)}")
            chunks.append(repr(cursor.fetchall()))
    return "\n".join(chunks)


def _everything_reads(planted):
    instance_id = planted["instance_id"]
    forms = {f.bpmn_id: {v.key: v.value for v in f.fields} for f in api.submitted_forms(instance_id=instance_id, viewer=api.SYSTEM)}
    assert forms["Task_Intake"]["child_name"] == PLANTED["child_name"]
    assert HumanTask.objects.get(pk=planted["respond"]).draft_data == {"actions_taken": DRAFT_TEXT}
    case = ChildProtectionCase.objects.get(instance_id=instance_id)
    assert case.child["guardian_phone"] == PLANTED["guardian_phone"] and case.reporter["reporter_name"] == PLANTED["reporter_name"]
    assert any(e.data.get("data", {}).get("child_name") == PLANTED["child_name"] for e in AuditEvent.objects.filter(instance_id=instance_id))
    assert OutboxMessage.objects.filter(instance_id=instance_id).exists()
    assert all(isinstance(m.payload, dict) and m.payload for m in OutboxMessage.objects.filter(instance_id=instance_id))
    household = Household.objects.get(pk=planted["household"])
    assert (household.head_name, household.annual_income) == (HEAD_NAME, INCOME)
    assert [(m.name, m.age, m.disability_certificate, m.chronic_illness) for m in household.members.all()] == [(MEMBER_NAME, 9, True, True)]
    assert Referral.objects.get(need__household=household).reason == REFERRAL_REASON
    with default_storage.open(planted["file"], "rb") as f:
        assert f.read() == FILE_BYTES


def test_no_planted_value_is_stored_in_clear_and_everything_reads(deployed, users, tmp_path, settings):
    planted = _plant(users, tmp_path, settings)
    dump = _raw_database_text()
    for value in [*PLANTED.values(), DRAFT_TEXT, MEMBER_NAME, HEAD_NAME, str(INCOME), REFERRAL_REASON]:
        assert value not in dump, value
    for table, columns in SENSITIVE_COLUMNS.items():
        for column in columns:
            values = _raw_column_values(table, column)
            assert all(isinstance(v, str) and v.startswith("gAAAAA") for v in values), (table, column, values[:3])
    assert _raw_column_values("needs_matching_member", "age") and _raw_column_values("needs_matching_referral", "reason")
    if connection.vendor == "postgresql":  # row history is recorded by PostgreSQL triggers only
        assert _raw_column_values("needs_matching_memberevent", "age")
    stored = b"".join(p.read_bytes() for p in Path(tmp_path).rglob("*") if p.is_file())
    assert FILE_BYTES not in stored and stored.startswith(b"gAAAAA")
    assert "dongshan" in dump and "child_protection" in dump  # what lists query stays in clear
    _everything_reads(planted)


@pytest.mark.django_db(transaction=True)  # the command's own transactions lift the audit tables' triggers (ALTER TABLE)
def test_rotation_re_encrypts_everything_and_the_old_key_can_go(deployed, users, tmp_path, settings):
    planted = _plant(users, tmp_path, settings)
    old = list(settings.CASEFLOW_ENCRYPTION_KEYS)
    new = Fernet.generate_key().decode()
    settings.CASEFLOW_ENCRYPTION_KEYS = [new, *old]
    call_command("rotate_keys", stdout=open(os.devnull, "w"))
    settings.CASEFLOW_ENCRYPTION_KEYS = [new]  # the old key removed
    _everything_reads(planted)
    # The audit table was rewritten with its trigger lifted for that transaction only: it refuses again.
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE engine_auditevent SET kind = kind")
    settings.CASEFLOW_ENCRYPTION_KEYS = old  # what was rotated no longer opens with the old key alone
    with pytest.raises(EncryptionKeyError, match="no key in CASEFLOW_ENCRYPTION_KEYS opens it"):
        HumanTask.objects.get(pk=planted["respond"]).draft_data
    with pytest.raises(EncryptionKeyError):
        default_storage.open(planted["file"]).read()


def test_a_wrong_key_or_a_value_in_clear_is_a_clear_error(deployed, users, settings):
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake", {**FORMS["Task_Intake"], **PLANTED})
    right = settings.CASEFLOW_ENCRYPTION_KEYS
    settings.CASEFLOW_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(EncryptionKeyError, match="engine_humantask.form_data"):
        list(HumanTask.objects.filter(instance_id=instance_id, status="completed"))
    settings.CASEFLOW_ENCRYPTION_KEYS = right
    with connection.cursor() as cursor:
        cursor.execute("UPDATE child_protection_childprotectioncase SET child = %s", ['{"child_name": "x"}'])
    with pytest.raises(EncryptionKeyError, match="not encrypted"):
        ChildProtectionCase.objects.get(instance_id=instance_id)
    with pytest.raises(TypeError, match="encrypted"):
        HumanTask.objects.filter(form_data__child_name="x")


def test_keys_from_the_environment_and_the_embedded_key_file(tmp_path):
    keys = key_file_keys(tmp_path)
    assert len(keys) == 1 and key_file_keys(tmp_path) == keys  # generated once, then read
    assert stat.S_IMODE(os.stat(tmp_path / "encryption.key").st_mode) == 0o600
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert parse_keys(f" {first}, {second} ") == [first, second]
    with pytest.raises(Exception, match="key 2 is not a Fernet key"):
        parse_keys(f"{first},not-a-key")


def test_production_refuses_to_start_without_keys(tmp_path):
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "SECRET_KEY": "x", "CASEFLOW_VAR_DIR": str(tmp_path)}
    env.pop("CASEFLOW_ENCRYPTION_KEYS", None)
    result = subprocess.run([sys.executable, "-c", "import portal.settings"], env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "CASEFLOW_ENCRYPTION_KEYS must be set" in result.stderr
    assert not (tmp_path / "encryption.key").exists()


def test_masks():
    assert mask_value("phone", "13812345678") == "138****5678"
    assert mask_value("id_number", "440102199001011234") == "4401**********1234"
    assert mask_value("phone", "12345") == "*****"
