"""Fills empty msgstr entries of a .po file from a JSON dictionary {msgid: translation}.

Used when adding strings: `python scripts/fill_translations.py locale/zh_Hans/LC_MESSAGES/django.po
translations.json`, then `manage.py compilemessages`. Existing translations are kept."""

import json
import re
import sys
from pathlib import Path


def _unquote(lines: list[str]) -> str:
    return "".join(json.loads(line) for line in lines)


def fill(po_text: str, translations: dict[str, str]) -> tuple[str, list[str]]:
    out, missing = [], []
    for block in po_text.split("\n\n"):
        match = re.search(r'^msgid ((?:".*"\n?)+)msgstr ((?:".*"\n?)+)', block + "\n", re.M)
        if not match:
            out.append(block)
            continue
        msgid = _unquote([line for line in match.group(1).split("\n") if line])
        msgstr = _unquote([line for line in match.group(2).split("\n") if line])
        if msgid and not msgstr:
            if msgid in translations:
                translated = json.dumps(translations[msgid], ensure_ascii=False)
                block = block[: match.start(2)] + translated
            else:
                missing.append(msgid)
        out.append(block)
    return "\n\n".join(out), missing


if __name__ == "__main__":
    po_path, json_path = Path(sys.argv[1]), Path(sys.argv[2])
    text, missing = fill(po_path.read_text(), json.loads(Path(json_path).read_text()))
    po_path.write_text(text if text.endswith("\n") else text + "\n")
    for msgid in missing:
        print("untranslated:", msgid)
