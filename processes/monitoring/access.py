"""Who sees monitored households: staff (worker, supervisor, admin) of the household's village;
anyone else gets a 404, even for a guessed id. A household with a child is a minor's file too: its
history page goes through the engine's need-to-know gate (`api.open_record`), logged."""
from __future__ import annotations

from engine import selectors

STAFF_ROLES = ("worker", "supervisor", "admin")
ADMIN_ROLES = ("admin",)


def may_see(user) -> bool:
    return bool(user is not None and getattr(user, "is_active", False)
                and (user.is_superuser or selectors.roles_of(user) & set(STAFF_ROLES)))


def may_edit_rules(user) -> bool:
    return bool(user is not None and getattr(user, "is_active", False) and (user.is_superuser or selectors.roles_of(user) & set(ADMIN_ROLES)))
