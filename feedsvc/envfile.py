"""Writing the `.env` that `feedsvc init` makes: a fresh feed token and Basic-auth password."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

FEED_USER = "retino"


@dataclass(frozen=True)
class NewSecrets:
    token: str
    user: str
    password: str


class EnvFileExists(FileExistsError):
    pass


def write_env(path: Path, *, force: bool = False) -> NewSecrets:
    """Write `path` (mode 0600) with new secrets; refuses to replace an existing file unless forced."""
    if path.exists() and not force:
        raise EnvFileExists(f"{path} already exists; use --force to replace it (its secrets will change)")
    values = NewSecrets(token=secrets.token_hex(32), user=FEED_USER, password=secrets.token_urlsafe(24))
    text = "\n".join([
        "# feedsvc settings, written by `feedsvc init`. Keep this file private.",
        f"FEEDSVC_FEED_TOKEN={values.token}",
        f"FEEDSVC_FEED_USER={values.user}",
        f"FEEDSVC_FEED_PASSWORD={values.password}",
        "",
        "# Your Storeden API key pair (Storeden admin, API settings; a READ key is enough):",
        "FEEDSVC_STOREDEN_KEY=",
        "FEEDSVC_STOREDEN_EXCHANGE=",
        "# FEEDSVC_STOREDEN_RATE=5/60",
        "# FEEDSVC_DATA_DIR=./var",
        "# FEEDSVC_TLS_CERT=/etc/letsencrypt/live/feeds.example.com/fullchain.pem",
        "# FEEDSVC_TLS_KEY=/etc/letsencrypt/live/feeds.example.com/privkey.pem",
        "# When TLS ends at a reverse proxy: the proxies whose X-Forwarded-For is believed",
        "# FEEDSVC_TRUSTED_PROXIES=127.0.0.1",
        "",
        "# Push mode (README, \"Feed or push?\"): orders go to Retino's Orders API as they change.",
        "# Create both in Retino, Settings → API v2; the token goes as it is, without \"Bearer\".",
        "# FEEDSVC_RETINO_TOKEN=",
        "# FEEDSVC_RETINO_STORE_ID=main-shop",
        "",
    ])
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)
    return values
