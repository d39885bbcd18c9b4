"""The feed routes: the published snapshot's bytes, never rendered on request.

One reading of CURRENT picks the snapshot; its files are opened before the
response starts and streamed from the open handles, so a publish in the
middle of a download cannot mix two snapshots.
"""

from __future__ import annotations

from email.utils import formatdate, parsedate_to_datetime

from flask import Blueprint, Response, abort, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import wrap_file

from feedsvc.publish import open_current
from feedsvc.web.auth import TOKEN_USER, check_token, refuse_guess, require_basic_auth

bp = Blueprint("feed", __name__)
XML_TYPE = "application/xml; charset=utf-8"
# Bytes read and written at a time: a gzip feed of 10,000 orders (under 2 MB) leaves in one write,
# and a download in flight holds at most this much memory.
SEND_CHUNK = 4 << 20


def _accepts_gzip() -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, *params = [piece.strip() for piece in part.split(";")]
        if coding.lower() not in ("gzip", "x-gzip"):
            continue
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        return quality > 0
    return False


def _etag_matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def _not_modified(etag: str, modified: float) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, etag)
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return int(modified) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError, IndexError):
            return False
    return False


def serve_snapshot(gzip_url: bool) -> Response:
    settings = current_app.config["FEEDSVC_SETTINGS"]
    compressed = gzip_url or _accepts_gzip()
    opened = open_current(settings.snapshots_dir, compressed=compressed)
    if opened is None:
        return Response("No feed has been published yet; the first sync is running.\n", status=503,
                        mimetype="text/plain", headers={"Retry-After": "60", "Cache-Control": "no-store"})
    snapshot, body = opened
    etag = snapshot.gzip_etag if compressed else snapshot.etag
    headers = {
        "ETag": etag,
        "Last-Modified": formatdate(int(snapshot.created_ts), usegmt=True),
        "Cache-Control": "private, no-cache",
    }
    if not gzip_url:
        headers["Vary"] = "Accept-Encoding"
    if _not_modified(etag, snapshot.created_ts):
        body.close()
        return Response(status=304, headers=headers)
    headers["Content-Length"] = str(snapshot.gzip_size if compressed else snapshot.size)
    if compressed and not gzip_url:
        headers["Content-Encoding"] = "gzip"
    mimetype = "application/gzip" if gzip_url else None
    response = Response(wrap_file(request.environ, body, buffer_size=SEND_CHUNK), headers=headers,
                        direct_passthrough=True,
                        content_type=XML_TYPE if mimetype is None else mimetype)
    response.call_on_close(body.close)
    return response


@bp.route("/feed.xml", methods=["GET", "HEAD"])
@require_basic_auth
def basic_feed():
    return serve_snapshot(gzip_url=False)


@bp.route("/feed.xml.gz", methods=["GET", "HEAD"])
@require_basic_auth
def basic_feed_gz():
    return serve_snapshot(gzip_url=True)


def _token_feed(token: str, gzip_url: bool) -> Response:
    if check_token(token, current_app.config["FEEDSVC_SETTINGS"]):
        return serve_snapshot(gzip_url=gzip_url)
    return refuse_guess(TOKEN_USER, _not_found())


def _not_found() -> Response:
    """The same answer as any unknown path, so a wrong token says nothing."""
    try:
        abort(404)
    except HTTPException as error:
        return current_app.handle_http_exception(error)


@bp.route("/feed/<token>.xml", methods=["GET", "HEAD"])
def token_feed(token: str):
    return _token_feed(token, gzip_url=False)


@bp.route("/feed/<token>.xml.gz", methods=["GET", "HEAD"])
def token_feed_gz(token: str):
    return _token_feed(token, gzip_url=True)
