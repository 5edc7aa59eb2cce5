"""Demo roles and users for the embedded default. Passwords are generated once per installation,
kept in var/demo-passwords.txt (not in the repository) and printed, so nobody ships a known one."""
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from engine import registry
from engine.station import StaffProfile, Village

# username, role, display name, villages (None = township-wide); each process app adds its own
# (ProcessApp.demo_users).
STATION_USERS = [
    ("intake", "intake_desk", "接待岗 王芳", ["dongshan", "xishui"]),
    ("worker", "worker", "社工 李明（东山村）", ["dongshan", "zhongxin", "qingshi"]),
    ("worker2", "worker", "社工 赵丽（西水村）", ["xishui", "nanling", "beipo", "hetang"]),
    ("supervisor", "supervisor", "督导 陈刚", None),
    ("admin", "admin", "系统管理员", None),
]


def demo_password(user) -> str:
    """A random 12-character password that passes the password policy (AUTH_PASSWORD_VALIDATORS)."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    while True:
        candidate = secrets.token_urlsafe(9)
        try:
            validate_password(candidate, user)
        except ValidationError:
            continue
        return candidate


def set_villages(user, villages):
    """Where a user works: a list of village codes, or None for the whole township."""
    profile, _ = StaffProfile.objects.get_or_create(user=user)
    profile.township_wide = villages is None
    profile.save()
    profile.villages.set(Village.objects.filter(code__in=villages or []))


class Command(BaseCommand):
    help = "Create the roles (groups) and one demo user per role; print their passwords."

    def handle(self, *args, **options):
        for code in registry.roles():
            Group.objects.get_or_create(name=code)
        demo_users = [*STATION_USERS, *registry.demo_users()]
        path = settings.VAR_DIR / "demo-passwords.txt"
        known = dict(line.split(" ", 1) for line in path.read_text().splitlines() if " " in line) if path.exists() else {}
        User = get_user_model()
        for username, role, display, villages in demo_users:
            user, created = User.objects.get_or_create(username=username, defaults={"first_name": display})
            if created or username not in known:
                known[username] = demo_password(user)
                user.set_password(known[username])
                user.is_staff = role == "admin"
                user.is_superuser = role == "admin"
                user.save()
            user.groups.add(Group.objects.get(name=role))
            set_villages(user, villages)
        path.write_text("".join(f"{u} {p}\n" for u, p in known.items()))
        path.chmod(0o600)
        self.stdout.write("Demo users (username / password / role):")
        for username, role, display, _villages in demo_users:
            self.stdout.write(f"  {username:<11} {known[username]:<14} {role:<14} {display}")
