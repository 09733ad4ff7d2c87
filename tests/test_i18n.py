"""English and Simplified Chinese: the language follows the browser, a switcher changes and
remembers it, no visible string of the interface is left untranslated, and Chinese sentences
take full-width punctuation."""

# ruff: noqa: RUF001, RUF002, RUF003 (full-width punctuation on purpose: it is the subject)

import ast
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
ALLOWED_LATIN |= {"KB", "MB", "GB", "PDF", "ZIP", "zip"}  # units and format names, as Django shows them in Chinese


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


# Chinese sentences take full-width punctuation. CJK here: Han ideographs, the CJK symbols and
# punctuation block (、。「」…) and the full-width forms (，：？！；（）). Curly quotes “” are not
# counted: English uses them too.
CJK = re.compile("[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
ASCII_MARKS = ",.:?!;()"
FULL_WIDTH = dict(zip(ASCII_MARKS, "，。：？！；（）", strict=True))
# Looked through, not at: printf and brace placeholders (%(name)s, %s, %%, {name}), so a mark is
# judged by the words around the placeholder ("共 %(count)s 条." is caught). URLs and e-mail
# addresses count as Latin words: their own dots, colons and question marks are no punctuation.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdifr%]|\{[\w.]*\}")
ADDRESS = re.compile(r"\b[a-z][\w+.-]*://\S+|\b[\w.+-]+@[\w-]+\.[\w.]+", re.IGNORECASE)
SEE_THROUGH = "\0"


def ascii_marks_in_chinese(text: str) -> list[tuple[str, str]]:
    """The ASCII marks `, . : ? ! ; ( )` of `text` that stand next to Chinese: the nearest
    character on either side, spaces and placeholders skipped, is CJK. So "对话,或",
    "模型: %(model)s", "Top p(核采样)" and "正在生成..." are caught, while these stay allowed:
    a mark between Latin letters, digits or placeholders (1.5, 1,024, 10:30, e.g., N/A,
    "%(day)s: %(value)s"), a dot that starts a file name or extension (导出 .json 文件,
    db.sqlite3: a dot followed by a Latin letter or digit), URLs and e-mail addresses, and of
    course the full-width marks and the ellipsis "…". Returns (mark, excerpt) pairs, the excerpt
    showing the mark in 「」 with a few characters around it."""
    masked = PLACEHOLDER.sub(lambda match: SEE_THROUGH * len(match[0]), text)
    masked = ADDRESS.sub(lambda match: "u" * len(match[0]), masked)
    found = []
    for index, mark in enumerate(masked):
        if mark not in ASCII_MARKS:
            continue
        following = masked[index + 1 : index + 2]
        if mark == "." and following.isascii() and following.isalnum():
            continue  # .json, db.sqlite3, 1.5
        before = masked[:index].replace(SEE_THROUGH, "").rstrip()[-1:]
        after = masked[index + 1 :].replace(SEE_THROUGH, "").lstrip()[:1]
        if CJK.match(before) or CJK.match(after):
            excerpt = f"{text[max(0, index - 8) : index]}「{mark}」{text[index + 1 : index + 9]}"
            found.append((mark, excerpt))
    return found


@pytest.mark.parametrize(
    ("text", "caught"),
    [
        ("请开始新的对话,或开启自动截断。", ","),
        ("模型: %(model)s", ":"),
        ("Top p(核采样)", "()"),
        ("这条消息太长了(%(length)s 个字符)。", "()"),
        ("已解除法律保留：%(count)d.", "."),
        ("正在生成...", "."),
        ("删除这个对话?", "?"),
        ("第 %(number)s 个版本，共 %(total)s 个", ""),
        ("%(day)s: %(value)s", ""),
        ("版本 1.5，上限 1,024 个，10:30 开始", ""),
        ("导出为 .json 文件，或查看 https://example.com/a?b=(1)。", ""),
        ("本月配额已用 %(share)s%%（N/A）", ""),
        ("请稍候…", ""),
        ("Too long (%(length)s characters).", ""),
    ],
)
def test_the_punctuation_rule(text, caught):
    assert "".join(mark for mark, _ in ascii_marks_in_chinese(text)) == caught


def po_files() -> list[Path]:
    folder = ROOT / "locale/zh_Hans/LC_MESSAGES"
    # django.po must be there (a check of no file would pass on nothing); djangojs.po may not.
    return [folder / "django.po", *[p for p in [folder / "djangojs.po"] if p.exists()]]


def test_chinese_translations_use_full_width_punctuation():
    """Every msgstr (each plural form too) of the Chinese catalogues, by the rule of
    `ascii_marks_in_chinese`: an ASCII , . : ? ! ; ( ) next to Chinese is a mistake; write
    ，。：？！；（） instead (and … for an ellipsis)."""
    offending = []
    for path in po_files():
        for entry in polib.pofile(str(path)):
            if entry.obsolete:
                continue
            translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
            marks = [
                excerpt for text in translations for _, excerpt in ascii_marks_in_chinese(text)
            ]
            if marks:
                context = f" (context: {entry.msgctxt})" if entry.msgctxt else ""
                offending.append(
                    f"{path.name}: msgid {entry.msgid!r}{context}\n    msgstr {translations!r}\n"
                    f"    ASCII marks: {', '.join(marks)}"
                )
    assert offending == [], (
        f"{len(offending)} Chinese translations use ASCII punctuation next to Chinese "
        f"(write {''.join(FULL_WIDTH.values())} instead):\n" + "\n".join(offending)
    )


# The relay's own words, copied as it sends them (the fake relay imitates it): not our sentence.
RELAYS_OWN_WORDS = {"用户额度不足, 剩余额度: ＄0.000000"}
MARKDOWN_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def chinese_in_sources() -> list[tuple[str, str]]:
    """(where, text) of the Chinese written into the product's code rather than the catalogue:
    string literals of its Python (the demo relay's replies), lines of its templates and
    scripts, and the README screenshots' conversation (tests/test_screenshots.py)."""
    han = re.compile("[\u4e00-\u9fff]")
    python = [*ROOT.glob("conversations/**/*.py"), *ROOT.glob("chatsite/**/*.py")]
    found = []
    for path in [*python, ROOT / "tests/test_screenshots.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if han.search(node.value) and node.value not in RELAYS_OWN_WORDS:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.append((where, MARKDOWN_CODE.sub("code", node.value)))
    for path in [*ROOT.glob("templates/**/*.html"), *ROOT.glob("static/js/*.js")]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if han.search(line):
                found.append((f"{path.relative_to(ROOT)}:{number}", line))
    return found


def test_chinese_written_in_the_code_uses_full_width_punctuation_too():
    texts = chinese_in_sources()
    assert any("fake_upstream/replies.py" in where for where, _ in texts)  # the scan finds some
    offending = [
        f"{where}: {', '.join(excerpt for _, excerpt in ascii_marks_in_chinese(text))}"
        for where, text in texts
        if ascii_marks_in_chinese(text)
    ]
    assert offending == [], "ASCII punctuation next to Chinese:\n" + "\n".join(offending)
