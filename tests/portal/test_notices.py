"""A process's notice to one person (StepContext.notify) leads only to a page of this site: a link
that leaves it, or that a browser would read as another host, is dropped and the notice falls back
to its case."""
import pytest

from engine import registry
from portal.notifications.services import _link


def notice(link, kind="notice"):
    return registry.EngineEvent(kind=kind, instance_id=1, process_key="p", village="", task_id=None, bpmn_id="",
                                actor_name="system", data={"to": "worker", "task": "x", "link": link})


@pytest.mark.parametrize("link, kept", [
    ("/children/7/", "/children/7/"),
    ("https://example.com/", ""), ("//example.com/children/7/", ""), ("/\\example.com/", ""), ("javascript:alert(1)", ""),
    ("children/7/", ""), ("/" + "x" * 200, ""), (None, ""),
])
def test_a_notice_leads_only_to_a_page_of_this_site(link, kept):
    assert _link(notice(link)) == kept


def test_only_a_process_notice_carries_a_link():
    assert _link(notice("/children/7/", kind="task_ready")) == ""
