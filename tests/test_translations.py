"""Every user-facing string has a Chinese translation, and the compiled catalogues match them: the
project's own (locale/) and each process folder's (processes/<name>/locale/). Django merges all of a
language's catalogues into one (the project's wins, then the apps in INSTALLED_APPS order), so no
two of them may translate a string differently, and English ones carry no Chinese."""
import gettext
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
CATALOGUES = [PO, *sorted(ROOT.glob("processes/*/locale/zh_Hans/LC_MESSAGES/django.po"))]
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


def _catalogues(language: str) -> list[Path]:
    return [ROOT / "locale" / language / "LC_MESSAGES" / "django.po",
            *sorted(ROOT.glob(f"processes/*/locale/{language}/LC_MESSAGES/django.po"))]


def _folder(path: Path) -> str:
    """The process folder a file (relative to the root) or a catalogue belongs to; "" for the project's own."""
    parts = path.relative_to(ROOT).parts if path.is_absolute() else path.parts
    return parts[1] if parts[0] == "processes" else ""


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


def _context(block: str) -> str | None:
    found = re.search(r'^msgctxt "(.*)"$', block, re.MULTILINE)
    return _unescape(found.group(1)) if found else None


def _keys(po: Path) -> set[tuple[str | None, str]]:
    return {(_context(block), _unescape(msgid)) for block, msgid, _ in _entries_of(po) if msgid}


def _translations(po: Path) -> dict[tuple[str | None, str], str]:
    """(context, msgid) -> msgstr of each translated entry (a plural's forms joined)."""
    return {(_context(block), _unescape(msgid)): _unescape(msgstr) for block, msgid, msgstr in _entries_of(po) if msgid and msgstr}


def _entries_of(po: Path):
    global PO
    saved, PO = PO, po
    try:
        yield from _entries()
    finally:
        PO = saved


def test_every_string_of_the_source_is_in_the_catalogue(settings):
    """Strings added to the code or templates since the catalogue was last made would show in
    English on a zh-hans page: gather them as makemessages does and compare. Each string, in its
    context, must be in its own folder's catalogue (a process's in the process's, the rest in the
    project's): one found only in another folder's catalogue is that folder's word, not this one's."""
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
        gathered = [(block, (_context(block), _unescape(msgid)))
                    for block, msgid, _ in _entries_of(scratch / "zh_Hans" / "LC_MESSAGES" / "django.po") if msgid]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    own = {_folder(po): _keys(po) for po in CATALOGUES}
    missing = sorted({f"{path}: {key}" for block, key in gathered
                      for path in re.findall(r"(\S+):\d+", "\n".join(re.findall(r"^#: (.*)$", block, re.MULTILINE)))
                      if key not in own.get(_folder(Path(path)), own[""])})
    assert missing == [], "run: python manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=node_modules " \
                          "--ignore=tests --ignore=bench --ignore=var, translate, compilemessages: " + repr(missing[:20])


def _compiled(catalogue, block: str, msgid: str) -> str:
    """The compiled translation of an entry, in its context if it has one (the modeler's texts)."""
    context = _context(block)
    return catalogue.pgettext(context, msgid) if context else catalogue.gettext(msgid)


def test_compiled_catalogues_are_current():
    for po in CATALOGUES:
        catalogue = gettext.GNUTranslations(po.with_suffix(".mo").open("rb"))
        stale = [msgid for block, msgid, msgstr in _entries_of(po)
                 if msgid and msgid != msgstr and "msgid_plural" not in block and _compiled(catalogue, block, _unescape(msgid)) == _unescape(msgid)]
        assert (po, stale) == (po, []), "run: python manage.py compilemessages -l zh_Hans --ignore=.venv"


@pytest.mark.parametrize("language", ["zh_Hans", "en"])
def test_no_string_is_translated_two_ways(language):
    """One merged catalogue per language: a string two catalogues translate differently shows one
    folder's word on the other's pages (a resource's "left" as 已离开, a relative's "child" as
    儿童). Where the words mean the same, the catalogues agree; where not, the process asks for
    its word in a context (pgettext, {% trans ... context ... %})."""
    words = defaultdict(dict)
    for po in _catalogues(language):
        for key, msgstr in _translations(po).items():
            words[key][_folder(po) or "locale"] = msgstr
    assert {key: by for key, by in words.items() if len(set(by.values())) > 1} == {}


def test_english_catalogues_carry_no_chinese():
    """An English msgstr stays empty (the msgid is the English): a Chinese one shows Chinese on English pages."""
    chinese = [(str(po.relative_to(ROOT)), key, msgstr) for po in _catalogues("en")
               for key, msgstr in _translations(po).items() if CJK.search(msgstr)]
    assert chinese == []


def test_pages_show_each_catalogues_own_words():
    """What Django shows, every installed catalogue merged (Django's own admin and auth come before
    the process folders in INSTALLED_APPS, and win over them), is each of our catalogues' word; in
    English, no string turns Chinese."""
    from django.utils import translation

    def shown(key):
        return translation.pgettext(*key) if key[0] else translation.gettext(key[1])

    with translation.override("zh-hans"):
        overridden = [(str(po.relative_to(ROOT)), key, _unescape(msgstr), shown(key)) for po in CATALOGUES
                      for block, msgid, msgstr in _entries_of(po) if msgid and msgstr and "msgid_plural" not in block
                      for key in [(_context(block), _unescape(msgid))] if shown(key) != _unescape(msgstr)]
    with translation.override("en"):
        chinese = [key for po in CATALOGUES for key in _keys(po) if not CJK.search(key[1]) and CJK.search(shown(key))]
    assert (overridden, chinese) == ([], [])


def test_the_words_people_saw_wrong():
    """The symptoms: each label in its own process's word."""
    from django.utils import translation

    from processes.activities.models import ActivityStatus
    from processes.child_protection.models import CaseStatus
    from processes.elderly_care.models import ElderlyPerson, VisitStatus
    from processes.micro_fund.models import Application, Stage
    from processes.monitoring.models import UpdateStatus
    from processes.time_bank.models import Relation

    with translation.override("zh-hans"):
        assert [str(label) for label in (
            Relation.CHILD.label, CaseStatus.CLOSED.label, ActivityStatus.APPROVED.label, Stage.APPROVED.label,
            Application._meta.get_field("title").verbose_name, ElderlyPerson._meta.get_field("name").verbose_name,
            VisitStatus.OPEN.label, UpdateStatus.OPEN.label, UpdateStatus.MISSED.label)] == [
            "子女", "已结案", "已通过", "已立项", "项目名称", "姓名", "待完成", "待更新", "未更新"]


@pytest.mark.django_db
def test_the_years_elderly_figures_read_english_on_an_english_page(client, users):
    client.force_login(users["supervisor"])
    assert "已完成筛查的老人（占在册老人）" in client.get("/year/").content.decode()
    client.cookies["django_language"] = "en"
    page = client.get("/year/").content.decode()
    assert "Elders screened, of those in the programme" in page and "Monthly “三个一” visits made, of those due" in page
    assert "已完成筛查" not in page and "探访完成率" not in page
