"""The feed routes: the published snapshot's bytes, never rendered on request.

One reading of CURRENT picks the snapshot; its files are opened before the
response starts and streamed from the open handles, so a publish in the
middle of a download cannot mix two snapshots.
"""

from __future__ import annotations

from email.utils import formatdate

from flask import Blueprint, Response, abort, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import unquote_etag
from werkzeug.wsgi import wrap_file

from feedsvc.publish import open_current
from feedsvc.web.auth import TOKEN_USER, check_token, refuse_guess, require_basic_auth

bp = Blueprint("feed", __name__)
XML_TYPE = "application/xml; charset=utf-8"
# Bytes read and written at a time: a gzip feed of 10,000 orders (under 2 MB) leaves in one write,
# and a download in flight holds at most this much memory.
SEND_CHUNK = 4 << 20


def _accepts_gzip() -> bool:
    """Whether Accept-Encoding takes gzip (or x-gzip, or `*`) with a quality above 0."""
    return request.accept_encodings.best_match(("gzip", "x-gzip")) is not None


def _not_modified(etag: str, modified: float) -> bool:
    """RFC 9110 §13.1: If-None-Match (weak comparison) decides when present, else If-Modified-Since."""
    if "If-None-Match" in request.headers:
        return request.if_none_match.contains_weak(unquote_etag(etag)[0])
    since = request.if_modified_since
    return since is not None and int(modified) <= since.timestamp()


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
        return current_app.make_response(current_app.handle_http_exception(error))


@bp.route("/feed/<token>.xml", methods=["GET", "HEAD"])
def token_feed(token: str):
    return _token_feed(token, gzip_url=False)


@bp.route("/feed/<token>.xml.gz", methods=["GET", "HEAD"])
def token_feed_gz(token: str):
    return _token_feed(token, gzip_url=True)
