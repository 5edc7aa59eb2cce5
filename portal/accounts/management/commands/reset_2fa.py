"""Remove a user's authenticator (TOTP) device and recovery codes, for a lost phone when no other
administrator can do it in the Django admin: the next sign-in asks to set one up again. Recorded
in the audit trail like the admin's reset (by "manage.py")."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from engine import api
from portal.accounts.security import reset_second_factor


class Command(BaseCommand):
    help = "Remove a user's two-step sign-in devices and recovery codes; the next sign-in asks to set one up again."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username}.")
        with transaction.atomic():
            count = reset_second_factor(user)
            api.record_second_factor_reset(actor=None, username=username, devices=count)
        self.stdout.write(f"{username}: {count} device(s) removed.")
