"""The disk fails during a publish: the old snapshot stays served, and status and /healthz say why."""

import errno
import os

import pytest

from feedsvc.build import build_and_publish
from feedsvc.publish import PublishError
from feedsvc.sync import run_sync
from tests.helpers.servers import PASSWORD, USER, GunicornServer, run_feedsvc


@pytest.mark.shop(seed=61, orders=40)
@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS], ids=["disk-full", "read-only"])
def test_failed_publish_keeps_the_old_feed_and_is_reported(data_dir, storeden, storeden_env, storeden_settings,
                                                           monkeypatch, error):
    env, settings = storeden_env, storeden_settings
    run_sync(settings, progress=False)
    first = build_and_publish(settings)
    storeden.shop.advance(new_orders=3)
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
    status = run_feedsvc(["status"], env)
    assert "last publish FAILED" in status.stdout and os.strerror(error) in status.stdout
    assert not [p for p in (data_dir / "snapshots").iterdir() if p.name.startswith(".staging")]
