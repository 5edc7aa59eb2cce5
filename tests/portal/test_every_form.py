"""Every form of every deployed process, checked through the pages the way a browser submits them.

For each process package (processes/bpmn/*.bpmn and processes/<key>/forms/, deployed by the
`deployed` fixture) a seeded random walker starts cases and completes open tasks with valid data
generated from each form's own definition (tests/portal/formgen.py), choosing among the options
offered — gateways' fields mostly take the option taken least so far, so every branch comes up —
and firing waiting timers (so escalations appear), until every user task of the diagram has been
open once. The first time a task is open, it is checked through its page (tests/portal/pageform.py:
every control the page rendered plus the button pressed), as a person of its role or its named
assignee:

- each constraint of each field (required, lengths, patterns, ranges, decimal places, date limits
  against today, now, another field or a workflow variable, options not offered) is broken once:
  the page answers 400, shows the error next to that field and nowhere else, in Chinese, and the
  task stays open; for a few, the person then corrects that field on the page they got back and
  submits again, which must go through;
- the inputs themselves (maxlength, min, max, step) must let a person type the valid values;
- Hypothesis generates more valid submissions, each offered option is chosen once on its own, and a
  draft is saved, reopened and submitted as shown: each goes through the page and stores what the
  engine's cleaning makes of it, or the process says next to a field why not (all rolled back);
- a valid submission completes the task: 302, the row completed.
A step that comes round again (a return) is also submitted as shown. The start form of each process
is checked the same way on the start page. Product text on every page must be Chinese.

A new diagram gets all of this without a line here. If the walker cannot reach one of its tasks, or
cannot fill a field, the test fails and names it: add a semantic example below (SEMANTIC) or teach
formgen.py the new field type. Process hooks add rules a generated value can break (a panel of
three, a need with an eligible resource): the walker answers a hook's refusal by filling in the
fields it named and choosing again, and SEMANTIC adjusts the few values a process needs."""
from __future__ import annotations

import datetime as dt
import json
import random
import re
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, reject, settings as hsettings, strategies as st
from hypothesis.errors import Unsatisfiable
from lxml import html

from engine import api, registry
from engine.api import TaskInfo
from engine.errors import AlreadyCompleted, CaseflowError, ConcurrentUpdate, FormInvalid
from engine.forms import acting_as, clean_form_data
from engine.models import HumanTask, ProcessDefinition, ProcessInstance, Timer
from tests.conftest import make_user
from tests.portal import formgen, pageform

pytestmark = pytest.mark.django_db(transaction=True)

BUNDLED = Path(__file__).resolve().parents[2] / "processes" / "bpmn"
PROCESSES = sorted(set(registry.packages()) | {path.stem for path in BUNDLED.glob("*.bpmn")})
SEED = 20260611
MAX_STEPS = 400  # walker steps per process before it gives up on the tasks not yet reached
EXAMPLES = 3  # Hypothesis's extra valid submissions per form
CJK = re.compile(r"[\u3400-\u9fff]")


# -- semantic examples: what a process needs beyond what its forms say ----------------------------

def _budget_within_cap(rnd, ctx, rows, values):
    """micro_fund: a budget a project may ask for (at most 30,000 yuan; three rows of 20 x 500)."""
    for row in rows or []:
        row["quantity"] = str(rnd.randint(1, 20))
        row["unit_price"] = f"{Decimal(rnd.randint(1, 50000)) / 100:.2f}"
    return rows


def _at_most_requested(rnd, ctx, value, values):
    """micro_fund: an approved amount is more than 0 and at most what was requested."""
    requested = Decimal(str(ctx.variables.get("requested_amount") or "0"))
    if value is None or requested <= 0:
        return value
    return f"{Decimal(rnd.randint(1, int(requested * 100))) / 100:.2f}"


def _at_most_approved(rnd, ctx, value, values):
    """micro_fund: a project reports spending no more than was approved — mostly less than its first
    tranche, so that money is owed back and finance's confirmation of it (Task_ConfirmRefund) is walked."""
    from processes.micro_fund.models import Application

    approved = Application.objects.get(instance_id=ctx.instance_id).approved_amount or Decimal("0")
    ceiling = approved / 2 if rnd.random() < 0.75 else approved
    return f"{Decimal(rnd.randint(0, int(ceiling * 100))) / 100:.2f}"


def _panel_of_the_needed_size(rnd, ctx, chosen, values):
    """micro_fund: as many reviewers as the rule still needs (three at first), or one more — not the
    whole list, which would leave nobody to replace a late reviewer with."""
    from django.conf import settings

    from processes.micro_fund.handlers import valid_reviews
    from processes.micro_fund.models import Application

    offered = ctx.choices.get("reviewers", [])
    needed = max(settings.MICRO_FUND["min_reviewers"] - len(valid_reviews(Application.objects.get(instance_id=ctx.instance_id))), 1)
    return rnd.sample(offered, min(len(offered), rnd.randint(needed, needed + 1))) if offered else chosen


def _eligible_plan(rnd, ctx, rows, values):
    """needs_matching: each row refers a need of this case to a resource matching found eligible for
    that need (the page offers this case's needs and resources, but not which go together)."""
    from processes.needs_matching.models import Need, Resource

    offered = set(ctx.choices.get("plan.resource", []))
    needs = [(n.number, [p["resource"] for p in n.proposals if p["eligible"] and str(p["resource"]) in offered])
             for n in Need.objects.filter(instance_id=ctx.instance_id)]
    needs = [(number, eligible) for number, eligible in needs if eligible]
    if not needs:
        return []
    for row in rows or []:
        number, eligible = rnd.choice(needs)
        resource = Resource.objects.get(pk=rnd.choice(eligible))
        row["need_no"], row["resource"] = str(number), str(resource.pk)
        if resource.capacity_unit == "yuan":  # counted in yuan: the amount is needed, within what is left
            row["amount"] = f"{Decimal(rnd.randint(100, 300000)) / 100:.2f}"
    return rows


def _held_already(rnd, ctx, value, values):
    """activities: a session is recorded once it has taken place, so the walker plans sessions of the
    past weeks (a date ahead is refused at the attendance step, as it should be)."""
    return (timezone.localdate() - dt.timedelta(days=rnd.randint(0, 60))).isoformat()


def _visited_today(rnd, ctx, value, values):
    """children_joint_visit: the partner's visit comes after it was asked for (the walker asks today)."""
    return timezone.localdate().isoformat()


SEMANTIC = {  # process -> element id -> field key -> fn(rnd, ctx, generated value, all values)
    "micro_fund": {
        "Task_Application": {"budget_lines": _budget_within_cap},
        "Task_SelectPanel": {"reviewers": _panel_of_the_needed_size},
        "Task_Decide": {"approved_amount": _at_most_requested},
        "Task_FinalReport": {"amount_spent": _at_most_approved},
    },
    "needs_matching": {
        "Task_ConfirmPlan": {"plan": _eligible_plan},
    },
    "activities": {
        "StartEvent_Plan": {"held_on": _held_already},
    },
    "children_joint_visit": {
        "Task_PartnerVisit": {"visited_on": _visited_today},
    },
}


@pytest.fixture
def people(users, deployed, settings):
    """Somebody for every role (and the records the bundled processes work on): an applicant
    organisation and its member, a panel's worth of reviewers, finance, households with members,
    resources with and without a partner office in the portal."""
    from django.contrib.auth.models import Group

    from processes.needs_matching.models import Household, Member, NeedCategory, Resource
    from tests.processes.micro_fund.flows import join, make_organisation

    people = dict(users)
    people["applicant"] = join(make_user("applicant", "applicant", villages=None), make_organisation())
    for n in range(1, 10):
        people[f"r{n}"] = make_user(f"r{n}", "reviewer", villages=None)
    for village in ("xishui", "nanling", "beipo"):  # reviewers are often village cadres: they work in one village
        people[f"reviewer_{village}"] = make_user(f"reviewer_{village}", "reviewer", villages=[village])
    people["finance"] = make_user("finance", "finance", villages=None)
    people["partner"] = make_user("partner", "partner_office", villages=None)
    people["partner"].groups.add(Group.objects.get_or_create(name="prov-a")[0])
    for n in range(1, 6):
        household = Household.objects.create(code=f"HH-DS-{n:03d}", village="dongshan", head_name=f"户主{n}", annual_income=Decimal("9000"))
        Member.objects.create(household=household, name=f"户主{n}", relation="户主", age=52, sex="male")
        Member.objects.create(household=household, name=f"孩子{n}", relation="子女", age=10, sex="female", school_enrolled=True)
    every = [c.value for c in NeedCategory]
    Resource.objects.create(name="综合救助金", kind="policy", provider="民政办", provider_group="prov-a", categories=every, rules=[],
                            capacity_unit="yuan", capacity_left=Decimal("500000"), capacity_total=Decimal("500000"))
    Resource.objects.create(name="临时照料名额", kind="social", provider="县慈善会", categories=every, rules=[],
                            capacity_left=Decimal("40"), capacity_total=Decimal("40"))
    Resource.objects.create(name="长者日间照料", kind="social", provider="敬老院", provider_group="prov-a",
                            categories=["temporary_care", "medical_aid"], rules=[{"fact": "age", "op": "gte", "value": 60, "label": "60岁以上"}],
                            capacity_left=Decimal("1"), capacity_total=Decimal("1"))
    # Elders (elderly care), approved elders and volunteers in the time bank's pilot villages, and a
    # standing group with its members (activities): what those start forms choose from.
    from processes.activities.models import Roster, RosterMember
    from tests.processes.elderly_care.flows import elder
    from tests.processes.time_bank.flows import member

    for village in ("dongshan", "xishui"):
        for _n in range(2):
            elder(village=village)
        for kind in ("elder", "volunteer", "volunteer"):
            member(kind, by=people["supervisor"], village=village, name=f"{village}{kind}")
        roster = Roster.objects.create(village=village, name=f"{village}课后课堂", kind="after_school")
        roster.workers.add(*[p for p in people.values() if p.groups.filter(name="worker").exists()])  # they run it (ADR 0041)
        for n in range(4):
            RosterMember.objects.create(roster=roster, name=f"学生{n}", minor=True, guardian_consent=True, joined_on=dt.date(2026, 9, 1))
    # Low-income monitoring enrols needs-matching households, one running cycle each: enough of them
    # for every case the walker starts.
    for n in range(6, 40):
        household = Household.objects.create(code=f"HH-DS-{n:03d}", village="dongshan", head_name=f"户主{n}", annual_income=Decimal("9000"))
        Member.objects.create(household=household, name=f"户主{n}", relation="户主", age=52, sex="male")
    # Children in difficulty: children in the archive of each village (the start form chooses among them).
    from processes.children.handlers import new_child

    for village in ("dongshan", "xishui"):
        for n in range(3):
            new_child(village=village, name=f"{village}儿童{n}", consent_group=True)
    # Joint home visits: both offices have somebody in the portal.
    for office in ("prov-edu", "prov-women"):
        people[office] = make_user(office, "partner_office", office, villages=None)
    for role in registry.roles():  # every role has somebody station-wide (a project in any village; a new role)
        if not any(u.groups.filter(name=role).exists() and u.staff_profile.township_wide for u in people.values()):
            people[f"any_{role}"] = make_user(f"any_{role}", role, villages=None)
    # A worker asks a partner for a joint visit only with the child's archive open to them: the workers,
    # who hold none of these children's cases, were approved by a supervisor, as a person would be.
    from processes.children import access as children_access
    from tests.minors import approve_record_access

    for person in list(people.values()):
        if person.groups.filter(name="worker").exists():
            for kid in children_access.visible_children(person):
                approve_record_access(person, "child", kid.pk, approver=people["supervisor"])
    return people


@pytest.mark.parametrize("process_key", PROCESSES)
def test_every_form_of_the_process_through_its_pages(process_key, people, client):
    assert ProcessDefinition.objects.filter(key=process_key).exists(), (
        f"processes/bpmn/{process_key}.bpmn is not deployed by the `deployed` fixture: register its package "
        f"(registry.register_process in processes/{process_key}/apps.py, and INSTALLED_APPS)")
    run = FormRun(process_key, people, client)
    run.walk()
    print(run.summary())  # with -s: what was checked, and the walker's notes
    print("\n".join(run.notes))
    unreached = sorted(run.user_tasks - set(run.checked))
    assert not unreached, (
        f"{process_key}: the walker never had {unreached} open after {MAX_STEPS} steps; make them reachable with a semantic "
        f"example in SEMANTIC (tests/portal/test_every_form.py). Notes:\n" + "\n".join(run.notes[-30:]))
    assert not run.problems, f"{process_key}: {len(run.problems)} form problems:\n" + "\n".join(run.problems)


# -- the walker and the page checks ------------------------------------------------------------------

class _Rollback(Exception):
    pass


def rolled_back(fn, client=None):
    """Run fn() and undo everything it wrote; return what it returned, or the engine error it raised.
    With a client, the flash messages its requests left in a cookie are dropped as well."""
    try:
        with transaction.atomic():
            result = fn()
            raise _Rollback(result)
    except _Rollback as done:
        return done.args[0]
    except CaseflowError as exc:
        return exc
    finally:
        if client is not None:
            client.cookies.pop("messages", None)


def page_choices(form_el, fields) -> tuple[dict, dict]:
    """The options the page offers for each choice field (and list column), and its rows per list."""
    choices, rows = {}, {}
    for f in fields:
        if f.kind in formgen.CHOICE_TYPES:
            choices[f.key] = _offered(form_el, f.key)
        elif f.kind == "dynamiclist":
            numbers = {int(m.group(1)) for name in form_el.xpath(".//@name") if (m := re.fullmatch(rf"{f.key}-(\d+)-\w+", name))}
            rows[f.key] = len(numbers)
            for c in f.columns:
                if c.kind in formgen.CHOICE_TYPES:
                    choices[f"{f.key}.{c.key}"] = _offered(form_el, f"{f.key}-0-{c.key}")
    return choices, rows


def _offered(form_el, name) -> list[str]:
    elements = form_el.xpath(f'.//*[@name="{name}"]')
    if elements and elements[0].tag == "select":
        return [o.get("value") for o in elements[0].xpath(".//option") if o.get("value")]
    return [e.get("value") for e in elements if e.get("value")]


def page_errors(content) -> tuple[dict[str, list[str]], list[str]]:
    """The errors the page shows next to each field (by data-field), and its flash messages."""
    doc = html.fromstring(content)
    errors = {}
    for div in doc.xpath('//div[@data-field]'):
        messages = [p.text_content().strip() for p in div.xpath('.//p[contains(concat(" ", @class, " "), " error ")]')]
        if messages or "has-error" in (div.get("class") or "").split():
            errors[div.get("data-field")] = messages
    flashes = [li.text_content().strip() for li in doc.xpath('//ul[@class="messages"]/li')]
    return errors, flashes


# Product text on a page (labels, buttons, headings, help, notices, messages, options): never English
# words on a zh-hans page. People's own text (values, earlier answers) is not looked at.
CHROME = ('//label | //button[not(@name="language")] | //h1 | //h2 | //th | //dt | //legend | //summary | //option | //ul[@class="messages"]/li'
          ' | //p[contains(@class, "help")] | //p[contains(@class, "notice")] | //p[contains(@class, "error")]')
ENGLISH = re.compile(r"\b[A-Za-z]?[a-z]{2,}(?:\s+[A-Za-z]?[a-z]+)+\b|\b[A-Z][a-z]{3,}\b")  # "Report received", "Submit"


def english_chrome(content) -> list[str]:
    doc = html.fromstring(content)
    found = []
    for element in doc.xpath(CHROME):
        text = " ".join(element.text_content().split())
        if ENGLISH.search(text) and text not in found:
            found.append(text)
    return found


def browser_blocks(form_el, fields, values, ctx) -> list[str]:
    """Valid values that the page's own inputs would not let a person enter: longer than the
    input's maxlength, outside its min/max, off its step."""
    blocked = []
    for name, value in formgen.page_values(fields, values, ctx).items():
        if value in (None, "") or isinstance(value, (bool, list)):
            continue
        elements = form_el.xpath(f'.//*[@name="{name}"][self::input or self::textarea]')
        if not elements:
            continue
        element = elements[0]
        kind = (element.get("type") or "text").lower() if element.tag == "input" else "textarea"
        limit = element.get("maxlength")
        if limit and len(value) > int(limit):
            blocked.append(f"{name}: {len(value)} characters, the input's maxlength is {limit}")
        low, high, step = element.get("min"), element.get("max"), element.get("step")
        if kind == "number":
            number = Decimal(value)
            if (low and number < Decimal(low)) or (high and number > Decimal(high)):
                blocked.append(f"{name}: {value} outside the input's min={low} max={high}")
            if step and step != "any" and (number - Decimal(low or "0")) % Decimal(step) != 0:
                blocked.append(f"{name}: {value} is off the input's step={step}")
        elif kind in ("date", "datetime-local", "time") and ((low and value < low) or (high and value > high)):
            blocked.append(f"{name}: {value} outside the input's min={low} max={high}")
    return blocked


class FormRun:
    def __init__(self, key, people, client):
        self.key = key
        self.people = people
        self.users = list(people.values())
        self.admin = people["admin"]
        self.client = client
        self.rnd = random.Random(f"{SEED}:{key}")
        self.definition = ProcessDefinition.objects.filter(key=key).order_by("-version").first()
        self.user_tasks = set(self.definition.user_tasks)
        self.semantic = SEMANTIC.get(key, {})
        self.checked: dict[str, int] = {}  # element id -> invalid submissions checked on its page
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.instances: list[int] = []
        self.force: dict[str, set] = {}  # element id -> fields a hook asked to be filled in
        self.failed: Counter = Counter()
        self.dead: set[int] = set()
        self.stats: Counter = Counter()
        self.cases: list[str] = []  # every invalid submission made, for the record
        self.returned: set[str] = set()  # steps checked when they came round again
        self.unmarked: set = set()
        self.english_seen: set = set()
        self.seconds: Counter = Counter()
        self.taken: dict = defaultdict(Counter)  # (element, gateway field) -> how often each option was taken

    # -- reporting --

    def problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    def summary(self) -> str:
        s = self.stats
        return (f"\n{self.key}: {len(self.checked)}/{len(self.user_tasks)} user tasks checked on their pages "
                f"(+ start form), {s['invalid']} invalid submissions ({s['invalid_start']} on the start page), "
                f"{s['examples']} Hypothesis valid submissions ({s['examples_rejected']} refused by process rules), "
                f"{s['options']} offered options submitted one by one, {s['corrected']} corrected and resubmitted, {s['returned']} steps resubmitted as shown when they came back, "
                f"{s['instances']} cases, {s['api_steps']} walker steps, {s['timer_sweeps']} timer sweeps, "
                f"{len(self.problems)} problems; {self.seconds['pages']:.0f} s on pages, {self.seconds['walker']:.0f} s walking; "
                f"reached in order: {list(self.checked)}")

    # -- people --

    def actor_for(self, row: HumanTask):
        info = TaskInfo.from_row(row)
        able = [u for u in self.users if api.may_complete(user=u, task=info)]
        if not able:
            self.problem(f"{self.key}.{row.bpmn_id}: nobody may complete task {row.pk} (group {row.candidate_group!r}, village {row.village!r})")
            return None
        return self.rnd.choice(able)

    def stuck(self, row: HumanTask, why) -> None:
        """An open task nobody can complete (a required choice that offers nothing): it stays in an
        inbox for ever, and its case never ends."""
        if (row.bpmn_id, str(why)) in self.unmarked:
            return
        self.unmarked.add((row.bpmn_id, str(why)))
        done = list(dict.fromkeys(HumanTask.objects.filter(instance_id=row.instance_id, status="completed")
                                  .order_by("completed_at", "pk").values_list("bpmn_id", flat=True)))
        open_now = list(HumanTask.objects.filter(instance_id=row.instance_id, status="open").exclude(pk=row.pk)
                        .values_list("bpmn_id", flat=True))
        self.problem(f"{self.key}.{row.bpmn_id}: an open task cannot be completed by anyone: {why} (its case has done "
                     f"{done}; open besides it: {open_now})")

    def starters(self) -> list:
        able = [u for u in self.users if u.groups.filter(name=self.definition.start_group).exists()]
        self.rnd.shuffle(able)
        return able

    # -- checks shared by the start page and task pages --

    def clean_ok(self, where, form, data, actor, variables) -> bool:
        """Valid data by the form's own definition must pass the engine's cleaning."""
        try:
            with acting_as(actor, variables):
                clean_form_data(form, data)
        except FormInvalid as exc:
            self.problem(f"{where}: a valid submission was refused by the form cleaning: {exc.field_errors} for {_brief(data)}")
            return False
        return True

    def steer(self, element, fields, values, ctx) -> dict:
        """Coverage first: a field a gateway reads (a process variable) mostly takes the option this
        step has taken least so far, so every branch comes up early."""
        for f in fields:
            if (f.component.get("properties") or {}).get("process_variable") != "true" or self.rnd.random() > 0.75:
                continue
            if f.kind in ("select", "radio"):
                options = list(ctx.choices.get(f.key) or [])
            elif f.kind == "checkbox" and not f.required:
                options = [True, False]
            else:
                continue
            if options:
                taken = self.taken[(element, f.key)]
                least = min(taken[json.dumps(o)] for o in options)
                values[f.key] = self.rnd.choice([o for o in options if taken[json.dumps(o)] == least])
        return values

    def took(self, element, fields, values) -> None:
        for f in fields:
            if (f.component.get("properties") or {}).get("process_variable") == "true" and f.kind in ("select", "radio", "checkbox"):
                self.taken[(element, f.key)][json.dumps(values.get(f.key))] += 1

    def unmarked_refusal(self, where, refusal, data, page="", fields=None) -> None:
        """A submission the form takes, refused by the process with a message that names no field:
        the person is told no, but not which answer to change (the page shows no field error)."""
        if isinstance(refusal, FormInvalid):
            strays = set(refusal.field_errors) - {f.key for f in fields or []}
            if fields is not None and strays:
                self.problem(f"{where}: the process refused with errors for {sorted(strays)}, which are not fields of the form: "
                             f"the page cannot show them ({refusal.field_errors}) for {_brief(data)}")
            return
        if isinstance(refusal, (AlreadyCompleted, ConcurrentUpdate)):
            return
        key = (where.split(" ")[0], type(refusal).__name__)
        if key not in self.unmarked:
            self.unmarked.add(key)
            self.problem(f"{where}: a valid submission was refused without a field error ({type(refusal).__name__}: "
                         f"{_one_line(refusal)}){' — ' + page if page else ''} for {_brief(data)}")

    def expected(self, form, data, actor, variables):
        with acting_as(actor, variables):
            return json.loads(json.dumps(clean_form_data(form, data)))

    def check_page(self, where, response, fields):
        content = response.content.decode()
        if 'lang="zh-hans"' not in content:
            self.problem(f"{where}: the page is not in zh-hans")
        doc = html.fromstring(response.content)
        for f in fields:
            boxes = doc.xpath(f'//form[contains(@class, "task-form")]//div[@data-field="{f.key}"]')
            if not boxes:
                self.problem(f"{where}: field {f.key} is not on the page")
            elif f.label not in boxes[0].text_content():
                self.problem(f"{where}: field {f.key} does not show its label {f.label!r}")
        self.english(where, response, "")

    def english(self, where, response, when) -> None:
        for text in english_chrome(response.content):
            if (where, text) not in self.english_seen:
                self.english_seen.add((where, text))
                self.problem(f"{where}: English text on a zh-hans page{' ' + when if when else ''}: {text!r}")

    def encode(self, form_el, fields, values, ctx, raw=None, button=None):
        filled = formgen.page_values(fields, values, ctx)
        strip = set()
        ready = {}
        for name, value in filled.items():
            elements = form_el.xpath(f'.//*[@name="{name}"][self::input or self::select or self::textarea]')
            if not elements:
                raise pageform.NoSuchChoice(f"the page has no control named {name!r}")
            if raw and name == raw[0]:
                continue
            if value is None:
                if elements[0].tag == "input" and (elements[0].get("type") or "").lower() == "radio":
                    strip.add(name)
                    continue
                value = ""
            ready[name] = value
        pairs = pageform.fill(form_el, ready)
        pairs = [(n, v) for n, v in pairs if n not in strip and not (raw and n == raw[0])]
        if raw:
            pairs.append(raw)
        return pageform.encode(pageform.press(form_el, pairs, button))

    def check_refusal(self, where, case, response, still_open: bool):
        if response.status_code != 400:
            self.problem(f"{where}: invalid {case} answered {response.status_code}, not 400"
                         + (" (the invalid value was accepted)" if response.status_code == 302 else ""))
        else:
            errors, flashes = page_errors(response.content)
            if case.key not in errors:
                self.problem(f"{where}: invalid {case}: no error shown next to {case.key} (errors shown: {errors}, messages: {flashes})")
            elif not errors[case.key]:
                self.problem(f"{where}: invalid {case}: {case.key} is marked but no message says why")
            others = sorted(set(errors) - {case.key})
            if others:
                self.problem(f"{where}: invalid {case}: errors also shown on valid fields {others}: {[errors[k] for k in others]}")
            for message in [m for ms in errors.values() for m in ms] + flashes:
                if not CJK.search(message):
                    self.problem(f"{where}: invalid {case}: message not in Chinese on a zh-hans page: {message!r}")
            self.english(where, response, f"answering invalid {case}")
        if not still_open:
            self.problem(f"{where}: invalid {case} went through anyway (the task was completed, or a case started)")

    def valid_examples(self, where, fields, ctx, force, overlay, form, actor, variables, submit, dry_run, form_el):
        """Hypothesis: more valid submissions through the page, each rolled back."""

        @hsettings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
                   suppress_health_check=list(HealthCheck))
        @given(rnd=st.randoms(use_true_random=False))
        def every_valid_submission_goes_through(rnd):
            values = formgen.valid_data(fields, rnd, ctx, force=force, overlay=overlay)
            data = formgen.api_data(fields, values)
            with acting_as(actor, variables):
                try:
                    clean_form_data(form, data)
                except FormInvalid as exc:
                    raise AssertionError(f"a valid submission was refused by the form cleaning: {exc.field_errors} for {_brief(data)}") from None
            for blocked in browser_blocks(form_el, fields, values, ctx):
                raise AssertionError(f"the browser would not let a person enter a valid value: {blocked}")
            status, outcome = submit(values)
            if status in (200, 400):
                refusal = dry_run(data)
                errors, flashes = page_errors(outcome)
                if isinstance(refusal, CaseflowError):  # the process's own rules (a hook) refuse it too
                    self.stats["examples_rejected"] += 1
                    self.unmarked_refusal(where, refusal, data, f"the page answered {status}: {flashes}")
                    if isinstance(refusal, FormInvalid) and set(refusal.field_errors) - set(errors):
                        self.problem(f"{where}: the process's error {refusal.field_errors} is not shown next to its field "
                                     f"(the page marks {sorted(errors)}) for {_brief(data)}")
                    reject()
                raise AssertionError(f"the page refused ({status}) a submission the engine accepts: {errors} {flashes} for {_brief(data)}")
            assert status == 302, f"a valid submission answered {status} for {_brief(data)}"
            assert outcome == self.expected(form, data, actor, variables), (
                f"the page stored {outcome} where the form's cleaning makes {self.expected(form, data, actor, variables)}")
            self.stats["examples"] += 1

        try:
            every_valid_submission_goes_through()
        except Unsatisfiable:
            self.notes.append(f"{where}: every generated example was refused by the process's rules")
        except AssertionError as exc:
            self.problem(f"{where}: {str(exc).splitlines()[0]}")
        except formgen.CannotGenerate as exc:
            self.problem(f"{where}: {exc}")

    def every_option(self, where, fields, base, ctx, submit, dry_run, form, actor, variables):
        """Every option the page offers, chosen on its own (the rest as before), goes through — or the
        process says, next to a field, why not (an approval needs enough reviews). Rolled back."""
        for f in fields:
            if f.kind not in formgen.CHOICE_TYPES:
                continue
            for option in ctx.choices.get(f.key, []):
                chosen = [option] if f.kind == "checklist" else option
                if base.get(f.key) == chosen:
                    continue
                values = {**base, f.key: chosen}
                data = formgen.api_data(fields, values)
                self.stats["options"] += 1
                status, outcome = submit(values)
                if status == 302:
                    if outcome != self.expected(form, data, actor, variables):
                        self.problem(f"{where}: choosing {f.key}={option!r} stored {outcome}")
                    continue
                errors, flashes = page_errors(outcome) if status in (200, 400) else ({}, [])
                refusal = dry_run(data)
                if isinstance(refusal, FormInvalid):
                    if set(refusal.field_errors) - set(errors):
                        self.problem(f"{where}: choosing {f.key}={option!r}: the process's error {refusal.field_errors} is not shown "
                                     f"next to its field (the page marks {sorted(errors)})")
                elif isinstance(refusal, CaseflowError):
                    self.unmarked_refusal(where, refusal, data, f"the page answered {status}: {flashes}")
                else:
                    self.problem(f"{where}: the page refused ({status}) the offered option {f.key}={option!r}, which the engine "
                                 f"accepts: {errors} {flashes}")

    # -- the start page --

    def start_page(self) -> int | None:
        for actor in self.starters():
            try:
                return self.start_page_as(actor)
            except formgen.CannotGenerate as exc:  # e.g. no household in this worker's villages: somebody else starts
                self.notes.append(f"{self.key} start page as {actor.username}: {exc}")
        self.problem(f"{self.key}: nobody of role {self.definition.start_group!r} can fill in the start form")
        return None

    def start_page_as(self, actor) -> int | None:
        form = self.definition.forms.get(self.definition.start_event_id)
        where = f"{self.key}.{self.definition.start_event_id} (start page)"
        self.client.force_login(actor)
        url = f"/start/{self.key}/"
        page = self.client.get(url)
        assert page.status_code == 200, f"{where}: {page.status_code}"
        fields = formgen.parse_form(form)
        self.check_page(where, page, fields)
        form_el = pageform.page_form(page.content)
        choices, rows = page_choices(form_el, fields)
        ctx = formgen.Context(now=timezone.now(), choices=choices, rows=rows, actor=actor)
        force: set = set()
        overlay = self.semantic.get(self.definition.start_event_id)

        def dry_run(data):
            return rolled_back(lambda: api.start_instance(process_key=self.key, data=data, actor=actor))

        base = None
        search_ctx = _with_rows(ctx, form_el, fields)  # its choices narrow as the process refuses some
        for _attempt in range(12):
            values = self.steer(self.definition.start_event_id, fields,
                                formgen.valid_data(fields, self.rnd, search_ctx, force=force, overlay=overlay), search_ctx)
            data = formgen.api_data(fields, values)
            if not self.clean_ok(where, form, data, actor, {}):
                return None
            refusal = dry_run(data)
            if isinstance(refusal, FormInvalid):
                force |= set(refusal.field_errors) & {f.key for f in fields}
                _drop_refused_choices(search_ctx, fields, values, refusal)
            elif not isinstance(refusal, CaseflowError):
                base = values
                break
        if base is None:
            self.problem(f"{where}: no generated start data was accepted by the process (last: {refusal})")
            return None

        for blocked in browser_blocks(form_el, fields, base, ctx):
            self.problem(f"{where}: the browser would not let a person enter a valid value: {blocked}")

        def post(values, raw=None):
            data = self.encode(form_el, fields, values, ctx, raw=raw)
            before = ProcessInstance.objects.filter(process_key=self.key).count()
            response = self.client.post(url, data)
            return response, ProcessInstance.objects.filter(process_key=self.key).count() == before

        for case in formgen.invalid_cases(fields, base, self.rnd, ctx):
            response, nothing_started = rolled_back(lambda case=case: post(case.values, case.raw), self.client)
            self.check_refusal(where, case, response, nothing_started)
            self.cases.append(f"{self.definition.start_event_id}: {case}")
            self.stats["invalid_start"] += 1
            self.stats["invalid"] += 1

        def submit(values):
            response, nothing_started = rolled_back(lambda: post(values), self.client)
            if response.status_code == 302 and nothing_started:
                return 500, b""
            return response.status_code, (response.content if response.status_code != 302 else
                                          self.expected(form, formgen.api_data(fields, values), actor, {}))

        self.valid_examples(where, fields, ctx, force, overlay, form, actor, {}, submit, dry_run, form_el)
        self.every_option(where, fields, base, ctx, submit, dry_run, form, actor, {})
        response, nothing_started = post(base)
        if response.status_code != 302 or nothing_started:
            errors, flashes = page_errors(response.content)
            self.problem(f"{where}: a valid start answered {response.status_code}: {errors} {flashes}")
            return None
        instance = ProcessInstance.objects.filter(process_key=self.key).order_by("-pk").first()
        self.took(self.definition.start_event_id, fields, base)
        self.instances.append(instance.pk)
        self.stats["instances"] += 1
        return instance.pk

    # -- task pages --

    def task_page(self, row: HumanTask) -> bool:
        """The checks on one open task's page; True when it ends with the task completed."""
        actor = self.actor_for(row)
        if actor is None:
            return False
        where = f"{self.key}.{row.bpmn_id} (task page as {actor.username})"
        self.client.force_login(actor)
        url = f"/tasks/{row.pk}/"
        page = self.client.get(url)
        if page.status_code != 200:
            self.problem(f"{where}: the task page answered {page.status_code}")
            return False
        form = api.task_form(task_id=row.pk, viewer=api.SYSTEM)
        try:
            fields = formgen.parse_form(form)
        except formgen.CannotGenerate as exc:
            self.problem(f"{where}: {exc}")
            return False
        self.check_page(where, page, fields)
        form_el = pageform.page_form(page.content)
        variables = api.task_variables(task_id=row.pk)
        choices, rows = page_choices(form_el, fields)
        ctx = formgen.Context(now=timezone.now(), variables=variables, choices=choices, rows=rows, instance_id=row.instance_id,
                              task_id=row.pk, actor=actor)
        overlay = self.semantic.get(row.bpmn_id)
        force = self.force.setdefault(row.bpmn_id, set())

        def dry_run(data):
            return rolled_back(lambda: api.complete_task(task_id=row.pk, data=data, actor=actor))

        base, refusal = None, None
        search_ctx = _with_rows(ctx, form_el, fields)  # its choices narrow as the process refuses some
        try:
            for _attempt in range(12):
                values = self.steer(row.bpmn_id, fields, formgen.valid_data(fields, self.rnd, search_ctx, force=force, overlay=overlay),
                                    search_ctx)
                data = formgen.api_data(fields, values)
                if not self.clean_ok(where, form, data, actor, variables):
                    return False
                refusal = dry_run(data)
                if isinstance(refusal, FormInvalid):
                    force |= set(refusal.field_errors) & {f.key for f in fields}
                    _drop_refused_choices(search_ctx, fields, values, refusal)
                    self.unmarked_refusal(where, refusal, data, fields=fields)
                elif isinstance(refusal, CaseflowError):
                    self.unmarked_refusal(where, refusal, data)
                else:
                    base = values
                    break
        except formgen.CannotGenerate as exc:  # e.g. a required choice that offers nothing: nobody can complete the task
            self.stuck(row, exc)
            return False
        if base is None:
            self.notes.append(f"{where}: no generated data was accepted by the process's rules here (last: {_one_line(refusal)})")
            return False

        def post(values, raw=None, on=None, keys=None):
            """Fill `values` (only the fields in `keys`, when given) into the page's form `on`, press Submit."""
            on = form_el if on is None else on
            chosen = fields if keys is None else [f for f in fields if f.key in keys]
            page_ctx = ctx if on is form_el else _with_rows(ctx, on, fields)
            data = self.encode(on, chosen, values, page_ctx, raw=raw, button="complete")
            response = self.client.post(url, data)
            return response, HumanTask.objects.get(pk=row.pk)

        expected = self.expected(form, formgen.api_data(fields, base), actor, variables)
        for blocked in browser_blocks(form_el, fields, base, ctx):
            self.problem(f"{where}: the browser would not let a person enter a valid value: {blocked}")

        count = 0
        cases = formgen.invalid_cases(fields, base, self.rnd, ctx)
        corrected = set(self.rnd.sample(range(len(cases)), min(3, len(cases))))
        for number, case in enumerate(cases):
            def refuse_then_correct(case=case, correct=number in corrected):
                response, after = post(case.values, case.raw)
                if not correct or response.status_code != 400:
                    return response, after, None
                # The person corrects that one field on the page they got back and submits again.
                again = pageform.page_form(response.content)
                fixed, done = post(base, on=again, keys={case.key, *[k for k in case.values if case.values[k] != base.get(k)]})
                return response, after, (fixed.status_code, done.status, done.form_data, fixed.content)

            try:
                response, after, retry = rolled_back(refuse_then_correct, self.client)
            except pageform.NoSuchChoice as exc:
                self.problem(f"{where}: invalid {case}: {exc}")
                continue
            self.check_refusal(where, case, response, after.status == "open")
            if retry is not None:
                status, state, stored, content = retry
                if status != 302 or state != "completed":
                    self.problem(f"{where}: after refusing {case}, correcting that field on the returned page and submitting "
                                 f"again answered {status}: {page_errors(content)} — the page did not keep the other values")
                elif stored != expected:
                    self.problem(f"{where}: after refusing {case} and correcting it, the page stored {stored}, not {expected}")
                self.stats["corrected"] += 1
            self.cases.append(f"{row.bpmn_id}: {case}")
            count += 1
        self.stats["invalid"] += count

        def draft_then_submit():
            """Save a draft, open the page again, submit what it shows."""
            saved = self.client.post(url, self.encode(form_el, fields, base, ctx, button="draft"))
            again = self.client.get(url)
            shown = pageform.page_form(again.content)
            response = self.client.post(url, pageform.encode(pageform.press(shown, pageform.controls(shown), "complete")))
            after = HumanTask.objects.get(pk=row.pk)
            return saved.status_code, response.status_code, after.status, after.form_data, response.content

        saved, status, state, stored, content = rolled_back(draft_then_submit, self.client)
        if saved != 302 or status != 302 or state != "completed":
            self.problem(f"{where}: a valid draft, reopened and submitted as shown, answered {saved}/{status}: {page_errors(content)} "
                         f"for {_brief(formgen.api_data(fields, base))}")
        elif stored != expected:
            self.problem(f"{where}: a draft reopened and submitted stored {stored}, not {expected}")

        def submit(values):
            response, after = rolled_back(lambda: post(values), self.client)
            if response.status_code == 302 and after.status != "completed":
                return 500, b""
            return response.status_code, (response.content if response.status_code != 302 else after.form_data)

        self.valid_examples(where, fields, ctx, force, overlay, form, actor, variables, submit, dry_run, form_el)
        self.every_option(where, fields, base, ctx, submit, dry_run, form, actor, variables)

        data = formgen.api_data(fields, base)
        try:
            response, after = post(base)
        except pageform.NoSuchChoice as exc:
            self.problem(f"{where}: {exc}")
            return False
        if response.status_code != 302 or after.status != "completed":
            errors, flashes = page_errors(response.content)
            self.problem(f"{where}: a valid submission answered {response.status_code} (task {after.status}): {errors} {flashes} "
                         f"for {_brief(data)}")
            return False
        if after.form_data != expected:
            self.problem(f"{where}: the page stored {after.form_data} for {_brief(data)}")
        self.checked[row.bpmn_id] = count
        self.took(row.bpmn_id, fields, base)
        self.after_step(row.instance_id, f"{row.bpmn_id} completed through the page with {_brief(data)}")
        return True

    def returned_page(self, row: HumanTask) -> None:
        """A step that comes round again (a return, another follow-up) shows what was submitted last
        time: submitted unchanged, the page must take it whenever the engine takes that submission."""
        actor = self.actor_for(row)
        if actor is None:
            return
        where = f"{self.key}.{row.bpmn_id} (came back, page as {actor.username})"
        self.client.force_login(actor)
        url = f"/tasks/{row.pk}/"
        page = self.client.get(url)
        if page.status_code != 200:
            self.problem(f"{where}: the task page answered {page.status_code}")
            return
        shown = pageform.page_form(page.content)

        def submit_as_shown():
            response = self.client.post(url, pageform.encode(pageform.press(shown, pageform.controls(shown), "complete")))
            return response, HumanTask.objects.get(pk=row.pk).status

        response, state = rolled_back(submit_as_shown, self.client)
        self.stats["returned"] += 1
        if response.status_code == 302 and state == "completed":
            return
        previous = api.previous_submission(task_id=row.pk)
        refusal = rolled_back(lambda: api.complete_task(task_id=row.pk, data=previous, actor=actor))
        if isinstance(refusal, CaseflowError):
            self.notes.append(f"{where}: last time's answers no longer pass ({_one_line(refusal)})")
        else:
            self.problem(f"{where}: submitted as shown, the page answered {response.status_code}: {page_errors(response.content)}; "
                         f"the engine takes last time's answers {_brief(previous)}")

    # -- the walker --

    def start_api(self) -> None:
        actor = self.starters()[0]
        form = self.definition.forms.get(self.definition.start_event_id)
        fields = formgen.parse_form(form)
        specs = api.describe_form(form, user=actor)
        ctx = formgen.Context(now=timezone.now(), choices=_spec_choices(specs), actor=actor)
        force: set = set()
        for _attempt in range(10):
            try:
                values = self.steer(self.definition.start_event_id, fields, formgen.valid_data(
                    fields, self.rnd, ctx, force=force, overlay=self.semantic.get(self.definition.start_event_id)), ctx)
            except formgen.CannotGenerate as exc:
                self.notes.append(f"{self.key} start as {actor.username}: {exc}")
                return
            data = formgen.api_data(fields, values)
            if not self.clean_ok(f"{self.key} start", form, data, actor, {}):
                return
            try:
                info = api.start_instance(process_key=self.key, data=data, actor=actor)
            except FormInvalid as exc:
                force |= set(exc.field_errors) & {f.key for f in fields}
                _drop_refused_choices(ctx, fields, values, exc)
                continue
            self.instances.append(info.id)
            self.took(self.definition.start_event_id, fields, values)
            self.stats["instances"] += 1
            self.after_step(info.id, f"started with {_brief(data)}")
            return
        self.notes.append(f"{self.key}: could not start a case (the process refused ten generated starts)")

    def complete_api(self, row: HumanTask) -> bool:
        actor = self.actor_for(row)
        if actor is None:
            return False
        form = api.task_form(task_id=row.pk, viewer=api.SYSTEM)
        fields = formgen.parse_form(form)
        variables = api.task_variables(task_id=row.pk)
        specs = api.describe_form(form, user=actor, variables=variables)
        ctx = formgen.Context(now=timezone.now(), variables=variables, choices=_spec_choices(specs), instance_id=row.instance_id,
                              task_id=row.pk, actor=actor)
        force = self.force.setdefault(row.bpmn_id, set())
        last = None
        for _attempt in range(10):
            try:
                values = self.steer(row.bpmn_id, fields, formgen.valid_data(fields, self.rnd, ctx, force=force,
                                                                             overlay=self.semantic.get(row.bpmn_id)), ctx)
            except formgen.CannotGenerate as exc:  # e.g. a required choice that offers nothing: nobody can complete the task
                self.stuck(row, exc)
                return False
            data = formgen.api_data(fields, values)
            if not self.clean_ok(f"{self.key}.{row.bpmn_id}", form, data, actor, variables):
                return False
            try:
                api.complete_task(task_id=row.pk, data=data, actor=actor)
            except FormInvalid as exc:
                force |= set(exc.field_errors) & {f.key for f in fields}
                _drop_refused_choices(ctx, fields, values, exc)
                self.unmarked_refusal(f"{self.key}.{row.bpmn_id} (walker as {actor.username})", exc, data, fields=fields)
                last = exc
                continue
            except CaseflowError as exc:
                self.unmarked_refusal(f"{self.key}.{row.bpmn_id} (walker as {actor.username})", exc, data)
                last = exc
                continue
            self.stats["api_steps"] += 1
            self.took(row.bpmn_id, fields, values)
            self.after_step(row.instance_id, f"{row.bpmn_id} completed with {_brief(data)}")
            return True
        self.notes.append(f"{self.key}.{row.bpmn_id}: ten generated submissions refused by the process (last: {_one_line(last)})")
        return False

    def fire_a_timer(self, timers) -> None:
        timer = self.rnd.choice(timers)
        api.fire_due_timers(as_of=timer.due_at + dt.timedelta(minutes=1))
        self.stats["timer_sweeps"] += 1
        self.after_step(timer.instance_id, f"timer {timer.bpmn_id} fired")

    def after_step(self, instance_id, what) -> None:
        instance = ProcessInstance.objects.get(pk=instance_id)
        if instance.status == "error":
            self.problem(f"{self.key}: the case stopped in error at {instance.error_element} ({instance.error_message}) after {what}")

    def give_up_on(self, row: HumanTask) -> None:
        """After two failures the walker leaves a task alone; a case with nothing else to do is cancelled
        (it would hold on to what it took, such as a household's one open case)."""
        self.failed[row.pk] += 1
        if self.failed[row.pk] < 2:
            return
        self.dead.add(row.pk)
        instance = ProcessInstance.objects.get(pk=row.instance_id)
        alive = HumanTask.objects.filter(instance_id=instance.pk, status="open").exclude(pk__in=self.dead).exists()
        if instance.status == "running" and not alive:
            api.cancel_instance(instance_id=instance.pk, actor=self.admin, reason="walker: no generated data fits here")

    def walk(self) -> None:
        self.start_page()
        for _step in range(MAX_STEPS):
            if self.user_tasks <= set(self.checked):
                return
            running = list(ProcessInstance.objects.filter(pk__in=self.instances, status="running").values_list("pk", flat=True))
            rows = list(HumanTask.objects.filter(instance_id__in=running, status="open").exclude(pk__in=self.dead)
                        .select_related("assignee", "completed_by").order_by("pk"))
            again = [r for r in rows if r.bpmn_id not in self.returned and HumanTask.objects.filter(
                instance_id=r.instance_id, bpmn_id=r.bpmn_id, status="completed").exists()]
            if again:
                self.returned.add(again[0].bpmn_id)
                self.returned_page(again[0])
                continue
            fresh = [r for r in rows if r.bpmn_id not in self.checked]
            began = time.monotonic()
            if fresh:
                row = self.rnd.choice(fresh)
                if not self.task_page(row):
                    self.give_up_on(row)
                self.seconds["pages"] += time.monotonic() - began
                continue
            timers = list(Timer.objects.filter(instance_id__in=running, status="waiting").order_by("pk"))
            roll = self.rnd.random()
            if timers and (not rows or roll < 0.25):
                self.fire_a_timer(timers)
            elif not rows or (roll < 0.3 and len(running) < 3):
                self.start_api()
            else:
                row = self.rnd.choice(rows)
                if not self.complete_api(row):
                    self.give_up_on(row)
            self.seconds["walker"] += time.monotonic() - began


def _drop_refused_choices(ctx, fields, values, refusal: FormInvalid) -> None:
    """When the process refuses a single choice (a village out of the starter's scope, a household
    with an open case), the next attempt chooses among the others."""
    for f in fields:
        if f.key in refusal.field_errors and f.kind in ("select", "radio") and values.get(f.key) is not None:
            remaining = [c for c in ctx.choices.get(f.key, []) if c != values[f.key]]
            if remaining:
                ctx.choices[f.key] = remaining


def _with_rows(ctx, form_el, fields):
    """The context for another rendering of the page (it may show more list rows)."""
    _choices, rows = page_choices(form_el, fields)
    return formgen.Context(now=ctx.now, variables=ctx.variables, choices=dict(ctx.choices), rows=rows, instance_id=ctx.instance_id,
                           task_id=ctx.task_id, actor=ctx.actor)


def _spec_choices(specs) -> dict:
    choices = {}
    for spec in specs:
        if spec.choices:
            choices[spec.key] = [code for code, _label in spec.choices]
        for column in spec.columns:
            if column.choices:
                choices[f"{spec.key}.{column.key}"] = [code for code, _label in column.choices]
    return choices


def _brief(data) -> str:
    text = json.dumps(data, ensure_ascii=False, default=str)
    return text if len(text) < 600 else text[:600] + "…"


def _one_line(error) -> str:
    return str(error).replace("\n", " ") if error is not None else "-"
