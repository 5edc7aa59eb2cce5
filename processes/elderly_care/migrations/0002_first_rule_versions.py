"""Version 1 of the tier rules and the flag thresholds, so a new station starts with the work plan's
criteria; administrators change them by saving a new version."""
from django.db import migrations

from processes.elderly_care.rules import DEFAULT_FLAG_RULES, DEFAULT_TIER_RULES


def first_versions(apps, schema_editor):
    RuleSet = apps.get_model("elderly_care", "RuleSet")
    for kind, rules in (("tiers", DEFAULT_TIER_RULES), ("flags", DEFAULT_FLAG_RULES)):
        if not RuleSet.objects.filter(kind=kind).exists():
            RuleSet.objects.create(kind=kind, version=1, rules=rules, note="初始版本（工作方案）")


class Migration(migrations.Migration):
    dependencies = [("elderly_care", "0001_initial")]
    operations = [migrations.RunPython(first_versions, migrations.RunPython.noop)]
