"""Demo roles and users for the embedded default. Passwords are generated once per installation,
kept in var/demo-passwords.txt (not in the repository) and printed, so nobody ships a known one."""
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

DEMO_USERS = [
    ("intake", "intake_desk", "接待岗 王芳"),
    ("worker", "worker", "社工 李明（东山村）"),
    ("worker2", "worker", "社工 赵丽（西水村）"),
    ("supervisor", "supervisor", "督导 陈刚"),
    ("civil", "civil_affairs", "民政办 刘洋"),
    ("admin", "admin", "系统管理员"),
]


class Command(BaseCommand):
    help = "Create the roles (groups) and one demo user per role; print their passwords."

    def handle(self, *args, **options):
        for code in settings.CASEFLOW_ROLES:
            Group.objects.get_or_create(name=code)
        path = settings.VAR_DIR / "demo-passwords.txt"
        known = dict(line.split(" ", 1) for line in path.read_text().splitlines() if " " in line) if path.exists() else {}
        User = get_user_model()
        for username, role, display in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username, defaults={"first_name": display})
            if created or username not in known:
                known[username] = secrets.token_urlsafe(9)
                user.set_password(known[username])
                user.is_staff = role == "admin"
                user.is_superuser = role == "admin"
                user.save()
            user.groups.add(Group.objects.get(name=role))
        path.write_text("".join(f"{u} {p}\n" for u, p in known.items()))
        path.chmod(0o600)
        self.stdout.write("Demo users (username / password / role):")
        for username, role, display in DEMO_USERS:
            self.stdout.write(f"  {username:<11} {known[username]:<14} {role:<14} {display}")
