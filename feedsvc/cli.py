"""The `feedsvc` command: one click group; each command lives beside the code it drives.

A configuration error anywhere ends the command with exit code 2 and a one-line
message naming the variable, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from feedsvc import __version__
from feedsvc.config import ConfigError


# Each command is imported when it runs: `feedsvc validate` need not load Flask, the store or the build.
_COMMANDS = {
    "init": ("feedsvc.web.commands", "init_command"),
    "sync": ("feedsvc.sync", "sync_command"),
    "render": ("feedsvc.build", "render_command"),
    "validate": ("feedsvc.retino.validate_cli", "validate_command"),
    "serve": ("feedsvc.web.commands", "serve_command"),
    "sandbox": ("feedsvc.storeden.sandbox", "sandbox_command"),
    "demo": ("feedsvc.demo", "demo_command"),
    "status": ("feedsvc.build", "status_command"),
}


class _Group(click.Group):
    def list_commands(self, ctx):
        return list(_COMMANDS)

    def get_command(self, ctx, name):
        if name not in _COMMANDS:
            return None
        module, attribute = _COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"feedsvc: configuration error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="feedsvc")
def main() -> None:
    """Storeden orders as a Retino XML order feed, served over HTTPS.

    \b
    Typical use:
      feedsvc init                 # write .env with a feed token and password
      feedsvc sync                 # pull the last 7 days of orders
      feedsvc render               # publish a validated snapshot
      feedsvc serve                # serve it (gunicorn in production)
      feedsvc validate feed.xml    # check any Retino feed
    """


if __name__ == "__main__":
    main()
