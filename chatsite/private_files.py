"""Files only their owner may read: var/, the generated secret key and the SQLite database.
Each is created with its final mode (never created first and narrowed after, which leaves a
moment where anyone could read it), and one left wider by an older version is narrowed."""

import os
import tempfile
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> Path:
    path.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
    narrow(path, DIRECTORY_MODE)
    return path


def read_or_create(path: Path, make_text) -> str:
    """The text of `path`, created owner-only with `make_text()` if it does not exist. Of two
    processes starting at once, one creates it and both read that one's text: the text is
    written to a private temporary file first and linked into place (a link never replaces an
    existing file), so nobody reads it half-written."""
    if not path.exists():
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(make_text())
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process was first: its text stands
        finally:
            os.unlink(temporary)
    narrow(path, FILE_MODE)
    return path.read_text()


def private_sqlite_database(name: str) -> None:
    """Creates an SQLite database file owner-only before SQLite opens it. SQLite would create it
    readable by everyone (less the umask); it gives the -wal and -shm files it makes later the
    database file's mode, so all three stay private. An empty file is an empty database. A name
    that is not a plain path (":memory:", a "file:" URI) or whose folder is missing is left to
    SQLite."""
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    try:
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        for suffix in ("", "-wal", "-shm"):
            narrow(Path(name + suffix), FILE_MODE)
    except FileNotFoundError:
        pass


def narrow(path: Path, mode: int) -> None:
    """Takes group and others' access away from a file or folder of ours that has it."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    if status.st_mode & 0o077 and status.st_uid == os.getuid():
        path.chmod(mode)
