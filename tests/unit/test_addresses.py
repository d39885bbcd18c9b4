"""Client grouping by address: one rule for the failure limiter and the delivery log."""

import pytest

from feedsvc.addresses import client_group


@pytest.mark.parametrize(("text", "group"), [
    ("203.0.113.7", "203.0.113.7"),
    ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client seen through a dual-stack socket
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # the same subscriber's block
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("unknown", "unknown"),
    ("x" * 100, "x" * 64),
])
def test_client_group(text, group):
    assert client_group(text) == group
