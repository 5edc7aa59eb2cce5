"""An instance's state becomes JSON text, compressed with lz4 where PostgreSQL has it (models.JSONText).

Existing states are converted in place (jsonb printed as text); each is compressed with lz4 the
next time a step rewrites it. A PostgreSQL built without lz4 keeps its default compression."""
from django.db import migrations

import engine.models


def _lz4(apps, schema_editor, method="lz4"):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'", [method])
        row = cursor.fetchone()
        if method == "lz4" and not (row and row[0]):
            return
        table = connection.ops.quote_name(apps.get_model("engine", "ProcessInstance")._meta.db_table)
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN state SET COMPRESSION {method}")


def _default_compression(apps, schema_editor):
    _lz4(apps, schema_editor, method="default")


class Migration(migrations.Migration):

    dependencies = [
        ("engine", "0018_task_returned_mark"),
    ]

    operations = [
        migrations.AlterField(
            model_name="processinstance",
            name="state",
            field=engine.models.JSONText(help_text="SpiffWorkflow state without the spec"),
        ),
        migrations.RunPython(_lz4, _default_compression),
    ]
