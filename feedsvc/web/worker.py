"""The gunicorn worker for a public port: gevent, with a deadline on the TLS handshake and request headers.

gunicorn's threaded worker does the TLS handshake and reads the request
headers in its small thread pool, so a few dozen clients that connect and then
stall (three bytes of a ClientHello, half a request line) hold every thread and
nobody else is served. Here every connection is a greenlet of a gevent worker
(a few kilobytes, so a worker holds `worker_connections` of them at once), the
pool is bounded (a full worker stops accepting, the kernel's backlog waits),
and a connection that has not finished its handshake and its first request's
headers `header_timeout` seconds after it was accepted is shut down. The
following requests on a kept-alive connection have gunicorn's `keepalive`
seconds to arrive. A slow reader holds only its own greenlet, and only while
it keeps taking data: a single write of a response (at most 4 MB, see
`feed.SEND_CHUNK`) that cannot finish within `send_timeout` seconds closes
the connection, so clients that stop reading cannot fill the pool for good.

The handshake is done here rather than by gevent's server, so that it falls
under the deadline: the server hands over the plain socket and this worker
wraps it with the TLS context and `do_handshake_on_connect=False`.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from functools import partial

import gevent
from gevent.pool import Pool
from gevent.server import StreamServer
from gunicorn.sock import ssl_context
from gunicorn.workers.ggevent import GeventWorker

from feedsvc.config import default_value


def shut_down(sock) -> None:
    """End the TCP connection under `sock` (TLS or not) so a greenlet blocked on it wakes up with EOF.

    shutdown() on a duplicate of the descriptor leaves the original socket
    object and its TLS state alone; its owner sees end-of-file and closes it
    through its usual path.
    """
    try:
        duplicate = socket.socket(fileno=socket.dup(sock.fileno()))
    except OSError:
        return  # already closed
    with duplicate:
        with contextlib.suppress(OSError):
            duplicate.shutdown(socket.SHUT_RDWR)


class DeadlineWorker(GeventWorker):
    """gunicorn's gevent worker with a handshake-and-headers deadline per connection."""

    # Set from the settings by the gunicorn configuration (FEEDSVC_HEADER_TIMEOUT, FEEDSVC_SEND_TIMEOUT).
    header_timeout: float = default_value("header_timeout")
    send_timeout: float = default_value("send_timeout")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._deadlines: dict = {}  # greenlet -> its connection's timer, until the first headers are in
        self._quitting = False

    def init_process(self) -> None:
        # Until gunicorn installs the worker's own handlers (after gevent has patched, which takes a
        # while), a signal would reach the handler inherited from the arbiter and be lost: a worker
        # told to stop while booting would then run on until the arbiter gave up and killed it.
        signal.signal(signal.SIGTERM, self.handle_exit)
        for quit_signal in (signal.SIGINT, signal.SIGQUIT):
            signal.signal(quit_signal, signal.SIG_DFL)
        super().init_process()

    def handle_quit(self, sig, frame) -> None:
        # Ctrl-C in a terminal reaches a worker twice: the SIGINT sent to the whole process group, then
        # the arbiter's SIGQUIT. A second quit while the first one is exiting raises SystemExit inside
        # gevent's interpreter shutdown, which prints a traceback; one quit is enough.
        if self._quitting:
            return
        self._quitting = True
        super().handle_quit(sig, frame)

    def run(self) -> None:
        context = ssl_context(self.cfg) if self.cfg.is_ssl else None
        servers = []
        for listener in self.sockets:
            listener.setblocking(1)
            server = StreamServer(listener, handle=partial(self._serve_connection, listener, context),
                                  spawn=Pool(self.worker_connections))
            if self.cfg.workers > 1:
                server.max_accept = 1  # take one connection and let the other workers have the next
            server.start()
            servers.append(server)

        while self.alive:
            self.notify()
            gevent.sleep(1.0)
        self._drain(servers)

    def _drain(self, servers) -> None:
        """Stop accepting, let the requests in progress finish for graceful_timeout, then stop."""
        for server in servers:
            server.close()
        began = time.monotonic()
        while time.monotonic() - began <= self.cfg.graceful_timeout:
            if all(server.pool.free_count() == server.pool.size for server in servers):
                return
            self.notify()
            gevent.sleep(1.0)
        self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
        for server in servers:
            server.stop(timeout=1)

    def _serve_connection(self, listener, context, client, address) -> None:
        current = gevent.getcurrent()
        connection = [client]  # the TLS wrapper replaces the plain socket; the timer shuts whichever is live
        timer = gevent.get_hub().loop.timer(self.header_timeout)
        timer.start(lambda: shut_down(connection[0]))
        self._deadlines[current] = timer
        try:
            if context is not None:
                connection[0] = context.wrap_socket(client, server_side=True, do_handshake_on_connect=False,
                                                    suppress_ragged_eofs=self.cfg.suppress_ragged_eofs)
            self.handle(listener, connection[0], address)  # handshake, headers, then the request(s)
        finally:
            self._end_deadline(current)
            connection[0].close()

    def _end_deadline(self, greenlet) -> None:
        timer = self._deadlines.pop(greenlet, None)
        if timer is not None:
            timer.stop()
            timer.close()

    def timeout_ctx(self):
        # While the first request's deadline runs, it alone limits the wait for the headers.
        if gevent.getcurrent() in self._deadlines:
            return contextlib.nullcontext()
        return super().timeout_ctx()

    def handle_request(self, listener_name, req, sock, addr):
        self._end_deadline(gevent.getcurrent())  # the headers are in
        sock.settimeout(self.send_timeout)  # from now on each read or write must finish in this time
        try:
            return super().handle_request(listener_name, req, sock, addr)
        except TimeoutError:
            self.log.debug("Closing a connection whose client stalled for %.0f s", self.send_timeout)
            raise StopIteration() from None  # the caller closes the connection quietly
