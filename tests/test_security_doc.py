"""SECURITY.md stays true: every setting it names is one the product reads and the README
documents, and every command it tells an operator to run exists."""

import re
from pathlib import Path

from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
SECURITY = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
SETTINGS = (ROOT / "chatsite" / "settings.py").read_text(encoding="utf-8")

NAMED_SETTINGS = sorted(set(re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`", SECURITY)))
NAMED_COMMANDS = sorted(set(re.findall(r"manage\.py ([a-z_]+)", SECURITY)))
# The standard variables that httpx reads itself for the relay's client (trust_env).
READ_BY_HTTPX = {"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"}


def test_security_page_covers_what_the_issue_asks_for():
    headings = re.findall(r"^## (.+)$", SECURITY, flags=re.MULTILINE)
    for needed in (
        "Reporting a problem",
        "Who can read and change what",
        "What is logged and kept, and for how long",
        "Secrets",
        "Deployment settings that matter",
    ):
        assert needed in headings
    for role in ("Staff", "Reviewer", "Administrator", "Superuser"):
        assert f"**{role}**" in SECURITY


def test_every_setting_security_names_is_read_by_the_settings_and_in_the_readme():
    assert NAMED_SETTINGS, "SECURITY.md names no setting"
    for name in NAMED_SETTINGS:
        read = f'"{name}"' in SETTINGS or name in READ_BY_HTTPX
        assert read, f"{name} is named in SECURITY.md but never read"
        assert f"`{name}`" in README, f"{name} is named in SECURITY.md but not in the README"


def test_every_command_security_names_exists():
    assert NAMED_COMMANDS
    commands = get_commands()
    for name in NAMED_COMMANDS:
        assert name in commands, f"manage.py {name} does not exist"
