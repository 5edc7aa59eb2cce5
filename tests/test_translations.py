"""Every user-facing string has a Chinese translation, and the compiled catalogues match them: the
project's own (locale/) and each process folder's (processes/<name>/locale/)."""
import gettext
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
CATALOGUES = [PO, *sorted(ROOT.glob("processes/*/locale/zh_Hans/LC_MESSAGES/django.po"))]


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


def test_every_process_folder_has_its_catalogue():
    folders = sorted(p.parent.name for p in ROOT.glob("processes/*/apps.py"))
    assert [p.parents[3].name for p in CATALOGUES[1:]] == folders


def test_every_message_is_translated_to_chinese():
    for po in CATALOGUES:
        missing = [msgid for block, msgid, msgstr in _entries_of(po) if msgid and not msgstr]
        fuzzy = [msgid for block, msgid, _ in _entries_of(po) if "#, fuzzy" in block]
        assert (po, missing, fuzzy) == (po, [], [])


def _msgids(po: Path) -> set[str]:
    return {_unescape(msgid) for block, msgid, _ in _entries_of(po) if msgid}


def _entries_of(po: Path):
    global PO
    saved, PO = PO, po
    try:
        yield from _entries()
    finally:
        PO = saved


def test_every_string_of_the_source_is_in_the_catalogue(settings):
    """Strings added to the code or templates since the catalogue was last made would show in
    English on a zh-hans page: gather them as makemessages does and compare."""
    import os
    import shutil

    from django.core.management import call_command

    # makemessages writes each file's strings to the first locale path whose parent holds the file:
    # a scratch locale path directly under the project root gets them all, and the real catalogue
    # is left alone.
    scratch = ROOT / f".i18n-check-{os.getpid()}"
    settings.LOCALE_PATHS = [scratch]
    try:
        call_command("makemessages", locale=["zh_Hans"], verbosity=0,
                     ignore_patterns=[".venv", "node_modules", "tests", "bench", "var", "locale", ".i18n-check-*"])
        gathered = _msgids(scratch / "zh_Hans" / "LC_MESSAGES" / "django.po")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    missing = sorted(gathered - set().union(*(_msgids(po) for po in CATALOGUES)))
    assert missing == [], "run: python manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=node_modules " \
                          "--ignore=tests --ignore=bench --ignore=var, translate, compilemessages: " + repr(missing[:20])


def _compiled(catalogue, block: str, msgid: str) -> str:
    """The compiled translation of an entry, in its context if it has one (the modeler's texts)."""
    context = re.search(r'^msgctxt "(.*)"$', block, re.MULTILINE)
    return catalogue.pgettext(context.group(1), msgid) if context else catalogue.gettext(msgid)


def test_compiled_catalogues_are_current():
    for po in CATALOGUES:
        catalogue = gettext.GNUTranslations(po.with_suffix(".mo").open("rb"))
        stale = [msgid for block, msgid, msgstr in _entries_of(po)
                 if msgid and msgid != msgstr and "msgid_plural" not in block and _compiled(catalogue, block, _unescape(msgid)) == _unescape(msgid)]
        assert (po, stale) == (po, []), "run: python manage.py compilemessages -l zh_Hans --ignore=.venv"

