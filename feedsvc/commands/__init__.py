"""The `feedsvc` subcommands, one module each; `feedsvc.cli` registers them.

A command reads its settings, calls the module that does the work, and turns
the outcome into output and an exit code. The exit codes shared by the
commands that write the store or the snapshots:
"""

EXIT_FAILED = 1  # some orders could not be fetched, or publishing failed (the previous snapshot stays)
EXIT_CONFIG = 2  # configuration or Storeden credentials
EXIT_BUSY = 3  # another sync or publish holds the data dir's lock; nothing was done


def rate_option(ctx, param, value: str):
    """A click callback reading a REQUESTS/SECONDS option (storeden/vocabulary.py's rate format)."""
    import click

    from feedsvc.storeden.vocabulary import parse_rate

    try:
        return parse_rate(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
