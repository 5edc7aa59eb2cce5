"""Re-encrypt every personal value and uploaded file under the newest key (ADR 0019):
`python manage.py rotate_keys`.

Rotation: put a new key in front of CASEFLOW_ENCRYPTION_KEYS (keep the old ones behind it), restart,
run this command, then remove the old keys and restart again. Rows are rewritten one at a time,
each guarded by the value it read, one table per transaction; the audit and history tables are
locked while theirs runs (their triggers are lifted for it), so run it when the station is quiet."""
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from engine.crypto import EncryptionKeyError, rotate_everything


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column and uploaded file with the newest key of CASEFLOW_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        try:
            result = rotate_everything(connection, default_storage, log=lambda line: self.stdout.write(line) if options["verbosity"] > 1 else None)
        except EncryptionKeyError as exc:
            raise CommandError(str(exc)) from None
        values = sum(v for k, v in result.items() if k != "files")
        self.stdout.write(f"re-encrypted {values} values in {len(result) - ('files' in result)} tables and "
                          f"{result.get('files', 0)} files with the newest key; the older keys may now be removed.")
