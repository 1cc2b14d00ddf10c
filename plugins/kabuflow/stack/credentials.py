"""Generate the stack's secrets and user passwords once, and keep them in its home.

Files are written with mode 0600 and replaced atomically, so a crash never leaves a
half-written secret. They live under `var/`, which git ignores.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from cryptography.fernet import Fernet

from kabuflow.errors import StackError

log = logging.getLogger(__name__)

SECRETS_FILE_NAME = "secrets.json"


def load_or_create_secrets(home: Path) -> dict[str, str]:
    """Return the JWT secret, api-server secret key and Fernet key; made once."""
    path = home / SECRETS_FILE_NAME
    stored = _read_json(path)
    wanted = {
        "jwt_secret": lambda: secrets.token_urlsafe(48),
        "api_secret_key": lambda: secrets.token_urlsafe(48),
        "fernet_key": lambda: Fernet.generate_key().decode("ascii"),
    }
    missing = [name for name in wanted if not stored.get(name)]
    for name in missing:
        stored[name] = wanted[name]()
    if missing:
        write_private(path, json.dumps(stored, indent=2) + "\n")
        log.info("generated %s in %s", ", ".join(missing), path)
    return stored


def ensure_passwords(path: Path, users: Iterable[str]) -> dict[str, str]:
    """Return each user's password from Airflow's passwords file, adding missing users.

    The file is the JSON object Airflow's simple auth manager reads; a password already
    in it is kept, so clients configured earlier keep working.
    """
    passwords = _read_json(path)
    missing = [user for user in users if not passwords.get(user)]
    for user in missing:
        passwords[user] = secrets.token_urlsafe(18)
    if missing:
        write_private(path, json.dumps(passwords) + "\n")
        log.info("generated passwords for %s in %s", ", ".join(missing), path)
    return passwords


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by the owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)


def _read_json(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except json.JSONDecodeError as exc:
        raise StackError(f"{path} is not valid JSON: repair or delete it") from exc
