"""gunicorn settings for feedsvc: address, workers, timeouts, TLS, and logs that never show the token.

Everything comes from the environment (and `.env`), the same variables the
app reads; a bad value stops the master at start-up with the variable named.
"""

import logging
import multiprocessing
import os
import re

from gunicorn.glogging import Logger

from feedsvc.config import load_settings

_settings = load_settings()
_settings.require_feed_auth()

bind = [_settings.bind]
workers = int(os.environ.get("FEEDSVC_WORKERS") or min(2 * multiprocessing.cpu_count() + 1, 8))
worker_class = "gthread"
threads = 4
timeout = 60
graceful_timeout = 30
keepalive = 5
preload_app = True
accesslog = os.environ.get("FEEDSVC_ACCESS_LOG", "-")
errorlog = os.environ.get("FEEDSVC_ERROR_LOG", "-")
loglevel = os.environ.get("FEEDSVC_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss "%(a)s"'
if _settings.tls_enabled:
    certfile = str(_settings.tls_cert)
    keyfile = str(_settings.tls_key)
if _settings.trust_proxy:
    forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

_TOKEN_PATH = re.compile(r"/feed/[^/\s?\"]+?(?=\.xml|/|\s|\"|$)")
_SECRETS = tuple(_settings.secrets())


def redact(text: str) -> str:
    text = _TOKEN_PATH.sub("/feed/<redacted>", text)
    for secret in _SECRETS:
        text = text.replace(secret, "<redacted>")
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True


class RedactingLogger(Logger):
    """gunicorn's logger with the feed token taken out of every access and error line."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            log.addFilter(_RedactingFilter())
            for handler in log.handlers:
                handler.addFilter(_RedactingFilter())


logger_class = RedactingLogger
