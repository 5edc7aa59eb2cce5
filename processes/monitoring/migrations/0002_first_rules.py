"""Version 1 of the warning rules, so a new station starts with the work plan's criteria;
administrators change them by saving a new version."""
from django.db import migrations

from processes.monitoring.rules import DEFAULT_RULES


def first_version(apps, schema_editor):
    RuleSet = apps.get_model("monitoring", "RuleSet")
    if not RuleSet.objects.exists():
        RuleSet.objects.create(version=1, rules=DEFAULT_RULES, note="初始版本（工作方案）")


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]
    operations = [migrations.RunPython(first_version, migrations.RunPython.noop)]
