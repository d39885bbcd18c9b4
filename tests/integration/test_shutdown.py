"""Ctrl-C in the terminal that runs the server (`make run`): every process stops, quietly and cleanly."""

import os
import signal

from feedsvc.tls import ensure_self_signed
from tests.helpers.data import publish_feed
from tests.helpers.servers import GunicornServer, base_env


def test_ctrl_c_stops_gunicorn_and_its_workers_without_a_traceback(tmp_path):
    data_dir = tmp_path / "data"
    publish_feed(data_dir)
    server = GunicornServer(base_env(data_dir), tls=ensure_self_signed(tmp_path), workers=3, own_session=True)
    with server:
        with server.client() as client:
            assert client.get("/healthz").status_code == 200
        # A terminal's Ctrl-C: SIGINT to the whole process group (the arbiter and every worker at once).
        os.killpg(server.process.pid, signal.SIGINT)
        output, _ = server.process.communicate(timeout=60)
    text = output.decode(errors="replace") + server.logs()
    assert server.process.returncode == 0, text[-3000:]
    assert "Traceback" not in text and "SystemExit" not in text, text[-3000:]
    assert "Shutting down: Master" in text
