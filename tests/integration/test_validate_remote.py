"""`feedsvc validate` against the project's own HTTPS server, as a shop owner would run it."""

import json
from pathlib import Path

import pytest

from feedsvc.tls import ensure_self_signed
from tests.helpers.data import publish_feed
from tests.helpers.servers import PASSWORD, TOKEN, USER, GunicornServer, base_env, free_port, run_feedsvc


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("remote")
    cert = ensure_self_signed(data_dir)
    publish_feed(data_dir)
    with GunicornServer(base_env(data_dir), tls=cert) as running:
        yield running, cert[0]


def run(args):
    return run_feedsvc(["validate", *args, "--days", "100000"], base_env(Path("/tmp")))


def test_valid_with_the_right_credentials(server):
    running, ca = server
    done = run([f"{running.url}/feed.xml", "--user", USER, "--password", PASSWORD, "--ca-cert", str(ca), "--json"])
    assert done.returncode == 0, done.stdout + done.stderr
    body = json.loads(done.stdout)
    assert body["valid"] and body["orders"] == 2


def test_token_url_and_gzip_url(server):
    running, ca = server
    assert run([f"{running.url}/feed/{TOKEN}.xml", "--ca-cert", str(ca)]).returncode == 0
    assert run([f"{running.url}/feed.xml.gz", "--user", USER, "--password", PASSWORD,
                "--ca-cert", str(ca)]).returncode == 0


def test_without_credentials_exit_2_with_401(server):
    running, ca = server
    done = run([f"{running.url}/feed.xml", "--ca-cert", str(ca)])
    assert done.returncode == 2 and "401" in done.stderr
    assert PASSWORD not in done.stderr


def test_unknown_path_and_untrusted_certificate(server):
    running, ca = server
    missing = run([f"{running.url}/feed/{'1' * 64}.xml", "--ca-cert", str(ca)])
    assert missing.returncode == 2 and "404" in missing.stderr
    untrusted = run([f"{running.url}/feed.xml", "--user", USER, "--password", PASSWORD])
    assert untrusted.returncode == 2 and "TLS" in untrusted.stderr


def test_connection_refused():
    done = run([f"https://127.0.0.1:{free_port()}/feed.xml"])
    assert done.returncode == 2 and "cannot connect" in done.stderr
