"""gunicorn settings for a checkout (`gunicorn -c gunicorn.conf.py wsgi:app`): feedsvc/gunicorn_conf.py's."""

from feedsvc.gunicorn_conf import *  # noqa: F403
