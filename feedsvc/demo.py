"""The pieces of `feedsvc demo` (what `make run` runs): the whole service on one machine, against the simulator.

The demo's environment points every setting at the Storeden simulator, a
self-signed certificate and the demo's own data directory; its token and
password are made once and kept there, so the URL stays the same from one run
to the next. gunicorn is started from the installed package
(`python:feedsvc.gunicorn_conf`, `feedsvc.wsgi:app`), so the demo runs from
any directory, in a checkout or after `pip install`.
"""

from __future__ import annotations

import os
import secrets
import shlex
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import httpx

from feedsvc import jsonutil
from feedsvc.config import Settings

DEMO_USER = "retino"
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "python:feedsvc.gunicorn_conf", "feedsvc.wsgi:app"]


class DemoError(RuntimeError):
    """The demo could not start or its feed did not check out; the message says why."""


def demo_secrets(data_dir: Path) -> dict[str, str]:
    """The demo's token and password: made on the first run, reused afterwards."""
    path = data_dir / "demo-secrets.json"
    if path.is_file():
        return jsonutil.loads(path.read_text())
    values = {"token": secrets.token_hex(32), "password": secrets.token_urlsafe(18)}
    path.write_text(jsonutil.dumps(values))
    path.chmod(0o600)
    return values


def demo_environment(*, sandbox, data_dir: Path, values: dict[str, str], tls: tuple[Path, Path],
                     port: int) -> dict[str, str]:
    """This process's environment without its FEEDSVC_* settings, and the demo's settings instead."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")},
        "FEEDSVC_DATA_DIR": str(data_dir.resolve()),
        "FEEDSVC_STOREDEN_URL": sandbox.url,
        "FEEDSVC_STOREDEN_KEY": sandbox.key,
        "FEEDSVC_STOREDEN_EXCHANGE": sandbox.exchange,
        "FEEDSVC_STOREDEN_RATE": str(sandbox.rate),
        "FEEDSVC_FEED_TOKEN": values["token"],
        "FEEDSVC_FEED_USER": DEMO_USER,
        "FEEDSVC_FEED_PASSWORD": values["password"],
        "FEEDSVC_TLS_CERT": str(tls[0].resolve()),
        "FEEDSVC_TLS_KEY": str(tls[1].resolve()),
        "FEEDSVC_BIND": f"127.0.0.1:{port}",
        "FEEDSVC_SYNC_INTERVAL": "300",
    }


def start_web(env: dict[str, str], data_dir: Path) -> subprocess.Popen:
    """gunicorn with the demo's settings; it runs in the data dir, so no other `.env` is read."""
    return subprocess.Popen(GUNICORN, cwd=data_dir, env=env)


def wait_until_serving(url: str, cafile: Path, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"gunicorn exited with code {process.returncode}; see its log above")
        try:
            httpx.get(url, verify=ssl.create_default_context(cafile=str(cafile)), timeout=2.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise DemoError(f"gunicorn did not answer on {url} within {timeout:.0f}s")


def banner(base: str, values: dict[str, str], cert: Path, result_line: str, report_line: str) -> list[str]:
    """What to paste into Retino, and how to fetch the feed by hand."""
    return [
        "",
        click.style("feedsvc demo is serving the feed over HTTPS", bold=True),
        f"  {result_line}",
        f"  {report_line}",
        "",
        "Paste into Retino (Settings → Orders → XML feed), either:",
        f"  URL with Basic auth:  {base}/feed.xml",
        f"      user:             {DEMO_USER}",
        f"      password:         {values['password']}",
        f"  or the secret URL:    {base}/feed/{values['token']}.xml",
        "",
        "Fetch it yourself:",
        f"  curl --cacert {shlex.quote(str(cert))} -u {DEMO_USER}:{shlex.quote(values['password'])} "
        f"{base}/feed.xml -o feed.xml",
        f"Dashboard: {base}/   (same user and password)",
        "(The certificate is self-signed for the demo; production uses a real one, see README.)",
    ]


def keep_fresh(settings: Settings, stop: threading.Event) -> None:
    """Keep syncing and publishing in the background, as `feedsvc sync --forever` does in production."""
    from feedsvc.pipeline import run_forever

    thread = threading.Thread(target=run_forever, args=(settings,), kwargs={"stop_event": stop},
                              name="feedsvc-sync", daemon=True)
    thread.start()


def check_served(base: str, values: dict[str, str], cert: Path, data_dir: Path) -> tuple[str, bool]:
    """Fetch the feed the way Retino will and validate what came back: (what was found, whether it is valid)."""
    from feedsvc.retino.validate import validate_bytes

    response = httpx.get(f"{base}/feed.xml", auth=(DEMO_USER, values["password"]),
                         verify=ssl.create_default_context(cafile=str(cert)), timeout=60)
    if response.status_code != 200:
        raise DemoError(f"the served feed answered {response.status_code}")
    report = validate_bytes(response.content)
    target = data_dir / "feed.xml"
    target.write_bytes(response.content)
    line = (f"\ncheck: fetched {len(response.content)} bytes over HTTPS into {target}; "
            f"{report.orders} orders, {report.errors} errors, {report.warnings} warnings")
    return line, report.valid
