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
        self._targets()

    def _targets(self) -> None:
        """The work plan's targets for this year, where none are set: what the dashboard measures against."""
        from engine import clock
        from portal.dashboard.models import YearTarget

        year = clock.today().year
        if YearTarget.objects.filter(year=year).exists():
            return
        plan = {"micro_fund.committed": 150000, "activities.awareness_sessions": 12, "activities.trainings": 6,
                "activities.training_people": 120, "activities.after_school_points": 7,
                "elderly_care.screened": 100, "elderly_care.visits_done": 100}
        known = {f.code for f in registry.figures()}
        YearTarget.objects.bulk_create([YearTarget(year=year, figure=code, target=value) for code, value in plan.items() if code in known])
        self.stdout.write(f"Demo targets for {year}: {len(plan)} figures of the work plan.")
