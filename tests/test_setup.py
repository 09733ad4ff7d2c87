"""Configuration and first start: settings from the environment, the first administrator,
no implicit staff, secure deployment settings and sessions (failure-cases.md 12, 16)."""

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conversations.models import User
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, **env) -> str:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RESPONSES_", "OPENAI_", "DJANGO_"))
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "chatsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


SETTINGS_DUMP = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.RESPONSES_API_KEY, s.RESPONSES_API_BASE_URL, "
    "s.RESPONSES_MODELS, s.DEMO_MODE]))"
)


def test_relay_settings_come_from_the_environment_with_openai_fallbacks():
    ours = json.loads(
        run_python(
            SETTINGS_DUMP,
            RESPONSES_API_KEY="k1",
            RESPONSES_API_BASE_URL="https://relay.example/v1/",
            RESPONSES_MODELS="m1, m2",
            OPENAI_API_KEY="ignored",
        )
    )
    assert ours == ["k1", "https://relay.example/v1", ["m1", "m2"], False]
    fallback = json.loads(
        run_python(SETTINGS_DUMP, OPENAI_API_KEY="k2", OPENAI_BASE_URL="https://other.example/v1")
    )
    assert fallback == ["k2", "https://other.example/v1", ["gpt-5.5"], False]
    demo = json.loads(run_python(SETTINGS_DUMP))
    assert demo == ["", "https://api.elkapi.com/v1", ["gpt-5.5"], True]


def manage_check(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("DJANGO_DEBUG", "ture"), ("MAX_MESSAGE_CHARS", "12k"), ("UPSTREAM_IDLE_TIMEOUT", "5m")],
)
def test_a_mistyped_setting_stops_the_start_with_an_error_naming_it(name, value):
    result = manage_check(**{name: value})
    assert result.returncode != 0
    error = result.stderr.strip().splitlines()[-1]
    assert name in error, result.stderr


def test_empty_settings_mean_their_defaults():
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.DEBUG, s.MAX_MESSAGE_CHARS, s.UPSTREAM_IDLE_TIMEOUT, "
        "s.ALLOWED_HOSTS, s.KEEP_DELETED_CONVERSATIONS, s.RESPONSES_API_KEY]))"
    )
    empty = {
        "DJANGO_DEBUG": "",
        "MAX_MESSAGE_CHARS": " ",
        "UPSTREAM_IDLE_TIMEOUT": "",
        "DJANGO_ALLOWED_HOSTS": "",
        "KEEP_DELETED_CONVERSATIONS": "",
        "RESPONSES_API_KEY": "",
        "OPENAI_API_KEY": "k2",
    }
    assert json.loads(run_python(code, **empty)) == [
        False,
        32000,
        300.0,
        ["127.0.0.1", "localhost", "[::1]"],
        True,
        "k2",
    ]
    spelled = {"DJANGO_DEBUG": "yes", "KEEP_DELETED_CONVERSATIONS": "Off", "MAX_MESSAGE_CHARS": "9"}
    debug, chars, _, _, keep, _ = json.loads(run_python(code, **spelled))
    assert (debug, chars, keep) == (True, 9, False)


def test_a_dotenv_file_is_read_and_the_process_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# the relay\n"
        "export A_NAME=from-file   # a comment after the value\n"
        'A_QUOTED="two words"  # a comment after quotes\n'
        "A_NUMBER=7\n"
        "ALREADY_SET=from-file\n"
    )
    code = (
        "import json; from pathlib import Path; "
        "from chatsite.env import load_dotenv, env_int, env_str; "
        f"load_dotenv(Path({str(dotenv)!r})); "
        "print(json.dumps([env_str('A_NAME'), env_str('A_QUOTED'), env_int('A_NUMBER', 0), "
        "env_str('ALREADY_SET')]))"
    )
    values = json.loads(run_python(code, ALREADY_SET="from-process"))
    assert values == ["from-file", "two words", 7, "from-process"]


def test_check_deploy_is_clean_with_production_settings():
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_DEBUG": "0",
            "DJANGO_HTTPS": "1",
            "DJANGO_SECRET_KEY": "q8Vt2-LmZ9pW4rKx7NcYb3HsJ6dFg0Ue1aTo5iQw_RzXvBnMk-e3Lp9Yq2",
            "DJANGO_ALLOWED_HOSTS": "chat.example.com",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def locked(lock_file: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock_file).read_text()
    return {
        canonicalize_name(name): v for name, v in re.findall(r"^([\w.-]+)==([^\s;]+)", text, re.M)
    }


def test_the_lock_files_pin_what_pyproject_asks_for():
    """`make run` installs requirements/main.txt, `make test` requirements/dev.txt: both must
    hold every dependency of pyproject.toml (after editing it: `make lock`)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    main, dev = locked("main.txt"), locked("dev.txt")
    for pins, wanted in [
        (main, project["dependencies"]),
        (dev, project["dependencies"] + project["optional-dependencies"]["dev"]),
    ]:
        for requirement in map(Requirement, wanted):
            version = pins.get(canonicalize_name(requirement.name))
            assert version and requirement.specifier.contains(version), f"{requirement}: make lock"
    assert "pytest" not in main and main.items() <= dev.items()
    for lock_file in ("main.txt", "dev.txt"):
        text = (ROOT / "requirements" / lock_file).read_text()
        assert "--hash=sha256:" in text and "://" not in text


@pytest.mark.django_db
def test_first_start_creates_one_administrator_and_prints_its_password(capsys):
    call_command("ensure_admin")
    out = capsys.readouterr().out
    admin = User.objects.get()
    assert admin.is_superuser and admin.is_staff
    password = out.split("password: ")[1].split()[0]
    assert admin.check_password(password)

    call_command("ensure_admin")
    assert capsys.readouterr().out == ""
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_createsuperuser_noinput_uses_the_standard_variables(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-password-123")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "boss@example.com")
    call_command("createsuperuser", interactive=False, verbosity=0)
    boss = User.objects.get(username="boss")
    assert boss.is_superuser and boss.check_password("a-long-password-123")


@pytest.mark.django_db
def test_nobody_becomes_staff_implicitly(django_user_model):
    first = django_user_model.objects.create_user("first", password=PASSWORD)
    assert not first.is_staff and not first.is_superuser


@pytest.mark.django_db
def test_login_page_logs_in_and_rotates_the_session(alice):
    client = Client()
    page = client.get("/login/")
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert "Log in" in page.text
    client.get("/")  # an anonymous session exists only if something was stored; force one:
    session = client.session
    session["probe"] = 1
    session.save()
    before = session.session_key
    client.cookies["sessionid"] = before

    response = client.post("/login/", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    after = client.cookies["sessionid"]
    assert after.value != before
    assert after["httponly"] and after["samesite"] == "Lax"


@pytest.mark.django_db
def test_there_is_no_sign_up(client):
    assert client.get("/signup/").status_code == 404
    assert client.get("/register/").status_code == 404


@pytest.mark.django_db
def test_wrong_password_gets_a_plain_message(alice):
    response = Client().post("/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "correct username and password" in response.text


def test_the_server_starts_with_its_long_lived_objects_out_of_the_collectors_reach(tmp_path):
    """The ASGI lifespan start-up (chatsite/lifespan.py), not the import, loads the URL patterns
    and the chat page's template, then freezes what is alive: full garbage collections no
    longer walk it (they paused the server under load)."""
    code = """
import asyncio, gc, chatsite.asgi
from django.template.loader import get_template

async def main():
    messages, answers = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}], []
    frozen_at_import = gc.get_freeze_count()

    async def receive():
        return messages.pop(0)

    async def send(message):
        answers.append(message["type"])

    await chatsite.asgi.application({"type": "lifespan"}, receive, send)
    page = get_template("conversations/chat.html").template
    print(frozen_at_import, gc.get_freeze_count() > 0, any(o is page for o in gc.get_objects()))
    print(*answers)

asyncio.run(main())
"""
    output = run_python(code, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert output.splitlines() == [
        "0 True False",
        "lifespan.startup.complete lifespan.shutdown.complete",
    ]
