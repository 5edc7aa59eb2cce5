from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from engine import api


class Command(BaseCommand):
    help = "One planned home visit (only when none exists)."

    def handle(self, *args, **options):
        if api.instances_exist("home_visits"):
            return
        visitor = get_user_model().objects.get(username="visitor1")
        api.start_instance(process_key="home_visits", data={"village": "dongshan"}, actor=visitor)
        self.stdout.write("Demo home visits: 1 planned visit.")
