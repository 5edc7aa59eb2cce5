"""Submit a page's form the way a browser does: every control the page rendered, with its current
value, plus the button pressed — so a field named like one of the page's own buttons collides here
exactly as it does in Chromium. Values are chosen only among what the page offers (a select's
options, a radio's buttons); asking for anything else fails the test, as it would stump a person."""
from __future__ import annotations

from lxml import html


class NoSuchChoice(AssertionError):
    pass


def page_form(content: bytes | str, css_class: str = "task-form"):
    doc = html.fromstring(content)
    forms = doc.xpath(f'//form[contains(concat(" ", normalize-space(@class), " "), " {css_class} ")]')
    assert forms, f"the page has no form of class {css_class}"
    return forms[0]


def controls(form) -> list[tuple[str, str]]:
    """(name, value) pairs a browser sends for this form before any button (no files)."""
    pairs = []
    for element in form.xpath(".//input|.//select|.//textarea"):
        name = element.get("name")
        if not name or element.get("disabled") is not None:
            continue
        if element.tag == "input":
            kind = (element.get("type") or "text").lower()
            if kind in {"submit", "button", "image", "reset", "file"}:
                continue
            if kind in {"checkbox", "radio"}:
                if element.get("checked") is not None:
                    pairs.append((name, element.get("value", "on")))
                continue
            pairs.append((name, element.get("value", "")))
        elif element.tag == "select":
            chosen = [o.get("value", o.text_content()) for o in element.xpath(".//option") if o.get("selected") is not None]
            options = element.xpath(".//option")
            if not chosen and options and element.get("multiple") is None:
                chosen = [options[0].get("value", options[0].text_content())]
            pairs.extend((name, value) for value in chosen)
        else:
            pairs.append((name, element.text or ""))
    return pairs


def fill(form, values: dict) -> list[tuple[str, str]]:
    """The form's pairs with `values` typed, ticked or chosen in: a list value ticks those boxes."""
    pairs = controls(form)
    for name, value in values.items():
        elements = form.xpath(f'.//*[@name="{name}"][self::input or self::select or self::textarea]')
        if not elements:
            raise NoSuchChoice(f"the page has no control named {name!r}")
        kind = (elements[0].get("type") or "text").lower() if elements[0].tag == "input" else elements[0].tag
        pairs = [(n, v) for n, v in pairs if n != name]
        if kind == "checkbox":
            wanted = value if isinstance(value, (list, tuple, set)) else ([elements[0].get("value", "on")] if value else [])
            offered = {e.get("value", "on") for e in elements}
            if set(map(str, wanted)) - offered:
                raise NoSuchChoice(f"{name}: {sorted(set(map(str, wanted)) - offered)} not among {sorted(offered)}")
            pairs.extend((name, str(v)) for v in wanted)
        elif kind == "radio":
            offered = {e.get("value") for e in elements}
            if str(value) not in offered:
                raise NoSuchChoice(f"{name}: {value!r} not among {sorted(offered)}")
            pairs.append((name, str(value)))
        elif kind == "select":
            offered = {o.get("value", o.text_content()) for o in elements[0].xpath(".//option")}
            if str(value) not in offered:
                raise NoSuchChoice(f"{name}: {value!r} not among {sorted(offered)}")
            pairs.append((name, str(value)))
        else:
            pairs.append((name, "" if value is None else str(value)))
    return pairs


def press(form, pairs, button_text_or_value: str | None = None) -> list[tuple[str, str]]:
    """Add the pressed submit button (the first one, or the one whose value or text matches)."""
    buttons = [b for b in form.xpath(".//button|.//input[@type='submit']") if (b.get("type") or "submit").lower() == "submit"]
    assert buttons, "the form has no submit button"
    button = buttons[0]
    if button_text_or_value is not None:
        button = next(b for b in buttons if b.get("value") == button_text_or_value or b.text_content().strip() == button_text_or_value)
    if button.get("name"):
        pairs = [*pairs, (button.get("name"), button.get("value", ""))]
    return pairs


def encode(pairs) -> dict[str, list[str]]:
    """Pairs as Django's test client takes repeated names."""
    data: dict[str, list[str]] = {}
    for name, value in pairs:
        data.setdefault(name, []).append(value)
    return data


def submit(client, url: str, values: dict, button: str | None = None, files: dict | None = None):
    """GET the page, fill `values` in its form as a person would, press `button`, POST it."""
    page = client.get(url)
    assert page.status_code == 200, f"{url} answered {page.status_code}"
    form = page_form(page.content)
    data = encode(press(form, fill(form, values), button))
    data.update(files or {})
    return client.post(url, data)
