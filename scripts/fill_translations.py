"""Fills the untranslated entries of a .po file from a JSON dictionary, through polib.

Used when adding strings: `python scripts/fill_translations.py locale/zh_Hans/LC_MESSAGES/django.po
translations.json`, then `manage.py compilemessages`. Existing translations are kept.

The dictionary's keys are msgids; an entry with a context (msgctxt) is keyed
"context\\u0004msgid", as gettext keys it. A plural entry (msgid_plural) takes a list with one
translation per plural form of the language (Simplified Chinese has one), or a string used for
every form.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import polib


def entry_key(entry: polib.POEntry) -> str:
    return entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"


def fill(po: polib.POFile, translations: dict[str, str | list[str]]) -> list[str]:
    """Fills what `translations` has for `po`'s untranslated entries; returns the keys it lacked."""
    missing = []
    for entry in po.untranslated_entries():
        translation = translations.get(entry_key(entry))
        if translation is None:
            missing.append(entry_key(entry))
        elif entry.msgid_plural:
            forms = len(entry.msgstr_plural) or 1
            if isinstance(translation, str):
                translation = [translation] * forms
            entry.msgstr_plural = dict(enumerate(translation))
        else:
            entry.msgstr = translation
    return missing


def main(po_path: Path, json_path: Path) -> None:
    po = polib.pofile(str(po_path))
    missing = fill(po, json.loads(json_path.read_text(encoding="utf-8")))
    po.save()
    # gettext's own line wrapping, as makemessages writes it, so the diff shows only the fills.
    if msgcat := shutil.which("msgcat"):
        subprocess.run([msgcat, "-o", str(po_path), str(po_path)], check=True)  # noqa: S603
    for key in missing:
        context, _, msgid = key.rpartition("\x04")
        print("untranslated:", msgid, f"(context: {context})" if context else "")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
