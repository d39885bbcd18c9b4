"""Real processes for integration tests: gunicorn over TLS on 127.0.0.1 and a free port, and the `feedsvc`
command as a child process, with the environment they are given in production (FEEDSVC_* variables)."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "5f" * 32
USER, PASSWORD = "retino", "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(data_dir: Path, **extra) -> dict[str, str]:
    """This process's environment without its FEEDSVC_* variables, plus a data dir and the feed's credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env.update({"FEEDSVC_DATA_DIR": str(data_dir), "FEEDSVC_FEED_TOKEN": TOKEN, "FEEDSVC_FEED_USER": USER,
                "FEEDSVC_FEED_PASSWORD": PASSWORD})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def storeden_env(sandbox, *, rate: tuple[int, float] | None = None) -> dict[str, str]:
    """The settings that point feedsvc at a running Storeden simulator, at the rate it allows unless `rate`."""
    requests, seconds = rate or sandbox.rate
    return {"FEEDSVC_STOREDEN_URL": sandbox.url, "FEEDSVC_STOREDEN_KEY": sandbox.key,
            "FEEDSVC_STOREDEN_EXCHANGE": sandbox.exchange, "FEEDSVC_STOREDEN_RATE": f"{requests}/{seconds:g}"}


def retino_env(sandbox, *, token: str | None = None, store_id: str | None = None) -> dict[str, str]:
    """The settings that make feedsvc push to a running Retino simulator (its token and first store unless told)."""
    return {"FEEDSVC_RETINO_URL": sandbox.url, "FEEDSVC_RETINO_TOKEN": token or sandbox.token,
            "FEEDSVC_RETINO_STORE_ID": store_id or sandbox.store_ids[0]}


class GunicornServer:
    """`with GunicornServer(env, tls=(cert, key)) as server:` then server.url, server.client()."""

    def __init__(self, env: dict[str, str], *, tls: tuple[Path, Path] | None = None, workers: int = 2,
                 log_dir: Path | None = None, own_session: bool = False, app: str = "wsgi:app"):
        self.app = app  # the WSGI app gunicorn serves with feedsvc's configuration (benchmarks swap in a baseline)
        self.own_session = own_session  # a process group of its own, as a terminal gives a command (Ctrl-C)
        self.port = free_port()
        self.tls = tls
        self.log_dir = Path(log_dir or env["FEEDSVC_DATA_DIR"])
        self.access_log = self.log_dir / "access.log"
        self.error_log = self.log_dir / "error.log"
        self.env = dict(env, FEEDSVC_BIND=f"127.0.0.1:{self.port}", FEEDSVC_WORKERS=str(workers),
                        FEEDSVC_ACCESS_LOG=str(self.access_log), FEEDSVC_ERROR_LOG=str(self.error_log))
        if tls:
            self.env.update(FEEDSVC_TLS_CERT=str(tls[0]), FEEDSVC_TLS_KEY=str(tls[1]))
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def client(self, **kw) -> httpx.Client:
        verify = ssl.create_default_context(cafile=str(self.tls[0])) if self.tls else False
        kw.setdefault("timeout", 30)
        return httpx.Client(base_url=self.url, verify=verify, **kw)

    def start(self) -> GunicornServer:
        self.process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", self.app],
                                        cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        start_new_session=self.own_session)
        return self._wait_until_up()

    def _wait_until_up(self) -> GunicornServer:
        deadline = time.monotonic() + 30
        with self.client() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    output = self.process.stdout.read().decode(errors="replace") if self.process.stdout else ""
                    raise RuntimeError(f"gunicorn exited with {self.process.returncode}: {output[-2000:]}")
                try:
                    client.get("/healthz")
                    return self
                except httpx.TransportError:
                    time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not start within 30 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> GunicornServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in (self.access_log, self.error_log) if p.exists())


def run_gunicorn_expecting_failure(env: dict[str, str]) -> tuple[int, str]:
    """Start gunicorn with a configuration it must refuse; returns (exit code, output)."""
    env = dict(env, FEEDSVC_BIND=f"127.0.0.1:{free_port()}")
    done = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                          env=env, capture_output=True, timeout=60)
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


def run_feedsvc(args: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    """`feedsvc ARGS` as a child process (text output captured), from the checkout unless `cwd` says."""
    return subprocess.run([sys.executable, "-m", "feedsvc.cli", *args], cwd=kw.pop("cwd", ROOT), env=env,
                          capture_output=True, text=True, timeout=kw.pop("timeout", 300), **kw)
