"""Steps the browser tests share: find a task in the inbox, open it, submit its form, choose from a list by
what the person reads, and look at a page the way a Chinese-reading user does."""
from __future__ import annotations

import re
import warnings

from django.contrib.auth import get_user_model

# The page's own controls are named with a leading underscore (no form field key can have one).
COMPLETE = "form.task-form button[name=_action][value=complete]"
DRAFT = "form.task-form button[name=_action][value=draft]"
TASK_URL = re.compile(r"/tasks/\d+/$")


def task_row(page, tab: str, name: str):
    """The inbox row of the task called `name` in a tab (mine / group / overdue / done), exactly one of it."""
    page.goto(f"/?tab={tab}")
    row = page.locator("li.task").filter(has=page.locator("span.task-name").get_by_text(name, exact=True))
    assert row.count() == 1, (tab, name, page.locator("main").inner_text())
    return row


def open_task(page, tab: str, name: str, claim: bool = False):
    """Open a task from the inbox: its link, or (claim=True) its claim button, which leads to the task page.
    Returns the task form."""
    row = task_row(page, tab, name)
    with page.expect_navigation():
        (row.locator("form button") if claim else row.locator("a.task-main")).click()
    return on_task(page, name)


def on_task(page, name: str):
    """The page in view is the task page of `name`, with its form; returns the form."""
    assert TASK_URL.search(page.url), (page.url, page.locator("main").inner_text())
    assert name in page.locator("h1").inner_text(), page.locator("main").inner_text()
    form = page.locator("form.task-form")
    assert form.count() == 1, page.locator("main").inner_text()
    return form


def inbox_tab(page) -> str:
    """The tab the inbox opened on (its label), after going to the inbox without naming a tab."""
    page.goto("/")
    return page.locator('nav.tabs a[aria-current="page"]').inner_text().strip()


def submit(page, selector: str = COMPLETE):
    """Submit the form in view; the step must be accepted (a success message, no field marked)."""
    with page.expect_navigation() as navigation:
        page.click(selector)
    main = page.locator("main").inner_text()
    assert navigation.value.status == 200, main
    assert page.locator(".field.has-error").count() == 0, main
    assert page.locator(".msg.success").count() == 1, main
    return navigation.value


def case_url_of(page) -> str:
    """The case page the task page in view links to."""
    url = page.locator('.task-head a[href^="/cases/"]').get_attribute("href")
    assert re.fullmatch(r"/cases/\d+/", url or ""), url
    return url


def choose(select, text: str) -> str:
    """Pick the option of a <select> whose visible text contains `text` (as a person picks a name from a
    list), exactly one of them; returns the option's label."""
    options = select.locator("option").all()
    matching = [o for o in options if text in o.inner_text()]
    assert len(matching) == 1, (text, [o.inner_text() for o in options])
    select.select_option(value=matching[0].get_attribute("value"))
    return matching[0].inner_text().strip()


def option_labels(select) -> list[str]:
    return [o.inner_text().strip() for o in select.locator("option").all()]


def name_people(names: dict[str, str]) -> None:
    """Give test users the display names people know them by (as seed_demo does), so a page that shows a
    username where a name belongs can be told apart from one that shows the name."""
    users = get_user_model().objects
    for username, display in names.items():
        users.filter(username=username).update(first_name=display)


# -- reading a page as its user does --------------------------------------------------------------

# Latin text a Chinese page may carry: case and household numbers, payment references, phone numbers,
# and the version of a process.
ALLOWED_LATIN = [
    r"CP-\d{4}-\d{5,}", r"MF-\d{4}-\d{5,}", r"HH-[A-Z]{2}-\d{3}(-\d+)?", r"ZF-\d{4}-\d{3}", r"JJ-\d{4}-\d{4}-\d{2}",
    r"(?<![A-Za-z0-9_])v\d+(?![A-Za-z0-9_])", r"XLSX",  # a version (v2), not the "v0" inside an id such as Flow_0pnv0ti
    r"chinese-calendar",  # the administrators' banner names the package to update for a year it does not know yet
]


def process_keys() -> str:
    """A pattern for the bundled processes' keys, which the studio's pages show beside their names."""
    from engine import registry

    return r"\b(?:%s)\b" % "|".join(map(re.escape, sorted(registry.packages())))


def foreign_words(text: str, allowed: list[str] = ()) -> list[str]:
    """Latin words (English, codes, usernames, None) left in a Chinese page's text, less what may be there."""
    for pattern in [*ALLOWED_LATIN, *allowed]:
        text = re.sub(pattern, " ", text)
    return sorted(set(re.findall(r"[A-Za-z][A-Za-z0-9_.\-]*", text)))


class UsabilityNote(UserWarning):
    pass


class Findings:
    """What a user would stumble over, collected while a test walks on (the walk keeps going so every page
    is seen); the test fails at the end with all of them."""

    def __init__(self):
        self.items: list[str] = []

    def add(self, where: str, problem: str) -> None:
        if f"{where}: {problem}" not in self.items:
            self.items.append(f"{where}: {problem}")

    @staticmethod
    def note(where: str, problem: str) -> None:
        """A judgment call rather than a fault: shown in pytest's warnings summary, the test goes on."""
        warnings.warn(UsabilityNote(f"{where}: {problem}"), stacklevel=2)

    def read_page(self, page, who: str, allowed: list[str] = ()) -> None:
        """The page's own text (main and the signed-in name) must be Chinese: no English words, no codes,
        no usernames where names belong, no "None"."""
        where = f"{who} {page.viewport_size['width']}px {page.url.split('://', 1)[-1].partition('/')[2] or ''}"
        text = page.locator("main").inner_text() + "\n" + page.locator("header .who").inner_text()
        diagram = page.locator("#diagram").inner_text() if page.locator("#diagram").count() else ""
        words = foreign_words(text.replace(diagram, " ") if diagram else text, list(allowed))
        if words:
            self.add(where, f"not Chinese: {', '.join(words)}")
        words = foreign_words(diagram, list(allowed))
        if words:
            self.add(where, f"the diagram's labels are not Chinese: {', '.join(words)}")
        for select in page.locator("main select").all():
            labels = " ".join(option_labels(select))
            words = foreign_words(labels, list(allowed))
            if words:
                self.add(where, f"options of <select name={select.get_attribute('name')}> not Chinese: {', '.join(words)}")

    def fits_phone(self, page, who: str) -> None:
        """On a 360-px phone nothing scrolls sideways and what can be tapped is big enough."""
        where = f"{who} {page.viewport_size['width']}px {page.url.split('://', 1)[-1].partition('/')[2] or ''}"
        wide = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if wide > 1:
            self.add(where, f"the page scrolls sideways by {wide}px")
        # Controls folded away in a <details> count too: a person opens it to use them.
        small = page.evaluate("""() => {
            const closed = [...document.querySelectorAll('main details:not([open])')];
            closed.forEach(d => d.open = true);
            const found = [...document.querySelectorAll(
                    'main button, main select, main input:not([type=hidden]), main textarea, main summary, main a')]
                .filter(e => e.checkVisibility())
                .filter(e => !(e.matches('a') && e.closest('p, dd, li.task, .timeline, .task-meta')))  // links within text
                .map(e => [e, (e.matches('input[type=checkbox], input[type=radio]') ? (e.closest('label') || e) : e)
                               .getBoundingClientRect()])
                .filter(([e, r]) => r.height < 24)
                .map(([e, r]) => `${e.tagName.toLowerCase()}${e.name ? '[name=' + e.name + ']' : ''} ${Math.round(r.width)}x${Math.round(r.height)}`);
            closed.forEach(d => d.open = false);
            return found;
        }""")
        if small:
            self.add(where, f"tap targets under 24px high: {', '.join(small[:8])}{' …' if len(small) > 8 else ''}")
        cut = page.evaluate("""() => [...document.querySelectorAll('main select, main input:not([type=hidden]), main textarea')]
            .filter(e => e.checkVisibility())
            .filter(e => {const r = e.getBoundingClientRect(); return r.right > window.innerWidth + 1 || r.left < -1;})
            .map(e => e.name)""")
        if cut:
            self.add(where, f"controls outside the screen: {', '.join(cut[:8])}")

    def check(self, page, who: str, allowed: list[str] = ()) -> None:
        if page.locator("#diagram").count():  # its labels are part of what the page says
            page.wait_for_selector("#diagram[data-ready]", state="attached")
        self.read_page(page, who, allowed)
        if page.viewport_size["width"] <= 400:
            self.fits_phone(page, who)

    def assert_none(self):
        assert not self.items, "What a user of these pages would stumble over:\n" + "\n".join(self.items)


def wait_until(page, expression: str, timeout_ms: int = 10_000) -> None:
    """page.wait_for_function without its in-page eval, which the portal's Content-Security-Policy
    (script-src 'self', no 'unsafe-eval') refuses: evaluate the expression from outside until it holds."""
    import time

    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_ms} ms: {expression}")
        page.wait_for_timeout(50)


def give_reason(page, purpose: str, reason: str) -> None:
    """On the access page of a minor's file (ADR 0020): choose the purpose by what the person reads, say
    why, and send the form (a holder goes on to the case; anyone else's request goes to a supervisor)."""
    assert "/access/" in page.url, (page.url, page.locator("main").inner_text())
    form = page.locator("form[data-need]")
    choose(form.locator("select[name=purpose]"), purpose)
    form.locator("textarea[name=reason]").fill(reason)
    with page.expect_navigation():
        form.locator("button.primary").click()
