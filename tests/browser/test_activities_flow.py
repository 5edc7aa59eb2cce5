"""A class of 30 at an after-school point, on the worker's phone (360 px): the worker creates the
group, plans the session from the activities page, ticks 28 of 30 present on the task page (30 taps
at most — the whole round of ticking is one screen of names), and the supervisor returns it once
and then approves it; the activities page then counts the session and its person-times. The key
pages are also looked at 1280 px. Screenshots go to test-artifacts/screenshots/ac-*.png."""
from __future__ import annotations

import pytest

from engine import clock
from processes.activities.models import Activity, Roster, RosterMember
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import name_people, on_task, open_task, submit

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = {"worker": "社工 李明", "supervisor": "督导 陈刚"}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"


@pytest.fixture
def class_of_30(users, deployed):
    name_people(NAMES)
    roster = Roster.objects.create(village="dongshan", name="东山村课后课堂", kind="after_school")
    roster.workers.add(users["worker"])  # the worker runs the class (ADR 0041)
    for n in range(30):
        RosterMember.objects.create(roster=roster, name=f"{SURNAMES[n % 20]}小{n + 1}号", guardian_consent=True,
                                    joined_on=clock.today())
    return roster


def test_attendance_for_a_class_of_30_then_returned_once_and_approved(class_of_30, sign_in, screenshot, findings):
    worker = sign_in("worker", PHONE)
    worker.goto("/activities/groups/")
    findings.check(worker, "worker")
    screenshot(worker, "ac-01-groups-360")
    with worker.expect_navigation():
        worker.click("text=东山村课后课堂")
    assert worker.locator("[data-testid=members] li").count() == 30
    screenshot(worker, "ac-02-group-360")

    # Plan today's class from the activities page.
    worker.goto("/activities/")
    with worker.expect_navigation():
        worker.click('a[href="/start/activities/"]')
    form = worker.locator("form.task-form")
    form.locator("select[name=kind]").select_option("after_school")
    form.locator("input[name=title]").fill("课后课堂 作业辅导")
    form.locator("select[name=village]").select_option("dongshan")
    form.locator("input[name=place]").fill("村委会活动室")
    form.locator("input[name=held_on]").fill(clock.today().isoformat())
    form.locator("input[name=facilitator]").fill("李明")
    form.locator("select[name=roster]").select_option(str(class_of_30.pk))
    findings.check(worker, "worker")
    screenshot(worker, "ac-03-plan-360", reload=False)
    submit(worker, "form.task-form button.primary")

    # The worker lands on the attendance; ticks everyone but two.
    form = on_task(worker, "点名并记录活动")
    boxes = form.locator("input[name=present]")
    assert boxes.count() == 30
    for index in range(30):
        if index not in (4, 17):
            boxes.nth(index).check()
    form.locator("textarea[name=content]").fill("作业辅导、阅读分享")
    findings.check(worker, "worker")
    screenshot(worker, "ac-04-attendance-360", reload=False)
    submit(worker)
    activity = Activity.objects.get()
    assert (activity.participants, activity.status) == (28, "recorded")

    # The supervisor returns it once: the worker finds the ticks kept and the reason on top.
    supervisor = sign_in("supervisor", PHONE)
    form = open_task(supervisor, "group", "审核活动记录", claim=True)
    form.locator("input[name=decision][value=return]").check()
    form.locator("textarea[name=comments]").fill("请核对第5位孩子是否到场")
    submit(supervisor)
    form = open_task(worker, "mine", "点名并记录活动")
    assert "请核对第5位孩子是否到场" in worker.locator("main").inner_text()
    boxes = form.locator("input[name=present]")
    assert sum(boxes.nth(i).is_checked() for i in range(30)) == 28
    boxes.nth(4).check()
    screenshot(worker, "ac-05-returned-360", reload=False)
    submit(worker)

    form = open_task(supervisor, "mine", "审核活动记录")  # the round after a return comes back to its reviewer
    form.locator("input[name=decision][value=approve]").check()
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "ac-06-review-360", reload=False)
    submit(supervisor)
    activity.refresh_from_db()
    assert (activity.participants, activity.children, activity.status) == (29, 29, "approved")

    worker.goto("/activities/")
    totals = worker.locator("[data-testid=totals]").inner_text()
    assert "29" in totals, totals
    findings.check(worker, "worker")
    screenshot(worker, "ac-07-list-360")
    screenshot(worker, "ac-08-list-1280", viewport=DESKTOP)
    findings.check(worker, "worker")
    findings.assert_none()


def test_a_sessions_page_with_its_photos_on_the_phone_and_at_the_desk(class_of_30, users, sign_in, screenshot, browser_log, findings):
    """The worker opens a held session from the activities page, adds a photo (confirming the people in it
    agreed) and sees it; the supervisor sees it at the desk. Screenshots: ac-1x-*.png."""
    import io

    from PIL import Image

    from engine import api
    from processes.activities.models import ActivityPhoto
    from tests.browser.steps import wait_until

    api.start_instance(process_key="activities", actor=users["worker"], data={
        "kind": "awareness", "title": "防溺水安全宣传", "village": "dongshan", "place": "村广场",
        "held_on": clock.today().isoformat(), "facilitator": "李明"})
    activity = Activity.objects.get(title="防溺水安全宣传")
    picture = io.BytesIO()
    Image.new("RGB", (640, 480), (60, 140, 220)).save(picture, format="PNG")

    worker = sign_in("worker", PHONE)
    worker.goto("/activities/")
    with worker.expect_navigation():
        worker.click(f"li[data-activity='{activity.pk}'] a")
    assert worker.url.endswith(f"/activities/{activity.pk}/"), worker.url
    findings.check(worker, "worker")
    screenshot(worker, "ac-10-session-360")
    form = worker.locator("form[data-testid=photo-form]")
    form.locator("input[name=photo]").set_input_files({"name": "现场.png", "mimeType": "image/png", "buffer": picture.getvalue()})
    form.locator("input[name=caption]").fill("孩子们学习溺水自救")
    with worker.expect_navigation() as refused:  # without the people's agreement confirmed: refused, next to the box
        form.locator("button").click()
    assert refused.value.status == 400
    assert worker.locator(".field.has-error:has(input[name=consent]) .error").count() == 1
    screenshot(worker, "ac-11-photo-refused-360", reload=False)
    form = worker.locator("form[data-testid=photo-form]")
    form.locator("input[name=photo]").set_input_files({"name": "现场.png", "mimeType": "image/png", "buffer": picture.getvalue()})
    form.locator("input[name=consent]").check()
    with worker.expect_navigation():
        form.locator("button").click()
    assert worker.locator(".msg.success").count() == 1, worker.locator("main").inner_text()
    wait_until(worker, "document.querySelector('[data-testid=photos] img').naturalWidth > 0")
    assert ActivityPhoto.objects.filter(activity=activity).count() == 1
    findings.check(worker, "worker")
    screenshot(worker, "ac-12-session-photo-360")

    supervisor = sign_in("supervisor", DESKTOP)
    supervisor.goto(f"/activities/{activity.pk}/")
    wait_until(supervisor, "document.querySelector('[data-testid=photos] img').naturalWidth > 0")
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "ac-13-session-photo-1280")
    assert not browser_log.page_errors
    assert not browser_log.failed_static
    findings.assert_none()
