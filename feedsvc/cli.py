"""The `feedsvc` command: one click group over the commands of feedsvc/commands/.

A configuration error anywhere ends the command with exit code 2 and a one-line
message naming the variable, never a traceback.
"""

from __future__ import annotations

import sys

import click

from feedsvc import __version__
from feedsvc.commands import EXIT_CONFIG
from feedsvc.config import ConfigError


class _Group(click.Group):
    """Imports the commands when one is needed: `validate` alone (a feed check should start fast and
    needs neither Flask nor the store), any other one all of them, as they always were."""

    def list_commands(self, ctx):
        _register()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        if name == "validate" and name not in self.commands:
            from feedsvc.commands.validate import validate_command
            return validate_command
        _register()
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"feedsvc: configuration error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)


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
      feedsvc push                 # push mode: send changed orders to Retino's Orders API
    """


def _register() -> None:
    if main.commands:
        return
    from feedsvc.commands.demo import demo_command
    from feedsvc.commands.init import init_command
    from feedsvc.commands.push import push_command
    from feedsvc.commands.render import render_command
    from feedsvc.commands.retino_sandbox import retino_sandbox_command
    from feedsvc.commands.sandbox import sandbox_command
    from feedsvc.commands.serve import serve_command
    from feedsvc.commands.status import status_command
    from feedsvc.commands.sync import sync_command
    from feedsvc.commands.validate import validate_command

    for command in (init_command, sync_command, render_command, validate_command,
                    serve_command, sandbox_command, demo_command, status_command, push_command,
                    retino_sandbox_command):
        main.add_command(command)


if __name__ == "__main__":
    main()
