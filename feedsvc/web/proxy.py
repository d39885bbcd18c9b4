"""Believing X-Forwarded-For and X-Forwarded-Proto only from the reverse proxies the settings name.

Anyone can send these headers. A proxy appends the address it saw to
X-Forwarded-For, so the list is read right to left: entries added by trusted
proxies are skipped, and the first address that is not a trusted proxy is the
client. Everything left of it was written by that client and is ignored. A
request whose peer is not a trusted proxy keeps its peer address and its
scheme whatever headers it carries. X-Forwarded-Host is never used: links
are never built from a Host the client chose.
"""

from __future__ import annotations

import ipaddress


def _address(text: str):
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:51234"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR and wsgi.url_scheme from forwarded headers of trusted peers only."""

    def __init__(self, app, networks):
        self.app = app
        self.networks = tuple(networks)

    def trusted(self, address) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client_address(self, peer: str, forwarded_for: str) -> str:
        """The client's address: the nearest hop in X-Forwarded-For that is not a trusted proxy."""
        nearest = peer
        for hop in reversed(forwarded_for.split(",")):
            address = _address(hop)
            if address is None:
                break  # a hop that is not an address: trust nothing further out
            nearest = str(address)
            if not self.trusted(address):
                break
        return nearest

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        if self.trusted(_address(peer)):
            forwarded_for = environ.get("HTTP_X_FORWARDED_FOR", "")
            if forwarded_for:
                environ["REMOTE_ADDR"] = self.client_address(peer, forwarded_for)
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)
