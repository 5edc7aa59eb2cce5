"""Accounts and the web (issue 11, docs/adr/0018): lock-out and its unlock, the password policy, the
second factor, session limits, `check --deploy` in production settings, the Content-Security-Policy
(and pages with no inline script), the embedded secret key, and uploads checked by content and by
the antivirus hook."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
import time_machine
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from lxml import html as lxml_html

from engine import api
from engine.models import HumanTask
from portal.cases.models import Attachment
from tests.conftest import PASSWORD
from tests.engine import samples
from tests.pictures import exif_of, picture

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def sign_in(client, username, password=PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


# --- lock-out ----------------------------------------------------------------------------------
def test_repeated_wrong_passwords_lock_the_account_until_an_admin_unlocks_it(client, users, settings):
    from axes.models import AccessAttempt

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "worker", "wrong-password-1").status_code == 200  # the form again
    locked = sign_in(client, "worker", "wrong-password-1")
    assert locked.status_code == 429 and 'data-testid="locked-out"' in locked.content.decode()
    assert sign_in(client, "worker").status_code == 429  # even the right password, while locked
    assert sign_in(Client(), "supervisor").status_code == 302  # others are not affected

    admin = users["admin"]
    admin.is_staff = admin.is_superuser = True
    admin.save()
    staff = Client()
    staff.force_login(admin)
    listing = staff.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "worker" in listing.content.decode()
    ids = list(AccessAttempt.objects.filter(username="worker").values_list("pk", flat=True))
    staff.post("/admin/axes/accessattempt/", {"action": "unlock", "_selected_action": ids})
    assert not AccessAttempt.objects.filter(username="worker").exists()
    assert sign_in(client, "worker").status_code == 302


# --- password policy ---------------------------------------------------------------------------
@pytest.mark.parametrize("weak", ["short-1", "1234567890123", "password123", "worker2024"])
def test_the_password_policy_refuses_weak_passwords(users, weak):
    with pytest.raises(ValidationError):
        validate_password(weak, users["worker"])


def test_a_good_password_and_the_demo_passwords_pass(users):
    from portal.accounts.management.commands.seed_demo import demo_password

    validate_password("Mei-hua 7 lu qiao", users["worker"])
    for _ in range(20):
        validate_password(demo_password(users["worker"]), users["worker"])


# --- second factor -----------------------------------------------------------------------------
def current_code(device, at=None) -> str:
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    if at is not None:
        totp.time = at
    return f"{totp.token():0{device.digits}d}"


def test_admin_must_enrol_a_second_factor_then_verify_it_at_each_sign_in(client, users, settings):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    settings.CASEFLOW_REQUIRE_2FA = True
    assert sign_in(client, "admin").status_code == 302
    refused = client.get("/studio/")
    assert refused.status_code == 302 and refused["Location"].startswith("/accounts/2fa/?next=")
    assert client.get("/admin/").status_code == 302
    page = client.get(refused["Location"]).content.decode()
    assert 'data-testid="otp-required"' in page and "otpauth://totp/" in page and "<svg" in page
    device = TOTPDevice.objects.get(user=users["admin"], confirmed=False)
    assert client.post("/accounts/2fa/", {"token": "000000" if current_code(device) != "000000" else "111111"}).status_code == 400
    with time_machine.travel(time.time() + 5, tick=False):  # past the throttle of the wrong code
        done = client.post("/accounts/2fa/", {"token": current_code(device, time.time()), "next": "/studio/"})
    # Turned on: the recovery codes are shown this once, then the page goes on to where the admin was going.
    assert done.status_code == 200 and 'href="/studio/" data-testid="codes-done"' in done.content.decode()
    assert len(recovery_codes(done)) == 10
    assert client.get("/studio/").status_code == 200

    # Next sign-in: the code is asked again; a wrong one is refused, the right one lets in.
    later = time.time() + 120
    with time_machine.travel(later, tick=False):
        other = Client()
        assert sign_in(other, "admin").status_code == 302
        ask = other.get("/studio/")
        assert ask["Location"].startswith("/accounts/2fa/verify/")
        assert other.post("/accounts/2fa/verify/", {"token": "12"}).status_code == 400
    with time_machine.travel(later + 5, tick=False):
        device.refresh_from_db()
        assert other.post("/accounts/2fa/verify/", {"token": current_code(device, later + 5), "next": "/studio/"}).status_code == 302
        assert other.get("/studio/").status_code == 200

    # A lost phone: the device is removed on the server; the next sign-in asks to enrol again.
    from django.core.management import call_command

    call_command("reset_2fa", "admin", stdout=open(os.devnull, "w"))
    third = Client()
    sign_in(third, "admin")
    assert third.get("/studio/")["Location"].startswith("/accounts/2fa/?")


def recovery_codes(response) -> list[str]:
    page = response.content.decode().split('data-testid="recovery-codes"')[1].split("</ol>")[0]
    return re.findall(r"<code>([a-z2-7 ]+)</code>", page)


def enrol(client, username: str) -> list[str]:
    """Sign in, set up the authenticator app with its current code; answers the recovery codes shown."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    sign_in(client, username)
    client.get("/accounts/2fa/")
    device = TOTPDevice.objects.get(user__username=username, confirmed=False)
    response = client.post("/accounts/2fa/", {"token": current_code(device, time.time())})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    return recovery_codes(response)


def test_a_recovery_code_signs_in_once_and_is_then_spent(client, users, settings):
    from django_otp.plugins.otp_static.models import StaticToken

    settings.CASEFLOW_REQUIRE_2FA = True
    codes = enrol(client, "civil")
    assert len(set(codes)) == 10 and StaticToken.objects.filter(device__user=users["civil"]).count() == 10
    kept = set(StaticToken.objects.filter(device__user=users["civil"]).values_list("token", flat=True))
    assert not kept & {c.lower() for c in codes}  # the database keeps a keyed hash, never a code that signs in
    # Shown once: the page afterwards counts them and shows none.
    page = client.get("/accounts/2fa/").content.decode()
    assert re.search(r'data-testid="codes-left">\D*10\D', page) and codes[0] not in page
    lost_phone = Client()
    sign_in(lost_phone, "civil")
    assert lost_phone.get("/")["Location"].startswith("/accounts/2fa/verify/")
    typed = codes[3].upper().replace(" ", "-")  # case, spaces and dashes do not matter
    assert lost_phone.post("/accounts/2fa/verify/", {"recovery": typed, "next": "/"}).status_code == 302
    assert lost_phone.get("/").status_code == 200
    assert StaticToken.objects.filter(device__user=users["civil"]).count() == 9
    again = Client()
    sign_in(again, "civil")
    refused = again.post("/accounts/2fa/verify/", {"recovery": codes[3], "next": "/"})
    assert refused.status_code == 400 and 'data-testid="otp-error"' in refused.content.decode()
    assert again.get("/")["Location"].startswith("/accounts/2fa/verify/")
    # New codes replace the old ones (shown once again).
    fresh = recovery_codes(lost_phone.post("/accounts/2fa/", {"_action": "new_codes"}))
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    with time_machine.travel(time.time() + 5, tick=False):  # past the throttle of the wrong code
        assert Client().post("/accounts/2fa/verify/", {"recovery": codes[5]}).status_code == 302  # not signed in: to the login
        third = Client()
        sign_in(third, "civil")
        assert third.post("/accounts/2fa/verify/", {"recovery": codes[5]}).status_code == 400


def test_an_admin_resets_a_users_second_factor_and_it_is_audited(client, users, settings):
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    settings.CASEFLOW_REQUIRE_2FA = True
    enrol(Client(), "civil")
    settings.CASEFLOW_REQUIRE_2FA = False  # the resetting administrator's own second step is another test's matter
    users["admin"].is_staff = users["admin"].is_superuser = True  # as seed_demo makes the administrator
    users["admin"].save(update_fields=["is_staff", "is_superuser"])
    client.force_login(users["admin"])
    response = client.post("/admin/auth/user/", {"action": "reset_second_factor", "_selected_action": [users["civil"].pk]})
    assert response.status_code == 302, response.content.decode()[:500]
    assert not TOTPDevice.objects.filter(user=users["civil"]).exists() and not StaticDevice.objects.filter(user=users["civil"]).exists()
    assert api.second_factor_resets(username="civil") == [
        {"at": api.second_factor_resets(username="civil")[0]["at"], "by": "admin", "devices": 2}]
    settings.CASEFLOW_REQUIRE_2FA = True
    again = Client()
    sign_in(again, "civil")
    assert again.get("/")["Location"].startswith("/accounts/2fa/?")  # enrol again
    worker = Client()
    worker.force_login(users["worker"])  # not an administrator: no such page
    assert worker.post("/admin/auth/user/", {"action": "reset_second_factor", "_selected_action": [users["admin"].pk]}).status_code == 302
    assert len(api.second_factor_resets(username="admin")) == 0


def test_the_second_factor_is_required_of_civil_affairs_but_only_offered_to_workers(client, users, settings):
    settings.CASEFLOW_REQUIRE_2FA = True
    sign_in(client, "civil")
    assert client.get("/")["Location"].startswith("/accounts/2fa/")
    worker = Client()
    sign_in(worker, "worker")
    assert worker.get("/").status_code == 200
    assert 'data-testid="otp-required"' not in worker.get("/accounts/2fa/").content.decode()
    settings.CASEFLOW_REQUIRE_2FA = False  # the embedded default: offered, not forced
    embedded = Client()
    sign_in(embedded, "admin")
    assert embedded.get("/").status_code == 200


# --- sessions ----------------------------------------------------------------------------------
@pytest.mark.parametrize("idle, since_sign_in", [(31 * 60, 31 * 60), (60, 9 * 3600)])
def test_a_session_ends_when_idle_and_after_its_lifetime(client, users, idle, since_sign_in):
    client.force_login(users["worker"])
    assert client.get("/").status_code == 200
    session = client.session
    now = int(time.time())
    session["_caseflow_last_seen"] = now - idle
    session["_caseflow_signed_in_at"] = now - since_sign_in
    session.save()
    ended = client.get("/")
    assert ended.status_code == 302 and ended["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


def test_an_active_session_goes_on(client, users):
    client.force_login(users["worker"])
    session = client.session
    session["_caseflow_last_seen"] = int(time.time()) - 25 * 60
    session.save()
    assert client.get("/").status_code == 200
    assert client.session["_caseflow_last_seen"] >= int(time.time()) - 5


def test_a_request_reads_its_user_with_profile_and_device_in_one_query(client, users, settings):
    """Every request, /healthz included, read the user, then its profile (the language), then whether
    it has a second-factor device: three queries. portal.accounts.backends reads them as one, and the
    second factor is still asked of whoever enrolled a device."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django_otp.plugins.otp_totp.models import TOTPDevice

    worker = users["worker"]
    worker.staff_profile.language = "en"
    worker.staff_profile.save()
    client.force_login(worker)
    client.get("/healthz")  # the first request notes the sign-in time in the session
    with CaptureQueriesContext(connection) as request:
        response = client.get("/healthz")
    assert response.status_code == 200 and response["Content-Language"] == "en"  # the profile was read
    session, user = [q["sql"] for q in request.captured_queries]  # nothing else
    assert session.startswith('SELECT "django_session"') and user.startswith('SELECT "auth_user"."id"')
    assert '"accounts_staffprofile"' in user and '"otp_totp_totpdevice"' in user
    TOTPDevice.objects.create(user=worker, name="phone", confirmed=True)
    assert client.get("/")["Location"].startswith("/accounts/2fa/verify")  # the device, read with the user


def test_a_session_signed_in_by_django_s_model_backend_stays_signed_in(client, users):
    """Sessions name their sign-in backend, and Django signs out one whose backend is no longer
    listed: the migration that put StaffBackend in ModelBackend's place renames it in them."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("portal.accounts.migrations.0006_sessions_signed_in_by_staff_backend")
    client.force_login(users["worker"], backend=migration.MODEL_BACKEND)
    assert client.get("/").status_code == 302  # signed out: its backend is not listed
    migration.rename_backend(migration.MODEL_BACKEND, migration.STAFF_BACKEND)(apps, None)
    assert client.get("/").status_code == 200
    assert client.session["_auth_user_backend"] == migration.STAFF_BACKEND


# --- check --deploy, secret key ----------------------------------------------------------------
def production_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASEFLOW_", "DEBUG", "SECURE_"))}
    env.update({"DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://caseflow@127.0.0.1:5432/caseflow"),
                "SECRET_KEY": "k" + os.urandom(40).hex(), "ALLOWED_HOSTS": "caseflow.example.cn",
                "CASEFLOW_ENCRYPTION_KEYS": Fernet.generate_key().decode(),  # production refuses to start without
                "CASEFLOW_VAR_DIR": extra.pop("var_dir")})
    env.update(extra)
    return env


def test_check_deploy_is_clean_in_production_settings(tmp_path):
    # The holiday calendar's warning (a coming year chinese-calendar does not know) depends on the date,
    # not on the settings: it has its own test (tests/engine/test_business_calendar.py).
    run = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                         env=production_env(var_dir=str(tmp_path), CASEFLOW_SILENCED_CHECKS="caseflow.W002"),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout


def test_the_embedded_default_makes_its_own_secret_key_once(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    env["CASEFLOW_VAR_DIR"] = str(tmp_path)
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    keys = [subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
                           capture_output=True, text=True, timeout=120, check=True).stdout.strip() for _ in range(2)]
    path = tmp_path / "secret-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys[0] == keys[1] == path.read_text().strip()
    assert len(keys[0]) >= 50 and "insecure" not in keys[0]


# --- Content-Security-Policy -------------------------------------------------------------------
def test_the_csp_allows_scripts_only_from_the_site(client):
    header = client.get("/accounts/login/")["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in directives["default-src"]


def inline_script_problems(url: str, body: str) -> list[str]:
    tree = lxml_html.fromstring(body)
    problems = []
    for script in tree.iter("script"):
        if not script.get("src") and script.get("type") != "application/json":
            problems.append(f"{url}: inline <script>")
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            if re.fullmatch(r"on[a-z]+", name.lower()):
                problems.append(f"{url}: {element.tag} {name}=")
            if name in ("href", "src", "action") and value.strip().lower().startswith("javascript:"):
                problems.append(f"{url}: {element.tag} {name}=javascript:")
    return problems


def test_no_page_of_any_demo_role_has_an_inline_script(settings, tmp_path):
    """The demo (`manage.py demo`), then a crawl from each demo user's inbox: every page linked from it
    and from the pages it links to (two levels), without inline scripts or on* handlers."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from portal.accounts.management.commands.seed_demo import STATION_USERS
    from engine import registry

    settings.VAR_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("demo", stdout=open(os.devnull, "w"))
    skip = re.compile(r"^/(accounts/logout|admin/|files/|static/)|/export|\.xlsx|\.zip|\.bpmn")
    problems: list[str] = []
    anonymous = Client()
    problems += inline_script_problems("/accounts/login/", anonymous.get("/accounts/login/").content.decode())
    seen_total, seen_by = 0, {}
    for username, *_rest in [*STATION_USERS, *registry.demo_users()]:
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        seen: set[str] = set()
        frontier = ["/", "/accounts/2fa/"]
        for _depth in range(2):
            following = []
            for url in frontier:
                if url in seen or skip.search(url) or len(seen) >= 40:
                    continue
                seen.add(url)
                response = client.get(url)
                if response.status_code == 302 and response.url.startswith("/"):
                    following.append(response.url)  # a role's home page (the volunteer's passbook)
                    continue
                if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
                    continue
                body = response.content.decode()
                problems += inline_script_problems(f"{username} {url}", body)
                following += [h.split("#")[0] for h in re.findall(r'href="(/[^"]*)"', body)]
            frontier = following
        seen_total += len(seen)
        seen_by[username] = seen
    assert not problems, "\n".join(sorted(set(problems)))
    assert seen_total > 60
    # The demo volunteer is a dongshan volunteer's sign-in: their passbook, under its number.
    from processes.time_bank.models import Member

    member = Member.objects.get(user__username="volunteer")
    assert member.village == "dongshan" and not member.password_to_change
    assert "/time-bank/me/" in seen_by["volunteer"] and not any(u.startswith("/cases/") for u in seen_by["volunteer"])
    volunteer = Client()
    volunteer.force_login(member.user)
    assert member.number in volunteer.get("/time-bank/me/").content.decode()


# --- uploads -----------------------------------------------------------------------------------
@pytest.fixture
def file_task(users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    xml, forms = samples.script_task("with_files", "x = 1")
    forms["Task_A"]["components"].append({"type": "filepicker", "key": "photos", "label": "照片"})
    samples.deploy((xml, forms), users["admin"])
    return lambda: api.start_instance(process_key="with_files", data={}, actor=users["worker"]).open_tasks[0].id


def upload(client, task_id, name, content, content_type):
    client.cookies["django_language"] = "en"
    return client.post(f"/tasks/{task_id}/", {"_action": "complete", "photos": SimpleUploadedFile(name, content, content_type=content_type)})


JPEG = picture("JPEG")
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n" + b"0" * 100
WEBP = picture("WEBP")


@pytest.mark.parametrize("name, content, content_type", [
    ("a.jpg", JPEG, "image/jpeg"), ("a.pdf", PDF, "application/pdf"), ("a.webp", WEBP, "image/webp"),
    ("记录.txt", "家访记录：一切正常。".encode("gb18030"), "text/plain"), ("note.txt", "家访记录".encode(), "text/plain"),
])
def test_uploads_of_the_kept_types_pass_by_content(client, users, file_task, name, content, content_type):
    client.force_login(users["worker"])
    response = upload(client, file_task(), name, content, content_type)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Attachment.objects.get().content_type == content_type


@pytest.mark.parametrize("declared", ["image/heic", "image/heif"])
def test_a_heic_photo_is_kept_as_jpeg_without_its_gps_position(client, users, file_task, declared):
    """Phones that save HEIC by default (and browsers that send it as it is): accepted, kept as a JPEG
    every browser shows, drawn again without the EXIF."""
    client.force_login(users["worker"])
    original = picture("HEIF", gps=True, maker="PhoneMaker")
    assert exif_of(original)[0x8825]
    response = upload(client, file_task(), "IMG_0042.HEIC", original, declared)
    assert response.status_code == 302, response.content.decode()[:2000]
    kept = Attachment.objects.get()
    assert (kept.content_type, kept.original_name) == ("image/jpeg", "IMG_0042.jpg")
    with kept.file.open("rb") as stored:
        data = stored.read()
    assert data[:3] == b"\xff\xd8\xff" and exif_of(data) == {} and kept.size == len(data)


@pytest.mark.parametrize("name, content, content_type, message", [
    ("visit.png", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100, "image/png", "is not a photo"),
    ("visit.png", JPEG, "image/png", "its content is JPEG"),
    ("report.pdf", b"<html><script>alert(1)</script></html>", "application/pdf", "its content is text"),
    ("note.txt", b"\x00\x01\x02binary", "text/plain", "is not a photo"),
])
def test_an_upload_whose_content_is_not_what_it_claims_is_refused(client, users, file_task, name, content, content_type, message):
    client.force_login(users["worker"])
    task_id = file_task()
    response = upload(client, task_id, name, content, content_type)
    assert response.status_code == 400 and message in response.content.decode()
    assert Attachment.objects.count() == 0 and HumanTask.objects.get(pk=task_id).status == "open"


EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SCANNED: list[str] = []


def fake_scanner(name: str, data: bytes) -> str | None:
    """A stand-in for clamd: refuses the EICAR test string wherever it is."""
    SCANNED.append(name)
    return "Eicar-Test-Signature FOUND" if b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in data else None


def test_the_antivirus_hook_refuses_what_it_flags(client, users, file_task, settings):
    settings.CASEFLOW_UPLOAD_SCANNER = "tests.portal.test_hardening.fake_scanner"
    SCANNED.clear()
    client.force_login(users["worker"])
    refused = upload(client, file_task(), "eicar.txt", EICAR, "text/plain")
    assert refused.status_code == 400 and "Eicar-Test-Signature FOUND" in refused.content.decode()
    assert Attachment.objects.count() == 0
    assert upload(client, file_task(), "clean.txt", b"clean notes", "text/plain").status_code == 302
    assert SCANNED == ["eicar.txt", "clean.txt"]


def test_the_daily_quota_says_how_much_was_used_and_the_limit(client, users, file_task, settings):
    settings.UPLOAD_QUOTA_BYTES_PER_DAY = 3 * 2**20
    client.force_login(users["worker"])
    big = PDF + b"0" * (2 * 2**20)  # a picture is kept redrawn, smaller than sent: the quota counts what is kept
    assert upload(client, file_task(), "one.pdf", big, "application/pdf").status_code == 302
    refused = upload(client, file_task(), "two.pdf", big, "application/pdf")
    assert refused.status_code == 400
    assert "You have uploaded 2 MB today; the limit is 3 MB a day." in refused.content.decode()
