"""Remove a user's authenticator (TOTP) devices, for a lost phone when no other administrator can
do it in the Django admin: the next sign-in asks to set one up again."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Remove a user's two-step sign-in devices; the next sign-in asks to set one up again."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        from django_otp.plugins.otp_totp.models import TOTPDevice

        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username}.")
        count, _ = TOTPDevice.objects.filter(user=user).delete()
        self.stdout.write(f"{username}: {count} device(s) removed.")
