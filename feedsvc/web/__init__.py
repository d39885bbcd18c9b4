"""The web app: the feed, the dashboard and /healthz, behind the feed's credentials.

`create_app()` refuses to build an app that could serve the feed to anyone:
without a token or a user and password it raises ConfigError. Error pages are
plain text and never show a trace or a setting. Nothing the app answers is
built from the request's Host header: links are relative, and a Location
header is made relative before it leaves (werkzeug's routing redirects would
name the Host).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from feedsvc.config import Settings, load_settings
from feedsvc.delivery import DeliveryLog
from feedsvc.web.auth import FailureLimiter
from feedsvc.web.params import BadParameter
from feedsvc.web.proxy import TrustedProxies
from feedsvc.web.redact import Redactor


def _session_key(settings: Settings) -> bytes:
    """A random key kept in the data dir, so every worker signs sessions alike.

    The first process to link its key into place wins; the others read that one.
    """
    path = Path(settings.data_dir) / "session.key"
    if not path.is_file():
        temporary = path.with_name(f"session.key.{secrets.token_hex(8)}.tmp")
        temporary.write_bytes(secrets.token_bytes(32))
        temporary.chmod(0o600)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_bytes()


def _relative(location: str) -> str:
    """`location` without its scheme and host: a redirect stays on whatever host the client used."""
    parts = urlsplit(location)
    path = "/" + parts.path.lstrip("/")  # never "//host/…", which a browser reads as another host
    return urlunsplit(("", "", path, parts.query, parts.fragment))


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    settings.require_feed_auth()
    app = Flask(__name__)
    app.url_map.merge_slashes = False  # "/feed//x.xml" is a wrong token (404), not a redirect
    limiter = FailureLimiter(Path(settings.data_dir) / "auth.sqlite3")
    app.config.update(FEEDSVC_SETTINGS=settings, FEEDSVC_LIMITER=limiter, SECRET_KEY=_session_key(settings),
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_SECURE=settings.tls_enabled or settings.trust_proxy,
                      PROPAGATE_EXCEPTIONS=False, TRAP_HTTP_EXCEPTIONS=False)
    if settings.trust_proxy:
        app.wsgi_app = TrustedProxies(app.wsgi_app, settings.proxy_networks)  # type: ignore[method-assign]

    from feedsvc.web import dashboard, deliveries, delivery, feed, health, metrics
    app.register_blueprint(feed.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(deliveries.bp)
    app.register_blueprint(metrics.bp)
    delivery.install(app, DeliveryLog(settings.delivery_log_path), Redactor(settings.secrets()))

    @app.errorhandler(HTTPException)
    def plain_error(error: HTTPException):
        text = f"{error.code} {error.name}\n"
        if isinstance(error, BadParameter):
            text += f"{error.description}\n"
        response = Response(text, status=error.code, mimetype="text/plain")
        if isinstance(error, MethodNotAllowed):
            response.headers["Allow"] = ", ".join(error.valid_methods or [])
        return response

    @app.errorhandler(Exception)
    def crash(error: Exception):
        app.logger.error("unhandled %s while answering a request", type(error).__name__)
        return Response("500 Internal Server Error\n", status=500, mimetype="text/plain")

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if "Location" in response.headers:
            response.headers["Location"] = _relative(response.headers["Location"])
        from flask import request
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    return app
