"""var/, the generated secret key and the SQLite database (with its -wal and -shm files) are
their owner's only from the moment they exist, under the usual umask 022; processes starting
together agree on one secret key. Each test runs the real settings in fresh processes, in a
copy of the project's `chatsite` package whose var/ is a temporary folder."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent

# Runs in the child: every file operation the process makes first notes the modes of everything
# in var/, so a file that existed with wider permissions for a moment (created, then narrowed)
# is seen. Then Django opens the database and writes to it (WAL: -wal and -shm appear).
WATCH_AND_START = """
import json, os, sys
os.umask(0o022)
var = os.path.join(os.getcwd(), "var")
seen, busy = {}, []

def note():
    if busy:
        return
    busy.append(1)
    try:
        if os.path.isdir(var):
            seen["var/"] = seen.get("var/", 0) | os.stat(var).st_mode & 0o777
            for entry in os.scandir(var):
                seen[entry.name] = seen.get(entry.name, 0) | entry.stat().st_mode & 0o777
    finally:
        busy.pop()

def watch(event, args):
    if event in ("open", "os.mkdir", "os.chmod", "os.link", "os.rename", "os.remove",
                 "sqlite3.connect", "tempfile.mkstemp"):
        note()

sys.addaudithook(watch)
import django
django.setup()
from django.conf import settings
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE note (x)")
    cursor.execute("INSERT INTO note VALUES (1)")
note()
print(json.dumps({"seen": seen, "key": settings.SECRET_KEY}))
"""


def project_copy(tmp_path: Path) -> Path:
    """A folder holding a copy of `chatsite` (settings find var/ beside it); `conversations`
    and the rest come from the project."""
    tmp_path.mkdir(exist_ok=True)
    shutil.copytree(
        PROJECT / "chatsite", tmp_path / "chatsite", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def child_environment() -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "DJANGO_SECRET_KEY", "PYTHONPATH"}
    }
    environment["PYTHONPATH"] = str(PROJECT)
    environment["DJANGO_SETTINGS_MODULE"] = "chatsite.settings"
    return environment


def start_site(folder: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", WATCH_AND_START],
        cwd=folder,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_var_the_secret_key_and_the_database_are_owner_only_from_the_start(tmp_path):
    folder = project_copy(tmp_path)

    seen = start_site(folder)["seen"]

    expected = {"var/", "secret_key", "db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm"}
    assert expected <= set(seen)
    widest = {name: oct(mode) for name, mode in seen.items()}
    assert seen["var/"] == 0o700, widest
    for name, mode in seen.items():
        assert mode & 0o077 == 0, f"var/{name} was once {oct(mode)}: {widest}"
    assert (folder / "var" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_an_older_install_s_wider_files_are_narrowed(tmp_path):
    folder = project_copy(tmp_path)
    var = folder / "var"
    var.mkdir(mode=0o755)
    os.chmod(var, 0o755)  # noqa: S103 (what an older version left)
    for name in ("secret_key", "db.sqlite3", "db.sqlite3-wal"):
        (var / name).write_text("old-key" if name == "secret_key" else "")
        os.chmod(var / name, 0o644)

    result = start_site(folder)

    assert result["key"] == "old-key"  # kept, only narrowed
    assert var.stat().st_mode & 0o777 == 0o700
    for path in var.iterdir():  # (SQLite removes its -wal and -shm files when it closes)
        assert path.stat().st_mode & 0o777 == 0o600, path.name


# Runs in a child that reads the settings; with a pause file named, it stops once it has decided
# to create var/secret_key (its first creating open of it), says so and waits for a go-ahead,
# as a process the scheduler interrupts at the worst moment would.
START_WITH_PAUSE = """
import os, pathlib, sys, time
pause, go = sys.argv[1:] or (None, None)
def watch(event, args):
    global pause
    if pause and event == "open" and "secret_key" in str(args[0]) and args[2] & os.O_CREAT:
        marker, pause = pause, None
        pathlib.Path(marker).touch()
        deadline = time.time() + 30
        while not os.path.exists(go) and time.time() < deadline:
            time.sleep(0.01)
sys.addaudithook(watch)
import chatsite.settings
print(chatsite.settings.SECRET_KEY)
"""


def test_two_processes_creating_the_secret_key_at_once_agree_on_one(tmp_path):
    folder = project_copy(tmp_path / "site")
    paused, go = tmp_path / "paused", tmp_path / "go"
    first = subprocess.Popen(
        [sys.executable, "-c", START_WITH_PAUSE, str(paused), str(go)],
        cwd=folder,
        env=child_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not paused.exists():
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
            time.sleep(0.01)
        second = subprocess.run(
            [sys.executable, "-c", START_WITH_PAUSE],
            cwd=folder,
            env=child_environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    finally:
        go.touch()
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err

    stored = (folder / "var" / "secret_key").read_text().strip()
    assert len(stored) > 50
    assert out.strip() == second.stdout.strip() == stored
    assert not list((folder / "var").glob(".secret_key.*"))  # no temporary file left
