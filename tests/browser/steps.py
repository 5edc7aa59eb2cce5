"""Steps the browser tests share: find a task in the inbox, submit a task form."""


def task_row(page, tab: str, name: str):
    """The inbox row of the task called `name` in a tab (mine / group), exactly one of it."""
    page.goto(f"/?tab={tab}")
    row = page.locator("li.task").filter(has=page.locator("span.task-name").get_by_text(name, exact=True))
    assert row.count() == 1, (tab, name, page.locator("main").inner_text())
    return row


def submit(page, selector: str = "form.task-form button[name=action][value=complete]"):
    """Submit the form in view; the step must be accepted (a success message, no field marked)."""
    with page.expect_navigation() as navigation:
        page.click(selector)
    main = page.locator("main").inner_text()
    assert navigation.value.status == 200, main
    assert page.locator(".field.has-error").count() == 0, main
    assert page.locator(".msg.success").count() == 1, main
    return navigation.value
