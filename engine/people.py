"""How people and roles are named to a viewer: display names for staff, roles for outsiders, and
groups that are not roles by the organisation's or provider's own name."""
from __future__ import annotations

from django.utils.translation import gettext as _

from engine import registry
from engine.permissions import user_groups


def display_name(user) -> str:
    """How people are named on pages: their full name (or first name) as the admin entered it."""
    if user is None:
        return ""
    return (user.get_full_name() or user.first_name or user.get_username()).strip()


def staff_roles() -> set[str]:
    return set(registry.roles()) - registry.involvement_only_roles()


def sees_people(viewer) -> bool:
    """Whether the viewer may see who the station's staff are (names in timelines and holders).
    Applicant organisations, reviewers and partner offices see a role instead: an applicant never
    learns which reviewer scored them."""
    if viewer is None:
        return True
    return bool(user_groups(viewer) & staff_roles())


def group_label(group: str) -> str:
    """A role or group as people name it: 社工, or the organisation's own name — never a code."""
    roles = registry.roles()
    if group in roles:
        return str(roles[group])
    return registry.group_label(group) or group


def role_label(group: str) -> str:
    """The role an outsider is shown instead of a person's name."""
    return str(registry.roles().get(group, "")) or registry.group_label(group) or _("Applicant organisation")
