"""The failure limiter over real HTTP: right credentials always pass, failures count across every worker and
process, and X-Forwarded-For is believed only from the proxies FEEDSVC_TRUSTED_PROXIES lists."""


from tests.helpers.data import FEED, publish_feed
from tests.helpers.servers import PASSWORD, TOKEN, USER, GunicornServer, base_env

PER_USER, PER_ADDRESS = 10, 30  # feedsvc.web.auth.FailureLimiter's limits


def test_right_credentials_are_served_while_wrong_guesses_are_refused(tmp_path):
    publish_feed(tmp_path)
    with GunicornServer(base_env(tmp_path), workers=2) as server, server.client() as client:
        guesses = [client.get("/feed.xml", auth=(USER, f"guess-{i}")).status_code for i in range(60)]
        # other user names until the address as a whole is over its limit
        others = [client.get("/feed.xml", auth=(f"user{i % 3}", "x")).status_code for i in range(PER_ADDRESS)]
        tokens = [client.get(f"/feed/{'0' * 63}{i % 10}.xml").status_code for i in range(10)]
        right = client.get("/feed.xml", auth=(USER, PASSWORD))
        by_token = client.get(f"/feed/{TOKEN}.xml")
        dashboard = client.get("/", auth=(USER, PASSWORD))
        health = client.get("/healthz", auth=(USER, PASSWORD))
        still_wrong = client.get("/feed.xml", auth=(USER, "guess-again"))
    assert guesses[:PER_USER] == [401] * PER_USER and set(guesses[PER_USER:]) == {429}
    assert others == [401] * (PER_ADDRESS - PER_USER) + [429] * PER_USER
    assert set(tokens) == {429}
    assert right.status_code == 200 and right.content == FEED
    assert by_token.status_code == 200 and dashboard.status_code == 200 and health.status_code == 200
    assert still_wrong.status_code == 429 and int(still_wrong.headers["retry-after"]) >= 1


def test_failures_count_across_processes_sharing_the_data_dir(tmp_path):
    """Two gunicorn masters stand in for two workers: only a count both can see stops the 11th guess."""
    publish_feed(tmp_path)
    env = base_env(tmp_path)
    with GunicornServer(env, workers=1) as first, GunicornServer(env, workers=1) as second:
        with first.client() as one, second.client() as two:
            codes = []
            for i in range(PER_USER):
                codes.append((one if i % 2 else two).get("/feed.xml", auth=(USER, f"guess-{i}")).status_code)
            codes.append(one.get("/feed.xml", auth=(USER, "guess-x")).status_code)
            codes.append(two.get("/feed.xml", auth=(USER, "guess-y")).status_code)
    assert codes == [401] * PER_USER + [429, 429]


def test_failures_of_one_user_do_not_slow_another_below_the_address_limit(tmp_path):
    publish_feed(tmp_path)
    with GunicornServer(base_env(tmp_path), workers=1) as server, server.client() as client:
        first = [client.get("/feed.xml", auth=("mallory", f"g{i}")).status_code for i in range(PER_USER + 2)]
        other = client.get("/feed.xml", auth=(USER, "typo")).status_code
    assert first[-1] == 429 and other == 401


def test_forwarded_for_from_an_unlisted_peer_is_ignored(tmp_path):
    """Rotating X-Forwarded-For from a peer that is not a listed proxy gains nothing."""
    publish_feed(tmp_path)
    env = base_env(tmp_path, FEEDSVC_TRUST_PROXY=1, FEEDSVC_TRUSTED_PROXIES="192.0.2.10")
    with GunicornServer(env, workers=1) as server, server.client() as client:
        codes = [client.get("/feed.xml", auth=(USER, f"g{i}"),
                            headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(PER_USER + 2)]
    assert codes == [401] * PER_USER + [429, 429]


def test_a_listed_proxy_names_the_client_and_nobody_can_name_a_victim(tmp_path):
    """127.0.0.1 plays the proxy: it appends the address it saw, right of whatever the client sent."""
    publish_feed(tmp_path)
    env = base_env(tmp_path, FEEDSVC_TRUSTED_PROXIES="127.0.0.1,10.0.0.0/8")
    victim, attacker = "203.0.113.5", "198.51.100.7"
    with GunicornServer(env, workers=1) as server, server.client() as client:
        def attempt(forwarded_for, password="wrong"):
            return client.get("/feed.xml", auth=(USER, password), headers={"X-Forwarded-For": forwarded_for})

        # The attacker writes the victim's address first; the proxy adds the attacker's own, then an inner hop.
        spoofed = [attempt(f"{victim}, {attacker}, 10.1.2.3").status_code for _ in range(PER_USER + 2)]
        victim_typo = attempt(f"{victim}, 10.1.2.3").status_code
        victim_right = attempt(victim, PASSWORD).status_code
        attacker_right = attempt(f"{victim}, {attacker}", PASSWORD).status_code
        # Each client behind the proxy is counted on its own.
        others = [attempt(f"192.0.2.{i}").status_code for i in range(PER_USER + 2)]
    assert spoofed == [401] * PER_USER + [429, 429]
    assert victim_typo == 401 and victim_right == 200 and attacker_right == 200
    assert set(others) == {401}


def test_trust_proxy_alone_trusts_loopback_only(tmp_path):
    publish_feed(tmp_path)
    env = base_env(tmp_path, FEEDSVC_TRUST_PROXY=1)
    with GunicornServer(env, workers=1) as server, server.client() as client:
        codes = [client.get("/feed.xml", auth=(USER, f"g{i}"),
                            headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(PER_USER + 2)]
    assert set(codes) == {401}  # from 127.0.0.1 the header names a different client each time
