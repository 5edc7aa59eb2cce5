"""In a real browser at 360 px (and 1280): a worker gives an approved time-bank volunteer a sign-in and
reads the one-time password off the page; the volunteer signs in on their phone, chooses a password of
their own and sees only their passbook and services (another volunteer's page, households: 404), then
signs in at the elder's door and out when leaving, which records the service for the worker's next
step, the elder's confirmation; a
supervisor suspends them and the volunteer's page says so and shows nothing. Then the proof of a visit:
a worker attaches a photo and draws the elder's signature on the health-check task, and the elder's page
links both. Screenshots go to test-artifacts/screenshots/vol-*.png and proof-*.png."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from engine.station import AccessLog
from processes.elderly_care.models import Visit
from processes.time_bank.models import Member, ServiceSession
from tests.browser.conftest import DESKTOP, PHONE, TIMEOUT_MS
from tests.browser.steps import name_people, on_task, wait_until
from tests.dates import today
from tests.processes.elderly_care.flows import elder, screen
from tests.processes.elderly_care.test_visit_proof import png
from tests.processes.time_bank import flows

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = {"worker": "社工 李明", "supervisor": "督导 陈刚"}
NUMBERS = [r"TBS?-\d{5}", r"tb\d{5}", r"EC-[A-Z]{2}-\d{3}", r"mmHg", r"mmol/L", r"[a-z2-9]{10}"]
OWN_PASSWORD = "qiuyue-huanghua-2026"


def phone_page(browser, live_server, browser_log):
    context = browser.new_context(viewport=PHONE, base_url=live_server.url, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    browser_log.watch(page)
    return context, page


def test_a_volunteer_signs_in_and_sees_only_their_own_passbook_and_services(
        users, deployed, sign_in, screenshot, findings, browser, live_server, browser_log):
    name_people(NAMES)
    volunteer = flows.member("volunteer", by=users["worker"], name="李秋月")
    other = flows.member("volunteer", by=users["worker"], name="王志强")
    grandma, grandpa = flows.member("elder", by=users["worker"], name="张奶奶"), flows.member("elder", by=users["worker"], name="赵爷爷")
    flows.service(users["worker"], grandma, volunteer, flows.moment(2, 9), flows.moment(2, 11))
    flows.request(users["worker"], grandpa, volunteer, item="errands")
    flows.service(users["worker"], grandpa, other, flows.moment(1, 14), flows.moment(1, 16))

    # 1. The worker gives the volunteer a sign-in from the passbook page (and confirms the question).
    worker = sign_in("worker", PHONE)
    worker.on("dialog", lambda dialog: dialog.accept())
    worker.goto(f"/time-bank/members/{volunteer.pk}/")
    screenshot(worker, "vol-01-passbook-worker-360")
    with worker.expect_navigation():
        worker.click("[data-testid=issue-login]")
    username = worker.locator("[data-testid=username]").inner_text().strip()
    password = worker.locator("[data-testid=password]").inner_text().strip()
    findings.check(worker, "worker", NUMBERS)
    screenshot(worker, "vol-02-one-time-password-360")

    # 2. The volunteer signs in on their phone and is asked for a password of their own first.
    context, page = phone_page(browser, live_server, browser_log)
    try:
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        with page.expect_navigation():
            page.click("button.primary")
        assert page.url.endswith("/time-bank/me/password/"), page.url
        assert page.locator("[data-testid=first-password]").count() == 1
        findings.check(page, "volunteer", NUMBERS)
        screenshot(page, "vol-03-own-password-360")
        page.fill("#id_old_password", password)
        page.fill("#id_new_password1", OWN_PASSWORD)
        page.fill("#id_new_password2", OWN_PASSWORD)
        with page.expect_navigation():
            page.click("[data-testid=save-password]")

        # 3. Their passbook: the balance first, the service waiting for them, the one given; nobody else's.
        assert page.url.endswith("/time-bank/me/"), page.url
        assert page.locator("[data-testid=balance]").first.inner_text().strip() == "2.00"
        assert "赵爷爷" in page.locator("[data-testid=upcoming]").inner_text()
        assert "张奶奶" in page.locator("[data-testid=my-services]").inner_text()
        main = page.locator("main").inner_text()
        assert "王志强" not in main
        nav = [a.inner_text().strip() for a in page.locator("header nav a").all()]
        assert nav == ["我的存折"], nav  # no inbox, no start, no search
        findings.check(page, "volunteer", NUMBERS)
        screenshot(page, "vol-04-my-passbook-360")
        screenshot(page, "vol-05-my-passbook-1280", viewport=DESKTOP)
        page.set_viewport_size(PHONE)
        for url in (f"/time-bank/members/{other.pk}/", f"/time-bank/members/{volunteer.pk}/", "/households/", "/search/?q=王"):
            assert page.goto(url).status == 404, url
        page.goto("/")
        assert page.url.endswith("/time-bank/me/")

        # 3b. At the elder's door the volunteer presses "sign in"; leaving, they write what they did and
        # sign out. Signing out with nothing written keeps them signed in and says what is missing.
        with page.expect_navigation():
            page.click("[data-testid=sign-in]")
        assert "已于" in page.locator("[data-testid=signed-in-at]").inner_text()
        findings.check(page, "volunteer", NUMBERS)
        screenshot(page, "vol-04b-signed-in-360")
        with page.expect_navigation():  # a second tap, landing on "sign out" at once
            page.click("[data-testid=sign-out]")
        assert "不到 5 分钟" in page.locator("[data-testid=sign-out-error]").inner_text()
        screenshot(page, "vol-04b2-sign-out-too-soon-360")
        # An hour and a half later.
        ServiceSession.objects.filter(volunteer=volunteer, arrived_at__isnull=False).update(
            arrived_at=timezone.now() - dt.timedelta(minutes=90))
        with page.expect_navigation():
            page.click("[data-testid=sign-out]")
        assert "请简单写下" in page.locator("[data-testid=sign-out-error]").inner_text()
        page.fill("textarea[name=done]", "帮赵爷爷买降压药，打扫院子")
        with page.expect_navigation():
            page.click("[data-testid=sign-out]")
        assert "已签退，服务 1.50 小时" in page.locator(".messages").inner_text()
        assert page.locator("[data-testid=no-upcoming]").count() == 1
        assert "已服务，待确认" in page.locator("[data-testid=my-services]").inner_text()
        screenshot(page, "vol-04c-signed-out-360")
        screenshot(page, "vol-04d-signed-out-1280", viewport=DESKTOP)
        page.set_viewport_size(PHONE)
        # The elder's confirmation is the worker's next task, and it says the volunteer signed in and out themselves.
        confirm = flows.open_task(flows.session_of_volunteer(volunteer).instance_id, "Task_Confirm")
        worker.goto(f"/tasks/{confirm}/")
        assert "志愿者本人用手机登记" in worker.locator("main").inner_text()
        screenshot(worker, "vol-04e-confirm-task-worker-360")

        # 4. A supervisor suspends the volunteer; the volunteer's page says so and shows nothing.
        supervisor = sign_in("supervisor", PHONE)
        supervisor.goto(f"/time-bank/members/{volunteer.pk}/")
        form = supervisor.locator("[data-testid=change-status]")
        form.locator("select[name=action]").select_option("suspend")
        form.locator("input[name=note]").fill("本人外出务工三个月")
        with supervisor.expect_navigation():
            form.locator("button").click()
        assert Member.objects.get(pk=volunteer.pk).status == "suspended"
        response = page.goto("/time-bank/me/")
        assert response.status == 403
        assert "暂停" in page.locator("[data-testid=refused]").inner_text()
        assert "张奶奶" not in page.locator("main").inner_text()
        findings.check(page, "volunteer", NUMBERS)
        screenshot(page, "vol-06-suspended-360")
    finally:
        context.close()
    findings.assert_none()


def test_a_worker_attaches_a_photo_and_the_elders_signature_to_a_visit(users, deployed, sign_in, screenshot, findings, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    name_people(NAMES)
    person = elder(name="张桂兰", household_code="HH-DS-007")
    screen(person, users["worker"], users["supervisor"])
    photo = tmp_path / "IMG_0001.png"
    photo.write_bytes(png(8, 8))

    worker = sign_in("worker", PHONE)
    worker.goto("/?tab=group")
    row = worker.locator("li.task").filter(has=worker.locator("span.task-name").get_by_text("健康检查（与村医）", exact=True))
    if not row.count():
        worker.goto("/?tab=mine")
        row = worker.locator("li.task").filter(has=worker.locator("span.task-name").get_by_text("健康检查（与村医）", exact=True))
    with worker.expect_navigation():
        row.first.locator("a.task-main").click()
    form = on_task(worker, "健康检查（与村医）")
    form.locator("input[name=visited_on]").fill(today())
    form.locator("input[name=doctor]").fill("王医生")
    form.locator("input[name=systolic]").fill("132")
    form.locator("input[name=diastolic]").fill("84")
    form.locator("input[name=fell][value=no]").check()
    form.locator("input[name=missed_medication][value=no]").check()
    form.locator("input#f-photo").set_input_files(str(photo))
    pad = form.locator("[data-testid=signature-pad-photo]")
    pad.evaluate("canvas => canvas.scrollIntoView({block: 'center'})")  # clear of the form's sticky buttons
    box = pad.bounding_box()
    worker.mouse.move(box["x"] + 20, box["y"] + box["height"] * 0.6)
    worker.mouse.down()
    for step in range(1, 12):
        worker.mouse.move(box["x"] + 20 + step * 22, box["y"] + box["height"] * (0.6 - 0.04 * (step % 4)))
    worker.mouse.up()
    # canvas.toBlob answers when the PNG is encoded (over a second on a busy machine)
    wait_until(worker, "document.querySelector('[data-sigpad-file]').files.length === 1")
    assert "已签名" in form.locator("[data-sigpad-state]").inner_text()
    findings.check(worker, "worker", NUMBERS)
    screenshot(worker, "proof-01-health-check-signed-360", reload=False)
    with worker.expect_navigation():
        worker.click("form.task-form button[name=_action][value=complete]")
    assert worker.locator(".field.has-error").count() == 0, worker.locator("main").inner_text()

    visit = Visit.objects.get(person=person, kind="health", status="done")
    assert len(visit.data["photo"]) == 2  # the photo and the drawn signature
    worker.goto(f"/elderly/{person.pk}/")
    links = worker.locator("[data-testid=visits] a.ec-proof")
    assert links.count() == 2
    findings.check(worker, "worker", NUMBERS)
    screenshot(worker, "proof-02-elder-page-360")
    screenshot(worker, "proof-03-elder-page-1280", viewport=DESKTOP)
    worker.set_viewport_size(PHONE)
    before = AccessLog.objects.filter(view="attachment").count()
    response = worker.goto(links.nth(1).get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    screenshot(worker, "proof-04-signature-opened-360")
    assert AccessLog.objects.filter(view="attachment").count() == before + 1
    findings.assert_none()
