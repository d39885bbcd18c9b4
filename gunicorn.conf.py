"""gunicorn settings for feedsvc: address, workers, deadlines for slow clients, TLS, logs without secrets.

Everything comes from the environment (and `.env`), the same variables the
app reads; a bad value stops the master at start-up with the variable named.
The worker is `feedsvc.web.worker.DeadlineWorker` (gevent): a connection costs
a greenlet, not a thread, and one that has not sent its request headers within
FEEDSVC_HEADER_TIMEOUT seconds of being accepted (TLS handshake included) is
closed, and so is one whose client stops reading for FEEDSVC_SEND_TIMEOUT
seconds, so slow or idle clients cannot starve the feed.
"""

import multiprocessing
import os
import resource
import sys

from gunicorn.glogging import Logger

from feedsvc.config import ConfigError, load_settings
from feedsvc.web.redact import RedactingFilter, Redactor
from feedsvc.web.worker import DeadlineWorker

_settings = load_settings()
_settings.require_feed_auth()


def _number(name: str, default: float, minimum: float, maximum: float, what: str = "a number of seconds") -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"expected {what}, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(name, f"must be between {minimum:g} and {maximum:g}, got {raw}")
    return value


def _open_files_for(connections: int) -> int:
    """Raise this process's open-file limit (the workers inherit it) so `connections` sockets fit.

    Returns how many connections a worker may hold within the limit it got.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256  # logs, SQLite files, snapshots, the listener
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return connections
    allowed = max(64, soft - 256)
    print(f"feedsvc: the open-file limit is {soft} (hard {hard}): {allowed} connections per worker, "
          f"not {connections}", file=sys.stderr)
    return allowed


bind = [_settings.bind]
workers = int(os.environ.get("FEEDSVC_WORKERS") or min(2 * multiprocessing.cpu_count() + 1, 8))
worker_class = "feedsvc.web.worker.DeadlineWorker"
worker_connections = _open_files_for(int(_number("FEEDSVC_WORKER_CONNECTIONS", 1000, 64, 100_000,
                                                 what="a number of connections")))
DeadlineWorker.header_timeout = _number("FEEDSVC_HEADER_TIMEOUT", 10.0, 0.1, 300.0)
DeadlineWorker.send_timeout = _number("FEEDSVC_SEND_TIMEOUT", 60.0, 0.1, 3600.0)
timeout = 60
graceful_timeout = 30
keepalive = 5
backlog = 2048
preload_app = True
accesslog = os.environ.get("FEEDSVC_ACCESS_LOG", "-")
errorlog = os.environ.get("FEEDSVC_ERROR_LOG", "-")
loglevel = os.environ.get("FEEDSVC_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss "%(a)s"'
if _settings.tls_enabled:
    certfile = str(_settings.tls_cert)
    keyfile = str(_settings.tls_key)
# gunicorn believes X-Forwarded-Proto only from these peers; the app does the same for X-Forwarded-For.
forwarded_allow_ips = ",".join(str(network) for network in _settings.proxy_networks)

_redactor = Redactor(_settings.secrets())


class RedactingLogger(Logger):
    """gunicorn's logger with the feed token taken out of every access and error line."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            log.addFilter(RedactingFilter(_redactor))
            for handler in log.handlers:
                handler.addFilter(RedactingFilter(_redactor))


logger_class = RedactingLogger
control_socket_disable = True  # no shared control socket in $HOME: several servers may run side by side
