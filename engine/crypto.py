"""Encryption at rest of personal data (ADR 0019): model fields whose column holds a Fernet token
instead of the value, and a file storage whose files hold a Fernet token instead of the content.

Keys come from `settings.CASEFLOW_ENCRYPTION_KEYS` (the environment's comma-separated
`CASEFLOW_ENCRYPTION_KEYS`, newest first; the embedded default keeps one generated key in
`var/encryption.key`). The newest key encrypts; every key decrypts, so a new key can be put in
front, `manage.py rotate_keys` re-encrypts every row and file with it, and then the old key is
removed. A value no key opens raises `EncryptionKeyError` naming the column: never a silent
fallback to the stored text.

Only personal values are encrypted. What lists, sweeps and reports filter, sort or join on (ids,
status, kinds, dates, villages, process keys) stays in clear; an encrypted column answers only
`isnull` (a Fernet token is random: equal values do not give equal tokens)."""
from __future__ import annotations

import json
import os
import time
from decimal import Decimal
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

TOKEN_PREFIX = "gAAAAA"  # every Fernet token: version byte 0x80 and a timestamp's leading zeros
_TOKEN_PREFIX_BYTES = TOKEN_PREFIX.encode()
KEY_FILE_NAME = "encryption.key"


class EncryptionKeyError(ImproperlyConfigured):
    """No configured key opens a stored value (a wrong key, a missing key, or a value that was never
    encrypted). The message names what could not be read and what to check."""


# -- keys ----------------------------------------------------------------------------------------

def parse_keys(text: str) -> list[str]:
    """Keys from the environment's comma-separated list (or a key file's lines), newest first;
    each checked now, so a typo stops the start rather than the first read."""
    keys = [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"CASEFLOW_ENCRYPTION_KEYS: key {index + 1} is not a Fernet key (32 url-safe base64-encoded bytes; "
                "make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            ) from None
    return keys


def key_file_keys(var_dir: Path) -> list[str]:
    """The embedded default's keys: `var/encryption.key`, created with one new key (mode 0600) on
    first run. Two processes starting at once agree: the file is created exclusively and the
    loser waits for the winner's key."""
    path = Path(var_dir) / KEY_FILE_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _attempt in range(50):
            text = path.read_text()
            if text.strip():
                return parse_keys(text)
            time.sleep(0.1)
        raise ImproperlyConfigured(f"{path} is empty: put a Fernet key in it or set CASEFLOW_ENCRYPTION_KEYS.")
    with os.fdopen(fd, "w") as out:
        out.write(Fernet.generate_key().decode() + "\n")
    return parse_keys(path.read_text())


_FERNET: dict[tuple, MultiFernet] = {}


def fernet() -> MultiFernet:
    """The MultiFernet of the configured keys (newest first), built once per key list."""
    from django.conf import settings

    keys = tuple(getattr(settings, "CASEFLOW_ENCRYPTION_KEYS", None) or ())
    cached = _FERNET.get(keys)
    if cached is None:
        if not keys:
            raise EncryptionKeyError("No encryption key: set CASEFLOW_ENCRYPTION_KEYS.")
        cached = _FERNET.setdefault(keys, MultiFernet([Fernet(k) for k in keys]))
    return cached


# -- values --------------------------------------------------------------------------------------

def encrypt_bytes(data: bytes) -> bytes:
    return fernet().encrypt(data)


def decrypt_bytes(token: bytes, *, what: str = "a value") -> bytes:
    try:
        return fernet().decrypt(token)
    except (InvalidToken, TypeError, ValueError):
        if not bytes(token[:6]) == _TOKEN_PREFIX_BYTES:
            raise EncryptionKeyError(f"{what} is not encrypted (stored in clear): run the migrations "
                                     "(manage.py migrate) that encrypt existing data.") from None
        raise EncryptionKeyError(f"Cannot decrypt {what}: no key in CASEFLOW_ENCRYPTION_KEYS opens it "
                                 "(a wrong key, or the key it was written with was removed before rotate_keys ran).") from None


def encrypt_text(text: str) -> str:
    return fernet().encrypt(text.encode()).decode("ascii")


def decrypt_text(token: str, *, what: str = "a value") -> str:
    return decrypt_bytes(token.encode("ascii", "replace"), what=what).decode()


def is_token(value) -> bool:
    if isinstance(value, bytes):
        return value[:6] == _TOKEN_PREFIX_BYTES
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def rotate_token(token: str) -> str:
    """The same value under the newest key (MultiFernet.rotate); unchanged plaintext is refused."""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise EncryptionKeyError("Cannot rotate a stored value: no key in CASEFLOW_ENCRYPTION_KEYS opens it.") from None


# -- fields --------------------------------------------------------------------------------------

class _NoLookups:
    """An encrypted column can only be asked whether it is empty."""

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        raise TypeError(f"{type(self).__name__} {self.name!r} is encrypted: it cannot be filtered with '{lookup_name}'.")

    def get_transform(self, lookup_name):
        raise TypeError(f"{type(self).__name__} {self.name!r} is encrypted: it cannot be filtered with '{lookup_name}'.")

    def get_internal_type(self):
        return "TextField"

    def _what(self) -> str:
        model = getattr(self, "model", None)
        return f"{model._meta.db_table}.{self.column}" if model is not None else self.name


class EncryptedJSONField(_NoLookups, models.JSONField):
    """A JSON value stored as a Fernet token of its JSON text (a text column). A value already
    encoded by the caller (`engine.compiled.Encoded`) is encrypted as it is, not encoded again."""

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        from engine.compiled import Encoded

        text = str(value) if isinstance(value, Encoded) else json.dumps(
            value, cls=self.encoder or DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
        return encrypt_text(text)

    def get_db_prep_save(self, value, connection):
        if hasattr(value, "as_sql"):
            return value
        return self.get_db_prep_value(value, connection)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return json.loads(decrypt_text(value, what=self._what()), cls=self.decoder)

    def select_format(self, compiler, sql, params):
        return sql, params  # a text column: no JSON-to-text cast on PostgreSQL


class EncryptedTextField(_NoLookups, models.TextField):
    """Text stored as a Fernet token."""

    def get_db_prep_value(self, value, connection, prepared=False):
        value = self.get_prep_value(value)
        return None if value is None else encrypt_text(str(value))

    def from_db_value(self, value, expression, connection):
        return None if value is None else decrypt_text(value, what=self._what())


class EncryptedCharField(_NoLookups, models.CharField):
    """A short text (a name) stored as a Fernet token: `max_length` limits the value, not the
    column (a text column, the token being about four times longer)."""

    def get_db_prep_value(self, value, connection, prepared=False):
        value = self.get_prep_value(value)
        return None if value is None else encrypt_text(str(value))

    def from_db_value(self, value, expression, connection):
        return None if value is None else decrypt_text(value, what=self._what())


class EncryptedDecimalField(_NoLookups, models.DecimalField):
    """A Decimal (a household's income) stored as a Fernet token of its text."""

    def get_db_prep_value(self, value, connection, prepared=False):
        value = self.get_prep_value(value)
        return None if value is None else encrypt_text(str(value))

    def get_db_prep_save(self, value, connection):
        return self.get_db_prep_value(value, connection)

    def from_db_value(self, value, expression, connection):
        return None if value is None else Decimal(decrypt_text(value, what=self._what()))


class EncryptedIntegerField(_NoLookups, models.IntegerField):
    """A whole number (a household member's age) stored as a Fernet token of its text. Comparisons
    happen in Python after reading (the matching rules), never in SQL."""

    @property
    def validators(self):
        # IntegerField adds the column type's range, which a text column has not; limits are given explicitly.
        return [*self.default_validators, *self._validators]

    def get_db_prep_value(self, value, connection, prepared=False):
        value = self.get_prep_value(value)
        return None if value is None else encrypt_text(str(int(value)))

    def get_db_prep_save(self, value, connection):
        return self.get_db_prep_value(value, connection)

    def from_db_value(self, value, expression, connection):
        return None if value is None else int(decrypt_text(value, what=self._what()))


class EncryptedBooleanField(_NoLookups, models.BooleanField):
    """A yes/no that is itself sensitive (a disability certificate, a chronic illness) stored as a
    Fernet token of "1" or "0": equal values give different tokens, so the column tells nothing."""

    def get_db_prep_value(self, value, connection, prepared=False):
        value = self.get_prep_value(value)
        return None if value is None else encrypt_text("1" if value else "0")

    def get_db_prep_save(self, value, connection):
        return self.get_db_prep_value(value, connection)

    def from_db_value(self, value, expression, connection):
        return None if value is None else decrypt_text(value, what=self._what()) == "1"


ENCRYPTED_FIELD_TYPES = (EncryptedJSONField, EncryptedTextField, EncryptedCharField, EncryptedDecimalField,
                         EncryptedIntegerField, EncryptedBooleanField)


def encrypted_fields(model) -> list:
    return [f for f in model._meta.concrete_fields if isinstance(f, ENCRYPTED_FIELD_TYPES)]


# -- files ---------------------------------------------------------------------------------------

class EncryptedFileSystemStorage(FileSystemStorage):
    """Uploaded files on disk as Fernet tokens of their content; opened, they read as the content.
    Files are small (10 MB at most, settings.MAX_UPLOAD_BYTES) and read whole."""

    def _save(self, name, content):
        content.seek(0) if hasattr(content, "seek") else None
        return super()._save(name, ContentFile(encrypt_bytes(content.read())))

    def _open(self, name, mode="rb"):
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("Encrypted files are written only through save().")
        with super()._open(name, "rb") as raw:
            data = raw.read()
        plain = decrypt_bytes(data, what=f"the file {name}")
        return ContentFile(plain if "b" in mode else plain.decode(), name=name)

    def rotate(self, name) -> bool:
        """Re-encrypt one file under the newest key, replacing it atomically; False if missing."""
        path = Path(self.path(name))
        if not path.exists():
            return False
        data = path.read_bytes()
        try:
            new = fernet().rotate(data)
        except InvalidToken:
            if is_token(data):
                raise EncryptionKeyError(f"Cannot rotate the file {name}: no key in CASEFLOW_ENCRYPTION_KEYS opens it.") from None
            new = encrypt_bytes(data)  # a file stored before encryption
        tmp = path.with_name(path.name + ".rotating")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(new)
        os.replace(tmp, path)
        return True


# -- rows in bulk: the migrations that encrypt existing data, and rotate_keys ----------------------

def transform_columns(connection, table: str, columns: list[str], transform, *, pk: str = "id", batch: int = 500) -> int:
    """Run `transform(stored_text) -> new_text or None (unchanged)` over every non-null value of
    the columns, a batch of rows at a time, with plain SQL (no model code: the append-only audit
    model refuses updates, and a migration's historical model has no custom fields). Returns the
    number of values changed."""
    quote = connection.ops.quote_name
    changed, last = 0, None
    cols = ", ".join(quote(c) for c in columns)
    with connection.cursor() as cursor:
        while True:
            where = "" if last is None else f" WHERE {quote(pk)} > %s"
            cursor.execute(f"SELECT {quote(pk)}, {cols} FROM {quote(table)}{where} ORDER BY {quote(pk)} LIMIT {batch}",
                           [] if last is None else [last])
            rows = cursor.fetchall()
            if not rows:
                return changed
            last = rows[-1][0]
            for row in rows:
                sets, params, guards, olds = [], [], [], []
                for column, value in zip(columns, row[1:]):
                    if value is None:
                        continue
                    new = transform(value if isinstance(value, str) else str(value))
                    if new is not None:
                        sets.append(f"{quote(column)} = %s")
                        params.append(new)
                        guards.append(f" AND {quote(column)} = %s")
                        olds.append(value)
                if sets:
                    # Guarded by the values read: a row a step rewrote meanwhile (with the newest key) is left as it is.
                    cursor.execute(f"UPDATE {quote(table)} SET {', '.join(sets)} WHERE {quote(pk)} = %s{''.join(guards)}",
                                   params + [row[0]] + olds)
                    changed += len(sets) if cursor.rowcount else 0


def encrypt_if_clear(text: str) -> str | None:
    return None if is_token(text) else encrypt_text(text)


def decrypt_if_token(text: str) -> str | None:
    return decrypt_text(text, what="a stored value") if is_token(text) else None


def rotate_or_encrypt(text: str) -> str | None:
    """rotate_keys: the value under the newest key (a value still in clear is encrypted)."""
    return rotate_token(text) if is_token(text) else encrypt_text(text)


def rotate_everything(connection, storage=None, *, log=lambda line: None) -> dict:
    """Re-encrypt every encrypted column of every installed model, and every file of the storage,
    under the newest key, one table per transaction (the audit and history tables with their
    triggers lifted for it: engine.append_only). Returns {table or "files": values changed}."""
    from django.apps import apps
    from django.db import transaction

    from engine import append_only

    result = {}
    for model in apps.get_models():
        fields = encrypted_fields(model)
        if not fields or model._meta.proxy:
            continue
        table = model._meta.db_table
        with transaction.atomic(using=connection.alias), append_only.suspended(connection, table):
            # (the audit tables refuse UPDATE, and history triggers would record a re-encryption as a change)
            result[table] = transform_columns(connection, table, [f.column for f in fields], rotate_or_encrypt, pk=model._meta.pk.column)
        log(f"{table}: {result[table]} values re-encrypted")
    if storage is not None and isinstance(storage, EncryptedFileSystemStorage):
        count = 0
        root = Path(storage.location)
        for path in sorted(root.rglob("*")) if root.exists() else ():
            if path.is_file() and not path.name.endswith(".rotating"):
                count += storage.rotate(str(path.relative_to(root)))
        result["files"] = count
        log(f"files: {count} re-encrypted")
    return result


def as_boolean_text(text: str) -> str:
    """A boolean column turned to text reads 'true'/'false' (PostgreSQL) or '1'/'0' (SQLite); an
    EncryptedBooleanField stores '1' or '0', which both databases cast back to a boolean."""
    return "1" if text.strip().lower() in {"1", "t", "true"} else "0"


def encrypt_columns(table: str, columns: list[str], *, clear_text=None, triggers_lifted: bool = False):
    """A migration's RunPython pair encrypting the columns' existing values in place (and, backwards,
    decrypting them), e.g. `migrations.RunPython(*encrypt_columns("engine_humantask", ["form_data"]))`.
    `clear_text` normalises a value before it is encrypted (booleans: `as_boolean_text`).
    `triggers_lifted`: the table's own triggers are lifted for the rewrite (an append-only history
    table refuses it; a tracked table would record the re-encryption as a change of content)."""
    from engine import append_only

    def encrypt(text):
        return None if is_token(text) else encrypt_text(clear_text(text) if clear_text else text)

    def run(schema_editor, transform):
        connection = schema_editor.connection
        if triggers_lifted:
            with append_only.suspended(connection, table):
                transform_columns(connection, table, columns, transform)
        else:
            transform_columns(connection, table, columns, transform)

    def forwards(apps, schema_editor):
        run(schema_editor, encrypt)

    def backwards(apps, schema_editor):
        run(schema_editor, decrypt_if_token)

    return forwards, backwards
