"""How feedsvc writes a duration for people: ages, elapsed times and estimates, each in one shape."""

from __future__ import annotations


def format_age(seconds: float | None) -> str:
    """How long ago, or how old: `42 s`, `17 min`, `3 h 05 min`; `—` for unknown."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def format_eta(seconds: float) -> str:
    """A countdown in whole seconds: `0m42s`, `12m05s`."""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def format_elapsed(seconds: float) -> str:
    """How long a run took: `4.2s` under a minute, else `3m05s`."""
    return format_eta(seconds) if seconds >= 60 else f"{seconds:.1f}s"
