"""English and Simplified Chinese: the language follows the browser, a switcher changes and
remembers it, and no visible string of the interface is left untranslated."""

import gettext
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.test import Client

from conversations.models import Conversation, Reply

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
# Words that are the same in both languages: names, model ids, the language's own name.
ALLOWED_LATIN = {"Top", "p", "gpt", "English", "alice", "token", "API", "AI", "ID"}
ALLOWED_LATIN |= {"Markdown", "JSON"}  # names of file formats, the same in every language


class VisibleText(HTMLParser):
    """Collects text a reader sees: text nodes (outside script/style) and labels in attributes."""

    def __init__(self):
        super().__init__()
        self.texts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style"}:
            self._skip += 1
        for name, value in attrs:
            if name in {"placeholder", "aria-label", "title", "alt"} and value:
                self.texts.append(value)
            if name.startswith("data-") and name.endswith("-label") and value:
                self.texts.append(value)

    def handle_endtag(self, tag):
        if tag in {"script", "style"}:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(data.strip())


def untranslated(html: str, also_allowed=()) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    allowed = ALLOWED_LATIN | set(also_allowed)
    ids = re.compile(r"\b[0-9a-f]{8}\b")  # reference ids of replies
    return [
        text
        for text in parser.texts
        if any(word not in allowed for word in re.findall(r"[A-Za-z]{2,}", ids.sub("", text)))
    ]


@pytest.fixture
def conversation_with_every_kind_of_reply(alice):
    conversation = Conversation.objects.create(owner=alice, title="季度计划", model="gpt-5.5")
    parent = None
    for position, (status, code, message) in enumerate(
        [
            (Reply.Status.COMPLETED, "", ""),
            (Reply.Status.CANCELLED, "", ""),
            (
                Reply.Status.FAILED,
                "rate_limited",
                "The AI service is busy right now. Please wait a minute and try again.",
            ),
        ]
    ):
        parent = Reply.objects.create(
            conversation=conversation,
            user=alice,
            parent=parent,
            position=position,
            user_input="你好",
            text="回答",
            status=status,
            error_code=code,
            error_message=message,
            model="gpt-5.5",
        )
    return conversation


@pytest.fixture
def usage_with_a_quota(alice, conversation_with_every_kind_of_reply):
    """A month of usage with prices and without, under a token and a cost limit."""
    from decimal import Decimal

    from conversations.models import QuotaPolicy, UsageEntry
    from conversations.models.usage import month_start

    QuotaPolicy.objects.create(
        scope="default", monthly_token_limit=2_000_000, monthly_cost_limit=Decimal("50")
    )
    for model, cost in [("gpt-5.5", Decimal("0.25")), ("gpt-4o", None)]:
        UsageEntry.objects.create(
            user=alice,
            model=model,
            month=month_start(),
            input_tokens=1200,
            output_tokens=300,
            total_tokens=1500,
            cost=cost,
            currency="USD" if cost else "",
            conversation=conversation_with_every_kind_of_reply,
        )


def test_pages_follow_the_browser_language_with_nothing_left_in_english(
    alice_client, conversation_with_every_kind_of_reply, alice, usage_with_a_quota
):
    c = conversation_with_every_kind_of_reply
    pages = {
        "/usage/": alice_client.get("/usage/", headers=ZH),
        "/": alice_client.get("/", headers=ZH),
        f"/c/{c.pk}/": alice_client.get(f"/c/{c.pk}/", headers=ZH),
        f"/c/{c.pk}/delete/": alice_client.get(f"/c/{c.pk}/delete/", headers=ZH),
        "/login/": Client().get("/login/", headers=ZH),
    }
    for url, response in pages.items():
        assert response.status_code == 200
        assert '<html lang="zh-hans">' in response.text, url
        leftovers = untranslated(response.text, also_allowed={"USD"})  # a currency code
        assert leftovers == [], (url, leftovers)
    chat = pages[f"/c/{c.pk}/"].text
    assert "AI 服务现在很忙" in chat  # a stored English error sentence, shown in Chinese
    assert "发送" in chat and "重试" in chat and "对话设置" in chat


def test_english_is_the_default(alice_client):
    page = alice_client.get("/", headers={"Accept-Language": "fr"}).text
    assert '<html lang="en">' in page and "New chat" in page


def test_the_switcher_changes_and_remembers_the_language(alice_client):
    response = alice_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302
    assert "新对话" in alice_client.get("/").text
    alice_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "New chat" in alice_client.get("/").text


def test_the_compiled_catalogue_translates_every_message_of_the_source():
    po = polib.pofile(str(ROOT / "locale/zh_Hans/LC_MESSAGES/django.po"))
    with (ROOT / "locale/zh_Hans/LC_MESSAGES/django.mo").open("rb") as mo:
        catalogue = gettext.GNUTranslations(mo)
    entries = [entry for entry in po if not entry.obsolete]
    missing = [entry.msgid for entry in entries if translated(catalogue, entry) == entry.msgid]
    assert len(entries) > 100 and missing == []


def translated(catalogue: gettext.GNUTranslations, entry: polib.POEntry) -> str:
    """What the catalogue gives for the entry (the singular form of a plural entry)."""
    context = entry.msgctxt
    if entry.msgid_plural and context:
        return catalogue.npgettext(context, entry.msgid, entry.msgid_plural, 1)
    if entry.msgid_plural:
        return catalogue.ngettext(entry.msgid, entry.msgid_plural, 1)
    if context:
        return catalogue.pgettext(context, entry.msgid)
    return catalogue.gettext(entry.msgid)


FIXTURE_PO = r"""msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"
"Plural-Forms: nplurals=1; plural=0;\n"

msgid "Saved"
msgstr ""

msgid "%(count)s reply"
msgid_plural "%(count)s replies"
msgstr[0] ""

msgctxt "verb"
msgid "Archive"
msgstr ""

msgctxt "noun"
msgid "Archive"
msgstr ""

msgid "Kept"
msgstr "保留"
"""


def test_fill_translations_fills_plural_and_context_entries(tmp_path):
    po, translations = tmp_path / "django.po", tmp_path / "translations.json"
    po.write_text(FIXTURE_PO, encoding="utf-8")
    translations.write_text(
        json.dumps(
            {
                "Saved": "已保存",
                "%(count)s reply": ["%(count)s 条回复"],
                "verb\u0004Archive": "归档",
                "Kept": "不应覆盖",
            }
        ),
        encoding="utf-8",
    )

    script = subprocess.run(
        [sys.executable, ROOT / "scripts/fill_translations.py", po, translations],
        capture_output=True,
        text=True,
        check=True,
    )
    subprocess.run(["msgfmt", "--check", "-o", tmp_path / "django.mo", po], check=True)

    with (tmp_path / "django.mo").open("rb") as mo:
        catalogue = gettext.GNUTranslations(mo)
    assert catalogue.gettext("Saved") == "已保存"
    assert catalogue.ngettext("%(count)s reply", "%(count)s replies", 5) == "%(count)s 条回复"
    assert catalogue.pgettext("verb", "Archive") == "归档"
    assert catalogue.pgettext("noun", "Archive") == "Archive"
    assert catalogue.gettext("Kept") == "保留"
    assert script.stdout.split("\n") == ["untranslated: Archive (context: noun)", ""]
