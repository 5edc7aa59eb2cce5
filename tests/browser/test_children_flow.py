"""A child in difficulty in a real browser, in the default Chinese UI, each step by the role that owns it, on
the phone (360 px) with the key pages also at the desk (1280 px):

the worker opens a case for a new child (intake), assesses, plans two interventions, gives a service and asks
to close; the supervisor returns the closure once with a reason; the worker sees the reason on top, gives one
more service, asks to close again (the closure form keeps what was typed the first time) and the supervisor
approves. The child's archive opens only after a reason (the need-to-know gate); the worker corrects the
child's details there. Then a group: created with a screening scale, members added, a session with
attendance, scores before and after, and the change shown. Screenshots: test-artifacts/screenshots/children-*.png."""
from __future__ import annotations

import pytest

from engine.models import HumanTask
from processes.children.models import Child, ChildCase, FamilyContact, GroupSession, Scale, Screening
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import case_url_of, give_reason, name_people, on_task, open_task, submit, wait_until
from tests.dates import today
from tests.processes.children.flows import child

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = {"worker": "社工 李明", "worker2": "社工 赵丽", "supervisor": "督导 陈刚", "admin": "系统管理员"}
CHILD = "周小雨"  # found nowhere else in the portal
CLOSURE_RETURN = "请再做一次家访，确认奶奶能按时接送后再结案。"
CLOSURE_SUMMARY = "焦虑明显减轻，已能主动和同学交流。"
LETTER = "给在外打工的爸爸妈妈写信：小雨这学期进步很大。"
ALLOWED = [r"ET-\d{4}-\d{5}"]  # archive numbers


def look(findings, screenshot, page, who, name, desk=True):
    """Read the page as its user does and keep it at 360 px (and 1280 px), then go back to the phone."""
    findings.check(page, who, ALLOWED)
    screenshot(page, f"children-{name}-360", reload=False)
    if desk:
        screenshot(page, f"children-{name}-1280", DESKTOP, reload=False)
        findings.check(page, who, ALLOWED)
        page.set_viewport_size(PHONE)


def test_a_case_from_intake_to_closure_returned_once_then_approved(users, deployed, sign_in, screenshot, browser_log, findings):
    name_people(NAMES)
    worker = sign_in("worker", PHONE)

    # 1. Intake: from the archive list, a new child.
    worker.goto("/children/")
    look(findings, screenshot, worker, "worker", "01-archive-list-empty")
    with worker.expect_navigation():
        worker.click('a[href="/start/children/"]')
    form = worker.locator("form.task-form")
    form.locator("input[name=child_from][value=new]").check()
    form.locator("input[name=child_name]").fill(CHILD)
    form.locator("select[name=village]").select_option(label="东山村")
    form.locator("input[name=sex][value=female]").check()
    form.locator("input[name=birth_date]").fill("2015-03-02")
    form.locator("input[name=left_behind]").check()
    form.locator("input[name=school]").fill("东山小学")
    form.locator("input[name=grade]").fill("四年级")
    form.locator("input[name=guardian_name]").fill("周奶奶")
    form.locator("select[name=referral]").select_option("school")
    form.locator("textarea[name=concerns]").fill("上课不说话，常一个人哭。")
    look(findings, screenshot, worker, "worker", "02-intake")
    submit(worker, "form.task-form button.primary")

    # 2. The assessment is the worker's next step.
    form = on_task(worker, "需求评估")
    case_url = case_url_of(worker)
    instance_id = int(case_url.strip("/").split("/")[-1])
    form.locator("input[name=needs][value=psychological]").check()
    form.locator("input[name=needs][value=social]").check()
    form.locator("input[name=risk_level][value=medium]").check()
    form.locator("textarea[name=mental_state]").fill("紧张、睡眠差")
    form.locator("textarea[name=summary]").fill("社交焦虑，需个别辅导。")
    look(findings, screenshot, worker, "worker", "03-assessment")
    submit(worker)

    # 3. The case plan: two interventions in the rows.
    form = on_task(worker, "制定个案计划")
    end = today(60)
    for n, (goal, provider) in enumerate([("减轻焦虑", "驻站社工"), ("融入同伴", "班主任")]):
        form.locator(f"input[name=interventions-{n}-goal]").fill(goal)
        form.locator(f"input[name=interventions-{n}-provider]").fill(provider)
        form.locator(f"input[name=interventions-{n}-expected_end]").fill(end)
    look(findings, screenshot, worker, "worker", "04-case-plan")
    submit(worker)

    # 4. A service, then the worker asks to close.
    form = on_task(worker, "提供服务与跟进")
    form.locator("input[name=held_on]").fill(today())
    form.locator("select[name=kind]").select_option("home_visit")
    form.locator("textarea[name=note]").fill("家访，与奶奶商量接送。")
    form.locator("input[name=next_step][value=close]").check()
    look(findings, screenshot, worker, "worker", "05-service")
    submit(worker)
    form = on_task(worker, "结案评估")
    form.locator("select[name=outcome]").select_option("goals_met")
    form.locator("textarea[name=summary]").fill(CLOSURE_SUMMARY)
    look(findings, screenshot, worker, "worker", "06-closure", desk=False)
    submit(worker)

    # 5. The supervisor returns the closure once, with a reason.
    supervisor = sign_in("supervisor", PHONE)
    form = open_task(supervisor, "group", "审批结案", claim=True)
    assert CLOSURE_SUMMARY in supervisor.locator("main").inner_text()  # what to judge
    form.locator("input[name=closure_decision][value=return]").check()
    form.locator("textarea[name=comments]").fill(CLOSURE_RETURN)
    look(findings, screenshot, supervisor, "supervisor", "07-approve-return")
    submit(supervisor)
    assert ChildCase.objects.get(instance_id=instance_id).stage == "services"

    # 6. The worker finds the reason on top of the next service, does one more visit, asks again.
    form = open_task(worker, "mine", "提供服务与跟进")
    main = worker.locator("main").inner_text()
    assert CLOSURE_RETURN in main, main
    look(findings, screenshot, worker, "worker", "08-service-after-return")
    # The form comes back with the last service in it: sent unchanged, it is refused rather than recorded twice.
    with worker.expect_navigation() as navigation:
        worker.click("form.task-form button[name=_action][value=complete]")
    assert navigation.value.status == 400
    note_error = worker.locator('.field.has-error[data-field="note"] .error')
    assert note_error.count() == 1 and note_error.inner_text().strip(), worker.locator("main").inner_text()
    look(findings, screenshot, worker, "worker", "08b-service-unchanged-refused", desk=False)
    form = on_task(worker, "提供服务与跟进")
    form.locator("input[name=held_on]").fill(today())
    form.locator("select[name=kind]").select_option("home_visit")
    form.locator("textarea[name=note]").fill("再次家访：奶奶每天按时接送。")
    form.locator("input[name=next_step][value=close]").check()
    submit(worker)
    form = on_task(worker, "结案评估")
    assert form.locator("textarea[name=summary]").input_value() == CLOSURE_SUMMARY  # not typed twice
    assert form.locator("select[name=outcome]").input_value() == "goals_met"
    look(findings, screenshot, worker, "worker", "09-closure-again", desk=False)
    submit(worker)

    form = open_task(supervisor, "mine", "审批结案")
    if form.locator("input[name=closure_decision]:checked").count():
        findings.add("supervisor 360px approve again", "last round's decision comes pre-selected")
    if CLOSURE_RETURN in form.locator("textarea[name=comments]").input_value():
        findings.add("supervisor 360px approve again", "last round's return comment is still in the box")
    form.locator("input[name=closure_decision][value=approve]").check()
    form.locator("textarea[name=comments]").fill("")
    submit(supervisor)
    case = ChildCase.objects.get(instance_id=instance_id)
    assert case.stage == "closed" and case.closed_on is not None
    assert case.services.count() == 2
    assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Closure").count() == 2

    # 7. The archive: a reason first (the worker holds the child's case), then the child's file.
    kid = case.child
    worker.goto("/children/")
    with worker.expect_navigation():
        worker.click(f'a[href="/children/{kid.pk}/"]')
    assert "/access/" in worker.url and CHILD not in worker.content(), worker.url
    look(findings, screenshot, worker, "worker", "10-archive-reason", desk=False)
    give_reason(worker, "本个案服务工作", "结案后整理成长档案")
    assert worker.url.endswith(f"/children/{kid.pk}/"), worker.url
    main = worker.locator("main").inner_text()
    assert CHILD in main and "东山小学" in main and "再次家访" in main, main
    assert worker.locator("[data-testid=cases] li").count() == 1
    look(findings, screenshot, worker, "worker", "11-archive")

    # 8. The worker corrects the child's details: an error next to the field keeps what was typed.
    with worker.expect_navigation():
        worker.click("[data-testid=edit-archive]")
    edit = worker.locator("form[data-testid=archive-form]")
    assert edit.locator("input[name=school]").input_value() == "东山小学"
    edit.locator("input[name=school]").fill("东山中心小学")
    edit.locator("input[name=grade]").fill("五年级")
    edit.locator("input[name=guardian_phone]").fill("1390000")  # too short
    edit.locator("textarea[name=health]").fill("轻度哮喘，随身带喷雾。")
    look(findings, screenshot, worker, "worker", "12-archive-edit")
    with worker.expect_navigation() as navigation:
        edit.locator("button.primary").click()
    assert navigation.value.status == 400
    phone = worker.locator('.field.has-error:has(input[name=guardian_phone]) .error')
    assert phone.count() == 1 and phone.inner_text().strip(), worker.locator("main").inner_text()
    assert edit.locator("input[name=school]").input_value() == "东山中心小学"  # nothing lost
    assert edit.locator("textarea[name=health]").input_value() == "轻度哮喘，随身带喷雾。"
    look(findings, screenshot, worker, "worker", "13-archive-edit-error", desk=False)
    edit.locator("input[name=guardian_phone]").fill("13900001234")
    with worker.expect_navigation():
        edit.locator("button.primary").click()
    assert worker.url.endswith(f"/children/{kid.pk}/"), worker.url
    assert worker.locator(".msg.success").count() == 1
    main = worker.locator("main").inner_text()
    assert "东山中心小学" in main and "五年级" in main and "13900001234" in main, main
    kid.refresh_from_db()
    assert (kid.school, kid.grade, kid.health) == ("东山中心小学", "五年级", "轻度哮喘，随身带喷雾。")

    # 8b. A quarterly family letter on the archive page (on the phone), then the quarter's due list.
    letter = worker.locator("form[data-testid=contact]")
    letter.locator("select[name=kind]").select_option("letter")
    letter.locator("input[name=people]").fill("李明")
    letter.locator("textarea[name=summary]").fill(LETTER)
    letter.scroll_into_view_if_needed()
    look(findings, screenshot, worker, "worker", "13b-family-letter", desk=False)
    with worker.expect_navigation():
        letter.locator("button").click()
    assert worker.locator(".msg.success").count() == 1, worker.locator("main").inner_text()
    assert LETTER in worker.locator("[data-testid=contacts]").inner_text()
    assert FamilyContact.objects.filter(child=kid, kind="letter").count() == 1
    look(findings, screenshot, worker, "worker", "13c-family-letter-saved", desk=False)
    worker.goto("/children/contacts/")
    due = worker.locator(f"[data-testid=due] li[data-child='{kid.code}']")
    assert due.locator("[data-due=video]").count() == 1 and due.locator("[data-due=letter]").count() == 0
    assert CHILD not in worker.locator("main").inner_text()  # numbers only
    look(findings, screenshot, worker, "worker", "13d-contacts-due", desk=False)

    # 9. The supervisor opens it too: a reason first.
    supervisor.goto(f"/children/{kid.pk}/")
    assert "/access/" in supervisor.url
    give_reason(supervisor, "督导或质量检查", "结案复核")
    assert "东山中心小学" in supervisor.locator("main").inner_text()
    look(findings, screenshot, supervisor, "supervisor", "14-archive-supervisor")

    assert not browser_log.page_errors
    assert not browser_log.failed_static
    findings.assert_none()


def test_a_group_with_attendance_and_scores_before_and_after(users, deployed, sign_in, screenshot, browser_log, findings):
    name_people(NAMES)
    Scale.objects.create(name="儿童焦虑量表", items=20, min_score=0, max_score=40, cutoff=25, direction="lower_better")
    kids = [child(name=n) for n in ("王小明", "李小红", "张小军")]
    child(name="陈小雨", consent_group=False, consent_date=None)

    worker = sign_in("worker", PHONE)
    worker.goto("/children/groups/")
    look(findings, screenshot, worker, "worker", "20-groups-empty")
    worker.fill("#g-name", "阳光小组")
    worker.select_option("#g-village", label="东山村")
    worker.fill("#g-goal", "缓解焦虑，学习交朋友")
    worker.fill("#g-fac", "李明")
    worker.select_option("#g-scale", label="儿童焦虑量表")
    with worker.expect_navigation():
        worker.click("form.ch-form button.primary")
    assert worker.locator(".msg.success").count() == 1, worker.locator("main").inner_text()
    look(findings, screenshot, worker, "worker", "21-group-new")

    # Members: three with consent; the one without is refused with the reason next to the list.
    add = worker.locator("form[data-testid=add-member]")
    for kid in kids:
        add.locator("select[name=child]").select_option(str(kid.pk))
        with worker.expect_navigation():
            add.locator("button").click()
        assert worker.locator(".msg.success").count() == 1
    add.locator("select[name=child]").select_option(label=next(o for o in add.locator("option").all_inner_texts() if "陈小雨" in o))
    with worker.expect_navigation():
        add.locator("button").click()
    assert "监护人" in add.locator(".error").inner_text()
    look(findings, screenshot, worker, "worker", "22-member-refused", desk=False)
    assert worker.locator("[data-testid=members] li").count() == 3

    # A session: two of three present.
    worker.goto(worker.url)
    session = worker.locator("form[data-testid=session]")
    session.locator(f"input[name=present][value='{kids[0].pk}']").check()
    session.locator(f"input[name=present][value='{kids[1].pk}']").check()
    session.locator("textarea[name=content]").fill("破冰游戏，认识彼此。")
    look(findings, screenshot, worker, "worker", "23-session")
    with worker.expect_navigation():
        session.locator("button.primary").click()
    assert worker.locator(".msg.success").count() == 1, worker.locator("main").inner_text()
    assert GroupSession.objects.count() == 1 and GroupSession.objects.get().present.count() == 2

    # Scores before and after: an out-of-range score is refused next to the field and kept in the box.
    screening = worker.locator("form[data-testid=screening]")
    for kid, pre, post in [(kids[0], 30, 18), (kids[1], 22, 24)]:
        for phase, score in (("pre", pre), ("post", post)):
            screening = worker.locator("form[data-testid=screening]")
            screening.locator("select[name=child]").select_option(str(kid.pk))
            screening.locator("select[name=phase]").select_option(phase)
            screening.locator("input[name=score]").fill(str(score))
            with worker.expect_navigation():
                screening.locator("button").click()
            assert worker.locator(".msg.success").count() == 1, worker.locator("main").inner_text()
    screening = worker.locator("form[data-testid=screening]")
    screening.locator("select[name=child]").select_option(str(kids[2].pk))
    screening.locator("input[name=score]").evaluate("e => e.removeAttribute('max')")  # as an old browser would let through
    screening.locator("input[name=score]").fill("45")
    with worker.expect_navigation() as navigation:
        screening.locator("button").click()
    assert navigation.value.status == 400
    screening = worker.locator("form[data-testid=screening]")
    assert screening.locator(".field.has-error .error").count() == 1
    assert screening.locator("input[name=score]").input_value() == "45"
    look(findings, screenshot, worker, "worker", "24-score-error", desk=False)
    assert Screening.objects.count() == 4
    worker.goto(worker.url)
    change = worker.locator("[data-testid=group-change]").inner_text()
    assert "2" in change and "1" in change, change
    assert worker.locator("[data-testid=chart]").count() == 1
    look(findings, screenshot, worker, "worker", "25-group-scores")

    # The archive list and a child's archive behind the gate, as another worker of the village (no case: asks).
    worker2 = sign_in("worker2", PHONE)
    worker2.goto("/children/")
    assert all(k.code in worker2.locator("main").inner_text() for k in kids)
    assert "王小明" not in worker2.locator("main").inner_text()  # numbers only in the list
    look(findings, screenshot, worker2, "worker2", "26-archive-list")
    worker2.goto(f"/children/{kids[0].pk}/")
    assert "/access/" in worker2.url and "王小明" not in worker2.content()
    look(findings, screenshot, worker2, "worker2", "27-archive-ask", desk=False)

    assert Child.objects.count() == 4
    assert not browser_log.page_errors
    assert not browser_log.failed_static
    findings.assert_none()


def _photo_with_gps() -> bytes:
    import io

    from PIL import Image

    image = Image.new("RGB", (800, 600), (240, 200, 80))
    for x in range(200, 600):  # a drawing of a sun, so the screenshot shows a picture
        for y in range(250, 350):
            image.putpixel((x, y), (220, 90, 40))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (30.0, 15.0, 1.0), 3: "E", 4: (114.0, 5.0, 2.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_photos_under_consent_a_joint_visit_answered_by_the_school_and_the_household_page(
        users, deployed, sign_in, screenshot, browser_log, findings):
    """The worker records the guardian's photo consent and adds a photo (its GPS removed); asks the school
    for a joint home visit; the school's liaison finds it in their inbox on the phone, sees only what the
    visit needs and records the visit; the worker reads the answer on the archive; the household's page
    shows the child's case beside the household. Screenshots: children-3x-*.png."""
    from processes.children.models import ChildPhoto, JointVisit
    from processes.needs_matching.models import Household, Member
    from tests.conftest import make_user
    from tests.minors import approve_record_access
    from tests.processes.children.flows import open_case

    make_user("edu_office", "partner_office", "prov-edu", villages=None)
    name_people({**NAMES, "edu_office": "县教育局 王老师"})
    home = Household.objects.create(code="HH-DS-031", village="dongshan", head_name="周户主", annual_income=9000)
    Member.objects.create(household=home, name="周户主", relation="户主", age=41, sex="male")
    Member.objects.create(household=home, name=CHILD, relation="子女", age=9, sex="female", school_enrolled=True)
    approve_record_access(users["worker"], "household", home.pk, approver=users["supervisor"])
    kid = ChildCase.objects.get(instance_id=open_case(users["worker"], child_name=CHILD)).child
    kid.household_code, kid.school, kid.grade, kid.guardian_name, kid.health = "HH-DS-031", "东山小学", "四年级", "周奶奶", "轻度哮喘"
    kid.save()

    worker = sign_in("worker", PHONE)
    worker.goto(f"/children/{kid.pk}/")
    give_reason(worker, "本个案服务工作", "整理成长档案照片")
    assert worker.locator("[data-testid=photos-hidden]").count() == 1  # no consent yet: nothing to add, nothing shown

    # 1. The guardian's photo consent, then a photo.
    consent = worker.locator("form[data-testid=consent]")
    consent.locator("input[name=consent_photo]").check()
    consent.locator("input[name=consent_date]").fill(today())
    with worker.expect_navigation():
        consent.locator("button").click()
    form = worker.locator("form[data-testid=photo-form]")
    form.locator("input[name=photo]").set_input_files({"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": _photo_with_gps()})
    form.locator("input[name=caption]").fill("六一儿童节画的太阳")
    look(findings, screenshot, worker, "worker", "30-photo-form", desk=False)
    with worker.expect_navigation():
        form.locator("button").click()
    assert worker.locator(".msg.success").count() == 1, worker.locator("main").inner_text()
    image = worker.locator("[data-testid=photos] img")
    assert image.count() == 1
    wait_until(worker, "document.querySelector('[data-testid=photos] img').naturalWidth > 0")
    assert ChildPhoto.objects.filter(child=kid).count() == 1
    worker.locator("#photos").scroll_into_view_if_needed()
    look(findings, screenshot, worker, "worker", "31-archive-photo")

    # 2. A joint home visit asked of the school.
    ask = worker.locator("form[data-testid=joint-visit]")
    ask.locator("select[name=office]").select_option("prov-edu")
    ask.locator("input[name=planned_on]").fill(today(2))
    ask.locator("textarea[name=purpose]").fill("了解小雨在校情绪，和班主任商量午间陪伴。")
    look(findings, screenshot, worker, "worker", "32-ask-joint-visit", desk=False)
    with worker.expect_navigation():
        ask.locator("button").click()
    assert worker.locator(".msg.success").count() == 1, worker.locator("main").inner_text()
    assert worker.locator("[data-testid=joint-visits] li[data-status=asked]").count() == 1
    assert worker.locator("[data-testid=joint-visits] li[data-status=asked] .sla-green").count() == 1  # the office's time left
    look(findings, screenshot, worker, "worker", "32b-visit-asked")

    # 3. The school's liaison: the task in their inbox, only what the visit needs.
    school = sign_in("edu_office", PHONE)
    form = open_task(school, "group", "合作单位记录联合家访")
    main = school.locator("main").inner_text()
    assert CHILD in main and "周奶奶" in main and "午间陪伴" in main, main
    assert "轻度哮喘" not in main and "上课不说话" not in main, main  # health, the case's concerns: never shown
    look(findings, screenshot, school, "edu_office", "33-partner-task")
    form.locator("input[name=outcome][value=visited]").check()
    form.locator("input[name=visited_on]").fill(today())
    form.locator("input[name=visitors]").fill("王老师、李明")
    form.locator("textarea[name=findings]").fill("小雨午饭后常独自在教室，同桌愿意陪她。")
    form.locator("textarea[name=follow_up]").fill("班主任每周五电话反馈一次。")
    look(findings, screenshot, school, "edu_office", "34-partner-answer", desk=False)
    submit(school)
    school.goto(f"/children/{kid.pk}/")
    assert "小雨午饭后" not in school.content()  # the archive stays closed to the office

    # 4. The worker hears of it among their notices, and reads the answer on the archive.
    worker.goto("/notifications/")
    notices = worker.locator("main").inner_text()
    assert "新进展" in notices and "已记录联合家访" in notices, notices
    look(findings, screenshot, worker, "worker", "34b-notice-visit-answered")
    worker.goto(f"/children/{kid.pk}/")  # (a goto that changes only the #fragment would not reload the page)
    visits = worker.locator("[data-testid=joint-visits]").inner_text()
    assert "小雨午饭后常独自在教室" in visits and "班主任每周五电话反馈一次" in visits, visits
    assert JointVisit.objects.get(child=kid).status == "visited"
    look(findings, screenshot, worker, "worker", "35-archive-visit-answered")

    # 5. The household's page shows the child's case among the station's other work.
    worker.goto(f"/households/{home.pk}/")
    facets = worker.locator("[data-testid=household-facets]").inner_text()
    assert kid.code in facets, facets
    look(findings, screenshot, worker, "worker", "36-household-facets")

    # 6. The guardian withdraws the consent to photos: asked first with the number, then the photo is gone.
    worker.goto(f"/children/{kid.pk}/")
    consent = worker.locator("form[data-testid=consent]")
    consent.locator("input[name=consent_photo]").uncheck()
    with worker.expect_navigation():
        consent.locator("button").click()
    question = worker.locator("[data-testid=consent-photo-error]").inner_text()
    assert "1 张照片" in question, question
    assert not worker.locator("form[data-testid=consent] input[name=consent_photo]").is_checked()  # what was typed is kept
    assert ChildPhoto.objects.filter(child=kid).count() == 1
    look(findings, screenshot, worker, "worker", "37-withdraw-photo-consent-asked")
    consent = worker.locator("form[data-testid=consent]")
    consent.locator("[data-testid=delete-photos]").check()
    with worker.expect_navigation():
        consent.locator("button").click()
    assert "1 张照片已删除" in worker.locator(".msg.success").inner_text()
    assert worker.locator("[data-testid=photos-hidden]").count() == 1
    assert not ChildPhoto.objects.filter(child=kid).exists()
    look(findings, screenshot, worker, "worker", "38-photo-consent-withdrawn")

    assert not browser_log.page_errors
    assert not browser_log.failed_static
    findings.assert_none()
