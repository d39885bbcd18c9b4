"""The WSGI entry point for a checkout (`gunicorn -c gunicorn.conf.py wsgi:app`): feedsvc/wsgi.py's."""

from feedsvc.wsgi import app  # noqa: F401
