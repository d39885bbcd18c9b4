"""gunicorn settings for feedsvc: address, workers, deadlines for slow clients, TLS, logs without secrets.

Every value comes from the settings (config.py: the environment and `.env`),
checked at start-up: a bad one stops the master with the variable named. Use
it as `gunicorn -c python:feedsvc.gunicorn_conf feedsvc.wsgi:app` from
anywhere (the top-level gunicorn.conf.py is the same, for the checkout).
The worker is `feedsvc.web.worker.DeadlineWorker` (gevent): a connection costs
a greenlet, not a thread, and one that has not sent its request headers within
FEEDSVC_HEADER_TIMEOUT seconds of being accepted (TLS handshake included) is
closed, and so is one whose client stops reading for FEEDSVC_SEND_TIMEOUT
seconds, so slow or idle clients cannot starve the feed.
"""

from __future__ import annotations

import resource
import sys

from gunicorn.glogging import Logger

from feedsvc.config import load_settings
from feedsvc.web.redact import RedactingFilter, Redactor
from feedsvc.web.worker import DeadlineWorker

__all__ = [
    "access_log_format",
    "accesslog",
    "backlog",
    "bind",
    "certfile",
    "control_socket_disable",
    "errorlog",
    "forwarded_allow_ips",
    "graceful_timeout",
    "keepalive",
    "keyfile",
    "logger_class",
    "loglevel",
    "preload_app",
    "timeout",
    "worker_class",
    "worker_connections",
    "workers",
]

_settings = load_settings()
_settings.require_feed_auth()
certfile: str | None = None
keyfile: str | None = None


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
workers = _settings.workers
worker_class = "feedsvc.web.worker.DeadlineWorker"
worker_connections = _open_files_for(_settings.worker_connections)
DeadlineWorker.header_timeout = _settings.header_timeout
DeadlineWorker.send_timeout = _settings.send_timeout
timeout = 60
graceful_timeout = 30
keepalive = 5
backlog = 2048
preload_app = True
accesslog = _settings.access_log
errorlog = _settings.error_log
loglevel = _settings.log_level
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
