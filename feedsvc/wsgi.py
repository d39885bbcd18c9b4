"""The WSGI application for gunicorn: `gunicorn -c python:feedsvc.gunicorn_conf feedsvc.wsgi:app`."""

from feedsvc.web import create_app

app = create_app()
