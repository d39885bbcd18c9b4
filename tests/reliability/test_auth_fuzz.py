"""1,000 wrong tokens and credentials against real gunicorn over TLS: none gets the feed, the real secrets
appear in no response and no log line, and the right ones are still served after the storm."""

import random

import pytest

from feedsvc.tls import ensure_self_signed
from tests.helpers.credential_fuzz import token_path, wrong_authorizations, wrong_tokens
from tests.helpers.servers import PASSWORD, TOKEN, USER, GunicornServer


@pytest.mark.slow
def test_no_guess_gets_the_feed_and_no_secret_leaks(data_dir, env, published):
    rng = random.Random(1123)
    tokens = wrong_tokens(rng, TOKEN, 500)
    headers = wrong_authorizations(rng, USER, PASSWORD, 500)
    seen = {}
    with GunicornServer(env, tls=ensure_self_signed(data_dir), workers=2) as server:
        with server.client() as client:
            for candidate in tokens:
                response = client.get(token_path(candidate))
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                assert response.status_code in (400, 404, 414, 429), candidate[:80]
                assert TOKEN not in response.text and b"<ORDERS" not in response.content
            for header in headers:
                response = client.get("/feed.xml", headers={"Authorization": header.strip().encode("utf-8")})
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                assert response.status_code in (400, 401, 429), header[:80]
                assert PASSWORD not in response.text and b"<ORDERS" not in response.content
                assert all(PASSWORD not in value and TOKEN not in value for value in response.headers.values())
            assert client.get(f"/feed/{TOKEN}.xml").status_code == 200
            assert client.get("/feed.xml", auth=(USER, PASSWORD)).status_code == 200
        logs = server.logs()
    assert sum(seen.values()) == 1000 and seen.get(429, 0) > 0
    assert TOKEN not in logs and PASSWORD not in logs
