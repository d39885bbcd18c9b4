"""`feedsvc init`: a `.env` with a fresh feed token and Basic-auth password, and the URLs to give Retino."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from feedsvc.commands import EXIT_FAILED
from feedsvc.envfile import EnvFileExists, write_env


@click.command("init")
@click.option("--path", type=click.Path(dir_okay=False, path_type=Path), default=Path(".env"), show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing file (its secrets change).")
@click.option("--base-url", default="https://feeds.example.com", show_default=True,
              help="The public HTTPS address the feed will be served on.")
def init_command(path: Path, force: bool, base_url: str) -> None:
    """Write a .env with a fresh feed token and Basic-auth password.

    \b
    Example:
      feedsvc init --base-url https://feeds.myshop.it
    """
    try:
        values = write_env(path, force=force)
    except EnvFileExists as exc:
        click.echo(f"feedsvc init: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    base = base_url.rstrip("/")
    click.echo(f"Wrote {path} (readable by you only). Add your Storeden key pair to it.")
    click.echo("")
    click.echo("Register one of these in Retino (Settings → Orders → XML feed):")
    click.echo(f"  {base}/feed.xml   user: {values.user}   password: {values.password}")
    click.echo(f"  {base}/feed/{values.token}.xml   (secret URL, no password)")
