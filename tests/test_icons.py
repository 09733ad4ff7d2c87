"""The icon tag inlines a vendored Lucide icon as decoration, and refuses names it doesn't have."""

import pytest
from django.template import Context, Template


def test_an_icon_is_inline_svg_hidden_from_screen_readers():
    html = Template(
        '{% load icons %}<button aria-label="More">{% icon "ellipsis" 20 %}</button>'
    ).render(Context())
    assert '<svg aria-hidden="true" focusable="false" class="icon lucide lucide-ellipsis"' in html
    assert 'width="20" height="20"' in html
    assert "<!--" not in html


@pytest.mark.parametrize("name", ["no-such-icon", "../../settings"])
def test_an_unknown_icon_is_an_error_not_an_empty_button(name):
    with pytest.raises(ValueError):
        Template("{% load icons %}{% icon name %}").render(Context({"name": name}))
