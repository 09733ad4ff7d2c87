"""Reads the configuration from the environment (and an optional `.env` file) through environs.

A value that does not parse (`DJANGO_DEBUG=ture`, `MAX_MESSAGE_CHARS=12k`) stops the start with
environs' error naming the variable, instead of quietly becoming the default. An empty value
means the default, as an unset one does.
"""

from pathlib import Path

import dotenv
from environs import Env

# Eager: the first value that does not parse raises EnvError at once, naming its variable.
_env = Env(eager=True)


def load_dotenv(path: Path) -> None:
    """Reads `path`, if it exists, into os.environ without overriding what is already set.

    python-dotenv parses it (quotes, `export`, comments after a value); values are taken
    literally, without `${VAR}` expansion, so a secret may contain any character.
    """
    dotenv.load_dotenv(path, override=False, interpolate=False)


def _is_empty(name: str) -> bool:
    return not _env.str(name, "").strip()


def env_str(name: str, default: str = "", *fallbacks: str) -> str:
    """The first of `name` and its fallbacks that has a value, else `default`."""
    for key in (name, *fallbacks):
        value = _env.str(key, "").strip()
        if value:
            return value
    return default


def env_bool(name: str, default: bool = False) -> bool:
    """1/0, true/false, yes/no, on/off (also t/f, y/n); anything else is an error."""
    return default if _is_empty(name) else _env.bool(name)


def env_int(name: str, default: int) -> int:
    return default if _is_empty(name) else _env.int(name)


def env_float(name: str, default: float) -> float:
    return default if _is_empty(name) else _env.float(name)


def env_list(name: str, default: str = "") -> list[str]:
    """A comma-separated value as a list, without blanks around or between the items."""
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_json(name: str, default):
    """A JSON value (environs parses it; invalid JSON is an error naming the variable)."""
    return default if _is_empty(name) else _env.json(name)
