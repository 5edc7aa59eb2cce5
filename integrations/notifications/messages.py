"""What a message says when it leaves by e-mail or SMS, and whether it is urgent.

Outside channels carry a title, the case's number and a link to the portal — never the case's facts
(a child's situation does not belong in an SMS inbox or a mail server's logs); the reader opens the
case in the portal, where need-to-know applies. Texts are in the station's language."""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

TITLES = {
    "partner.police": gettext_lazy("Child protection: a report for the police"),
    "partner.civil_affairs": gettext_lazy("Child protection: a case escalated to civil affairs"),
    "sla.breach": gettext_lazy("A deadline was missed"),
    "sla.warning": gettext_lazy("A deadline is near"),
    "notify.reminder": gettext_lazy("A reminder about an open task"),
    "report.gap": gettext_lazy("A need no resource can meet"),
    "partner.referral": gettext_lazy("A new referral"),
    "partner.reminder": gettext_lazy("A referral is waiting for your answer"),
}


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    urgent: bool


def is_urgent(channel: str, payload: dict) -> bool:
    """Child-protection messages and missed deadlines are urgent: nothing (quiet hours) may delay them."""
    return (channel in getattr(settings, "CASEFLOW_URGENT_CHANNELS", set())
            or channel.startswith("child_protection")
            or payload.get("process") == "child_protection"
            or bool(payload.get("urgent")))


def instance_of(key: str) -> str:
    """The outbox key begins with the instance id (`<instance>:<origin>:<effect>`)."""
    head = key.split(":", 1)[0]
    return head if head.isdigit() else ""


def render(channel: str, payload: dict, key: str) -> Message:
    with translation.override(settings.LANGUAGE_CODE):
        title = str(TITLES.get(channel, _("A message from Caseflow")))
        case = payload.get("case_no") or payload.get("subject") or ""
        instance = instance_of(key) or str(payload.get("instance") or "")
        lines = [title]
        if case:
            lines.append(_("Case %(case)s") % {"case": case})
        elif instance:
            lines.append(_("Case no. %(id)s") % {"id": instance})
        if payload.get("task"):
            lines.append(_("Task: %(task)s") % {"task": payload["task"]})
        base = getattr(settings, "CASEFLOW_PUBLIC_URL", "").rstrip("/")
        if base and instance:
            lines.append(_("Open it in Caseflow: %(url)s") % {"url": f"{base}/cases/{instance}/"})
        return Message(subject=f"[Caseflow] {title}", text="\n".join(lines), urgent=is_urgent(channel, payload))
