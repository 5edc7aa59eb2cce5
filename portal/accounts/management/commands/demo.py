"""The embedded demo in one command: roles and demo users, the bundled diagrams deployed, and each
process's demo cases (its `demo_<key>` command). Safe to run again: every part adds only what is
missing."""
from django.core.management import call_command
from django.core.management.base import BaseCommand

from engine import registry


class Command(BaseCommand):
    help = "Create demo users, deploy the bundled processes and add each process's demo cases."

    def handle(self, *args, **options):
        call_command("seed_demo", stdout=self.stdout)
        call_command("caseflow", "deploy-bundled", "--user", "admin", stdout=self.stdout)
        for command in registry.demo_commands():
            call_command(command, stdout=self.stdout)
