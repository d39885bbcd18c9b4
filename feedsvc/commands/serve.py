"""`feedsvc serve`: the development server, the web app and the sync loop in one process (production: gunicorn)."""

from __future__ import annotations

import logging
import threading

import click

from feedsvc.config import load_settings


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
