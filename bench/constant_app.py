"""The serving benchmark's baseline: a WSGI app that answers every GET with bytes held in memory.

It is started by gunicorn with the same configuration as feedsvc, so the
difference between the two is what feedsvc's feed route costs (auth, reading
the snapshot, headers). The bytes are the published feed and its gzip file,
read once at import: `BENCH_CONSTANT_XML` and `BENCH_CONSTANT_GZ` name them.
`/feed.xml.gz` (or `Accept-Encoding: gzip`) gets the gzip bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

_XML = Path(os.environ["BENCH_CONSTANT_XML"]).read_bytes()
_GZ = Path(os.environ["BENCH_CONSTANT_GZ"]).read_bytes()


def app(environ, start_response):
    wants_gzip = environ.get("PATH_INFO", "").endswith(".gz") or "gzip" in environ.get(
        "HTTP_ACCEPT_ENCODING", "")
    body = _GZ if wants_gzip else _XML
    headers = [("Content-Type", "application/xml; charset=utf-8"),
               ("Content-Length", str(len(body)))]
    if wants_gzip and not environ.get("PATH_INFO", "").endswith(".gz"):
        headers.append(("Content-Encoding", "gzip"))
    start_response("200 OK", headers)
    return [body]
