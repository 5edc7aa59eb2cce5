"""Sessions signed in by Django's ModelBackend now name portal.accounts.backends.StaffBackend, which
replaced it among the sign-in backends: Django signs out a session whose backend is no longer listed,
and someone half-way through a form would lose it on sending."""
from django.db import migrations

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
STAFF_BACKEND = "portal.accounts.backends.StaffBackend"


def rename_backend(old: str, new: str):
    def rename(apps, schema_editor):
        from django.contrib.sessions.backends.db import SessionStore
        from django.utils import timezone

        Session = apps.get_model("sessions", "Session")
        store = SessionStore()
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
            data = store.decode(session.session_data)  # {} for data signed with another key: left as it is
            if data.get("_auth_user_backend") == old:
                data["_auth_user_backend"] = new
                session.session_data = store.encode(data)
                session.save(update_fields=["session_data"])
    return rename


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0005_recovery_codes_hashed"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(rename_backend(MODEL_BACKEND, STAFF_BACKEND), rename_backend(STAFF_BACKEND, MODEL_BACKEND))]
