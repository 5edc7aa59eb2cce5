from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Visit",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("instance_id", models.BigIntegerField(unique=True)),
                ("kind", models.CharField(max_length=20)),
                ("minutes", models.PositiveIntegerField()),
            ],
        ),
    ]
