"""The disk fails during a publish: the old snapshot stays served, and status and /healthz say why."""

import errno
import os
import time

import pytest

from feedsvc.build import build_and_publish
from feedsvc.config import load_settings
from feedsvc.publish import PublishError
from feedsvc.storeden.sandbox import SandboxServer
from feedsvc.storeden.shop import Shop
from feedsvc.sync import run_sync
from tests.integration.servers import PASSWORD, USER, GunicornServer, base_env, feedsvc


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS], ids=["disk-full", "read-only"])
def test_failed_publish_keeps_the_old_feed_and_is_reported(tmp_path, monkeypatch, error):
    with SandboxServer(Shop(seed=61, orders=40, now=time.time() - 5), rate=(1000, 1.0)) as sandbox:
        env = base_env(tmp_path, FEEDSVC_STOREDEN_URL=sandbox.url, FEEDSVC_STOREDEN_KEY=sandbox.key,
                       FEEDSVC_STOREDEN_EXCHANGE=sandbox.exchange, FEEDSVC_STOREDEN_RATE="1000/1")
        settings = load_settings(env)
        run_sync(settings, progress=False)
        first = build_and_publish(settings)
        sandbox.shop.advance(new_orders=3)
        run_sync(settings, progress=False)

    def broken_disk(*args, **kwargs):
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(os, "replace", broken_disk)
    with pytest.raises(PublishError, match=os.strerror(error)):
        build_and_publish(settings)
    monkeypatch.undo()

    with GunicornServer(env) as server, server.client(auth=(USER, PASSWORD)) as client:
        feed = client.get("/feed.xml", headers={"Accept-Encoding": "identity"})
        health = client.get("/healthz")
    assert feed.status_code == 200 and feed.headers["etag"] == f'"{first.sha256}"'
    body = health.json()
    assert health.status_code == 503 and body["status"] == "publish_failed"
    assert any(os.strerror(error) in reason for reason in body["reasons"])
    status = feedsvc(["status"], env)
    assert "last publish FAILED" in status.stdout and os.strerror(error) in status.stdout
    assert not [p for p in (tmp_path / "snapshots").iterdir() if p.name.startswith(".staging")]
