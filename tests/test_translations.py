"""Every user-facing string has a Chinese translation, and the compiled catalogue matches it."""
import gettext
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def _entries():
    text = PO.read_text(encoding="utf-8")
    for block in text.split("\n\n")[1:]:
        if block.lstrip().startswith("#~"):
            continue
        msgid = "".join(re.findall(r'^(?:msgid|msgid_plural)? ?"(.*)"$', block.split("msgstr")[0], re.M))
        msgstr = "".join(re.findall(r'"(.*)"', block.split("msgstr", 1)[1])) if "msgstr" in block else ""
        yield block, msgid, msgstr


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def test_every_message_is_translated_to_chinese():
    missing = [msgid for block, msgid, msgstr in _entries() if msgid and not msgstr]
    fuzzy = [msgid for block, msgid, _ in _entries() if "#, fuzzy" in block]
    assert missing == [] and fuzzy == []


def test_compiled_catalogue_is_current():
    catalogue = gettext.GNUTranslations(MO.open("rb"))
    stale = [msgid for block, msgid, msgstr in _entries()
             if msgid and msgid != msgstr and "msgid_plural" not in block and catalogue.gettext(_unescape(msgid)) == _unescape(msgid)]
    assert stale == [], "run: python manage.py compilemessages -l zh_Hans --ignore=.venv"


def test_models_and_migrations_agree():
    """A model change without its migration would fail on the first deploy, not in review."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
    except SystemExit as exc:
        raise AssertionError(f"models changed without a migration:\n{out.getvalue()}") from exc
