"""A reply written slowly is formatted at every moment in a real browser: sampled at every change
of the page, its visible text never shows markdown syntax, and once a table row is complete its
columns keep their widths until the end."""

import pytest
from playwright.sync_api import expect

from conversations.models import Reply
from tests.conftest import wait_for_reply_sync
from tests.test_streaming_markdown import syntax_in

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

REPLY = (
    "## Python or Go\n\n"
    "Both are **good choices**, with *different* strengths and ~~no~~ few regrets:\n\n"
    "| | Python | Go |\n| --- | :---: | --- |\n"
    "| Writing | quick | more code |\n"
    "| Running it on a small server | an interpreter, a virtual environment | one binary |\n"
    "| Concurrency | `asyncio` | goroutines, channels and a scheduler built in |\n\n"
    "A minimal handler:\n\n"
    "```python\nasync def hello(request):\n    return web.Response(text='Hello')\n```\n\n"
    "1. See [the docs](https://docs.python.org/3/)\n"
    "2. Then:\n   - read the *tour*\n   - write `main.go`\n\n"
    "> Pick **Python** if your team already knows it."
)

# At every change under the transcript: the reply's visible text (its body and anything else in
# its content; code replaced by "·", a line per block) and the widths of its table rows' cells.
OBSERVE = """() => {
  window.samples = [];
  const BLOCKS = new Set(['P', 'LI', 'H1', 'H2', 'H3', 'TR', 'BLOCKQUOTE', 'DIV', 'UL', 'OL']);
  const visible = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return node.data;
    if (node.nodeType !== Node.ELEMENT_NODE || node.matches('button')) return '';
    if (node.matches('pre, code')) return '·';
    const inner = [...node.childNodes].map(visible).join('');
    if (node.matches('td, th')) return ' ' + inner;
    return BLOCKS.has(node.tagName) ? '\\n' + inner + '\\n' : inner;
  };
  const sample = () => {
    const article = document.querySelector('article.reply');
    const content = article?.querySelector('.reply-content');
    if (!content) return;
    const rows = [...content.querySelectorAll('table tr')].map(
      (row) => [...row.cells].map((cell) => cell.getBoundingClientRect().width));
    window.samples.push({busy: article.getAttribute('aria-busy'), text: visible(content), rows});
  };
  new MutationObserver(sample).observe(document.getElementById('transcript'),
    {childList: true, subtree: true, characterData: true, attributes: true});
}"""


def test_a_reply_is_formatted_at_every_moment_and_its_table_columns_stay(
    chat_page, fake_upstream, alice
):
    page = chat_page.page
    fake_upstream.queue({"behaviour": "ok", "text": REPLY, "delay_ms": 25, "piece_chars": 3})
    page.evaluate(OBSERVE)
    box = page.get_by_label("Message")
    box.fill("Python or Go?")
    box.press("Enter")
    expect(page.locator("article.reply")).to_have_attribute("aria-busy", "false", timeout=30_000)
    samples = page.evaluate("window.samples")

    for sample in samples:
        assert syntax_in(sample["text"]) == [], sample["text"]
    streamed = [s for s in samples if s["busy"] == "true" and s["text"].strip()]
    assert len({s["text"] for s in streamed}) >= 15  # it grew in many steps
    with_rows = [s["rows"] for s in samples if s["rows"]]
    assert len({len(rows) for rows in with_rows}) >= 3  # the table grew row by row
    final = with_rows[-1]
    for rows in with_rows:
        for shown, last in zip(rows, final, strict=False):
            assert shown == pytest.approx(last, abs=0.5), (rows, final)

    text = page.locator("article.reply .reply-body").inner_text()
    assert "Python or Go" in text and "goroutines" in text and "Pick Python" in text
    assert wait_for_reply_sync(Reply.objects.get(user=alice).pk).text == REPLY
