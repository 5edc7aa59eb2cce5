"""Pictures attached to task forms before they were drawn again on upload keep what the phone put in
them: EXIF with the GPS position of the house the photo was taken in. Each is drawn again as a new
upload is (engine/photos.py: pixels only, upright, at most 2048 px) and stored under the same name,
encrypted like every file. A file that cannot be read as a picture, or is missing, is left as it is.
Not reversible: the metadata is gone."""
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import migrations

PICTURES = ("image/jpeg", "image/png", "image/webp")


def redraw_pictures(apps, schema_editor):
    from engine.photos import PhotoRefused, redraw

    Attachment = apps.get_model("cases", "Attachment")
    for attachment in Attachment.objects.filter(content_type__in=PICTURES).only("pk", "file", "original_name").iterator():
        name = attachment.file.name
        if not name or not default_storage.exists(name):
            continue
        with default_storage.open(name, "rb") as stored:
            data = stored.read()
        try:
            picture = redraw(attachment.original_name, data)
        except PhotoRefused:
            continue
        default_storage.delete(name)
        kept = default_storage.save(name, ContentFile(picture.data))
        Attachment.objects.filter(pk=attachment.pk).update(file=kept, size=len(picture.data), content_type=picture.content_type)


class Migration(migrations.Migration):
    dependencies = [("cases", "0004_encrypt_attachment_files")]
    operations = [migrations.RunPython(redraw_pictures, migrations.RunPython.noop)]
