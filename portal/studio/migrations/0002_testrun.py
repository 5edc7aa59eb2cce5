import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("studio", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="TestRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("draft_revision", models.PositiveIntegerField(help_text="the draft's revision the run started from")),
                ("bpmn_xml", models.TextField()),
                ("forms", models.JSONField(blank=True, default=dict)),
                ("state", models.JSONField(blank=True, default=dict, help_text="engine.api's SandboxState.stored")),
                ("started_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("draft", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="test_runs", to="studio.draft")),
                ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL)),
            ],
            options={"verbose_name": "test run", "verbose_name_plural": "test runs"},
        ),
        migrations.AddConstraint(
            model_name="testrun",
            constraint=models.UniqueConstraint(fields=("draft", "user"), name="studio_testrun_one_per_admin_and_draft"),
        ),
    ]
