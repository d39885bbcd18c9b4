"""`feedsvc init` (secrets into .env) and `feedsvc serve` (development server with the sync loop)."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import click

from feedsvc.config import load_settings
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
        sys.exit(1)
    base = base_url.rstrip("/")
    click.echo(f"Wrote {path} (readable by you only). Add your Storeden key pair to it.")
    click.echo("")
    click.echo("Register one of these in Retino (Settings → Orders → XML feed):")
    click.echo(f"  {base}/feed.xml   user: {values.user}   password: {values.password}")
    click.echo(f"  {base}/feed/{values.token}.xml   (secret URL, no password)")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--no-sync", is_flag=True, help="Serve only; do not run the sync loop in-process.")
def serve_command(host: str, port: int, no_sync: bool) -> None:
    """Development server: the web app plus the sync loop in one process (production: gunicorn).

    It has no defence against slow clients: never expose it to the internet.

    \b
    Example:
      feedsvc serve --port 8443      # HTTPS when FEEDSVC_TLS_CERT/KEY are set
    """
    from werkzeug.serving import run_simple

    from feedsvc.web import create_app
    from feedsvc.web.redact import RedactingFilter, Redactor

    settings = load_settings()
    app = create_app(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:  # werkzeug logs every request line, token included
        handler.addFilter(RedactingFilter(Redactor(settings.secrets())))
    stop = threading.Event()
    if not no_sync:
        from feedsvc.pipeline import run_forever
        threading.Thread(target=run_forever, args=(settings,), daemon=True, name="feedsvc-sync",
                         kwargs={"stop_event": stop}).start()
    ssl_context = (str(settings.tls_cert), str(settings.tls_key)) if settings.tls_enabled else None
    try:
        run_simple(host, port, app, threaded=True, ssl_context=ssl_context, use_reloader=False)
    finally:
        stop.set()
