"""How clients are grouped by address, for counting failures (the limiter) and folding them (the delivery log).

An IPv4 address stands for itself; an IPv6 client is grouped by its /64, the block one subscriber usually
gets, so that rotating through one's own block does not look like many clients.
"""

from __future__ import annotations

import ipaddress


def client_group(text: str) -> str:
    """The IPv4 address (also when IPv4-mapped), the IPv6 /64, or the first 64 characters of a non-address."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text[:64]
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
