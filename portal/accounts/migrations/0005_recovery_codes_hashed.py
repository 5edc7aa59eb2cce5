"""Recovery codes kept so far in clear are replaced by their keyed hash (portal.accounts.security.stored_code)."""
from django.db import migrations


def hash_codes(apps, schema_editor):
    from portal.accounts.security import stored_code

    StaticToken = apps.get_model("otp_static", "StaticToken")
    for token in StaticToken.objects.all().iterator():
        # A stored hash is 16 hex digits; a code in clear (django-otp's random_token) is base32 letters and digits.
        if len(token.token) == 16 and all(ch in "0123456789abcdef" for ch in token.token):
            continue
        token.token = stored_code(token.token)
        token.save(update_fields=["token"])


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0004_station_models"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(hash_codes, migrations.RunPython.noop)]
