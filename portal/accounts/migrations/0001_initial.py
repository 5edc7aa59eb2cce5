from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion


def add_villages(apps, schema_editor):
    Village = apps.get_model("accounts", "Village")
    for position, (code, name) in enumerate(settings.CASEFLOW_VILLAGES.items()):
        Village.objects.get_or_create(code=code, defaults={"name": name, "position": position})


class Migration(migrations.Migration):
    initial = True
    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.CreateModel(
            name="Village",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.SlugField(max_length=64, unique=True, verbose_name="code")),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                ("position", models.PositiveSmallIntegerField(default=0, verbose_name="order")),
            ],
            options={"ordering": ["position", "code"], "verbose_name": "village", "verbose_name_plural": "villages"},
        ),
        migrations.CreateModel(
            name="StaffProfile",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("township_wide", models.BooleanField(default=False, verbose_name="works in every village")),
                ("language", models.CharField(blank=True, choices=settings.LANGUAGES, max_length=10, verbose_name="language")),
                ("user", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name="staff_profile", to=settings.AUTH_USER_MODEL)),
                ("villages", models.ManyToManyField(blank=True, to="accounts.village", verbose_name="villages")),
            ],
            options={"verbose_name": "staff profile"},
        ),
        migrations.RunPython(add_villages, migrations.RunPython.noop),
    ]
