"""Seeded generators of wrong feed tokens and wrong Basic-auth credentials for the auth fuzz test.

Every candidate differs from the real secret: near misses (one character
changed, a prefix, the secret with something appended), unrelated random
values, encodings of the secret's neighbours, odd Unicode, empty and very long
values, and malformed `Authorization` headers.
"""

from __future__ import annotations

import base64
import random
import string
from urllib.parse import quote

ODD = ["", " ", "%00", "..", "../", "\u00e9", "\U0001f600", "\u202e", "%2e%2e%2f", "null", "0", "*"]


def _mutate(rng: random.Random, secret: str, alphabet: str) -> str:
    kind = rng.randrange(7)
    if kind == 0:  # one character changed
        i = rng.randrange(len(secret))
        replacement = rng.choice([c for c in alphabet if c != secret[i]])
        return secret[:i] + replacement + secret[i + 1:]
    if kind == 1:  # a proper prefix
        return secret[:rng.randrange(len(secret))]
    if kind == 2:  # something appended
        return secret + rng.choice(alphabet + "/.;%")
    if kind == 3:  # one character dropped from the middle
        i = rng.randrange(len(secret))
        return secret[:i] + secret[i + 1:]
    if kind == 4:  # two neighbours swapped (when they differ)
        i = rng.randrange(len(secret) - 1)
        swapped = secret[:i] + secret[i + 1] + secret[i] + secret[i + 2:]
        return swapped if swapped != secret else secret[:-1]
    if kind == 5:  # unrelated value of the same length
        return "".join(rng.choice(alphabet) for _ in secret)
    return rng.choice(ODD) + secret[: rng.randrange(len(secret))] + rng.choice(ODD)


def wrong_tokens(rng: random.Random, token: str, count: int) -> list[str]:
    """`count` distinct strings, none equal to `token`, to put in `/feed/<candidate>.xml`."""
    hexdigits = "0123456789abcdef"
    found: list[str] = []
    seen = {token}
    while len(found) < count:
        roll = rng.random()
        if roll < 0.6:
            candidate = _mutate(rng, token, hexdigits)
        elif roll < 0.8:
            candidate = "".join(rng.choice(hexdigits) for _ in range(rng.choice([8, 31, 32, 33, 64, 65])))
        elif roll < 0.9:
            candidate = "".join(rng.choice(string.printable.strip()) for _ in range(rng.randrange(1, 80)))
        else:
            candidate = rng.choice(hexdigits) * rng.choice([32, 64, 4096])
        if candidate not in seen:
            seen.add(candidate)
            found.append(candidate)
    return found


def token_path(candidate: str) -> str:
    """The request path for a candidate token, percent-encoded as a client would send it."""
    return "/feed/" + quote(candidate, safe="") + ".xml"


def wrong_authorizations(rng: random.Random, user: str, password: str, count: int) -> list[str]:
    """`count` Authorization header values, none carrying the right user and password together."""
    alphabet = string.ascii_letters + string.digits + "-_"
    found: list[str] = []
    while len(found) < count:
        roll = rng.random()
        if roll < 0.35:
            pair = (user, _mutate(rng, password, alphabet))
        elif roll < 0.5:
            pair = (_mutate(rng, user, alphabet), password)
        elif roll < 0.6:
            pair = (password, user)
        elif roll < 0.75:
            pair = ("".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 20))),
                    "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))))
        else:
            found.append(_malformed(rng, user, password))
            continue
        if pair == (user, password):
            continue
        encoded = base64.b64encode(f"{pair[0]}:{pair[1]}".encode()).decode("ascii")
        found.append(rng.choice(["Basic ", "basic ", "BASIC  "]) + encoded)
    return found


def _malformed(rng: random.Random, user: str, password: str) -> str:
    near = _mutate(rng, password, string.ascii_letters)
    options = [
        "Basic",
        "Basic ",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(f"{user}{near}".encode()).decode(),  # no colon
        "Basic " + base64.b64encode(f"{user}:{near}".encode())[:-2].decode(),  # truncated
        "Basic " + base64.b64encode(f"{user}:{near}".encode("utf-16")).decode(),
        "Bearer " + near,
        "Digest username=\"" + user + "\"",
        f"Basic {user}:{near}",  # not encoded at all
        "Basic " + "A" * rng.choice([100, 5000]),
    ]
    return rng.choice(options)
