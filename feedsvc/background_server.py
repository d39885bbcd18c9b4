"""A WSGI app served on a background thread (werkzeug's threaded server): how the simulators run in-process.

Tests, the demo and the benchmarks start a simulator on 127.0.0.1 and a free
port, talk to it over real sockets, and stop it; `serve_forever()` runs one
in the foreground for the `feedsvc sandbox` commands. Request lines are not
logged.
"""

from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class BackgroundServer:
    """`app` on `host:port` (port 0: a free one); use as a context manager, or start() and stop()."""

    def __init__(self, app, *, host: str = "127.0.0.1", port: int = 0, name: str = "background-server"):
        self.app = app
        self.server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        self.host, self.port = host, self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C."""
        try:
            self.server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.server.server_close()
