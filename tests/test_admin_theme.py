"""The admin's theme without a browser: every admin page carries the product's name, logo and
stylesheet and keeps Django's theme switch; static/css/admin.css states the same colours for
the system's dark mode and for the switch's; the code blocks' stylesheet for the switch is the
one conversations/rendering.py generates (tests/test_browser_admin_theme.py looks at them)."""

import re
from pathlib import Path

import pytest

from conversations import rendering
from tests.review_fixtures import *  # noqa: F403

CSS = Path(__file__).resolve().parent.parent / "static" / "css"


def declarations(block: str) -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+):\s*([^;]+);", block))


def theme_blocks() -> tuple[dict, dict, dict]:
    """The variables of admin.css's light block, its dark block for the system, and its dark
    block for the switch."""
    css = (CSS / "admin.css").read_text()
    light = re.search(r'html\[data-theme="light"\],\s*:root\s*\{(.*?)\n\}', css, re.S).group(1)
    system = re.search(r"@media \(prefers-color-scheme: dark\)\s*\{\s*:root\s*\{(.*?)\}", css, re.S)
    switch = re.search(r'\nhtml\[data-theme="dark"\]\s*\{(.*?)\n\}', css, re.S).group(1)
    return declarations(light), declarations(system.group(1)), declarations(switch)


def test_dark_is_the_same_from_the_system_or_the_switch_and_sets_what_light_sets():
    light, system, switch = theme_blocks()

    assert system == switch
    assert set(system) == set(light) - {"--font-family-primary"}  # the same fonts in both
    # The chat's palette (static/css/app.css): its accent and greys.
    assert light["--header-bg"] == light["--link-fg"] == "#1f5fbf"
    assert (light["--body-fg"], light["--body-bg"]) == ("#1b1d21", "#ffffff")
    assert (system["--link-fg"], system["--body-bg"], system["--body-fg"]) == (
        "#7aa7ff",
        "#16181c",
        "#e7e9ec",
    )


def test_committed_pygments_themes_css_matches_the_installed_pygments():
    committed = (CSS / "pygments-themes.css").read_text()

    assert committed == rendering.pygments_theme_css(), "regenerate it: see its first comment"


def test_pygments_themes_css_only_styles_code_blocks_of_a_switched_theme():
    selectors = re.findall(r"^([^\s/][^{\n]*)\{", rendering.pygments_theme_css(), re.MULTILINE)

    assert len(selectors) > 100
    assert all(re.match(r'html\[data-theme="(light|dark)"\] \.codeblock', s) for s in selectors)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/admin/", "/admin/conversations/feedback/", "/admin/usage/", "/admin/password_change/"]
)
def test_every_admin_page_has_the_products_name_logo_stylesheet_and_theme_switch(
    superuser_client, url
):
    page = superuser_client.get(url).text

    assert re.search(r'<link rel="stylesheet" href="/static/css/admin\.[0-9a-f]+\.css"', page)
    assert '<span class="site-brand-name">Chat workspace</span>' in page
    assert '<svg class="site-logo"' in page
    assert '<button class="theme-toggle">' in page
    assert "Django administration" not in page and "Django site admin" not in page


@pytest.mark.django_db
def test_the_login_page_is_branded_and_has_the_theme_switch(client):
    page = client.get("/admin/login/").text

    assert "<title>Log in | Chat workspace Admin</title>" in page
    assert '<span class="site-brand-name">Chat workspace</span>' in page
    assert '<button class="theme-toggle">' in page
