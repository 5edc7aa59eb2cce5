"""Attachment files stored before encryption at rest (ADR 0019) are encrypted in place with the
configured key; files already encrypted are left as they are. Not reversible: a decrypted copy
is what a download serves."""
from django.core.files.storage import default_storage
from django.db import migrations


def encrypt_files(apps, schema_editor):
    rotate = getattr(default_storage, "rotate", None)
    if rotate is None:  # a deployment that replaced the default storage
        return
    from engine.crypto import is_token

    Attachment = apps.get_model("cases", "Attachment")
    for name in Attachment.objects.values_list("file", flat=True).iterator():
        if not name:
            continue
        try:
            with open(default_storage.path(name), "rb") as raw:
                head = raw.read(6)
        except FileNotFoundError:
            continue
        if not is_token(head):
            rotate(name)  # encrypts a file in clear


class Migration(migrations.Migration):
    dependencies = [("cases", "0003_station_models")]
    operations = [migrations.RunPython(encrypt_files, migrations.RunPython.noop)]
