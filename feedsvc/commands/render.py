"""`feedsvc render`: build, check and publish a snapshot from the store, under the data dir's lock."""

from __future__ import annotations

import shutil
import sys

import click

from feedsvc.commands import EXIT_BUSY, EXIT_FAILED
from feedsvc.config import load_settings
from feedsvc.pipeline import PipelineBusy, run_pipeline


@click.command("render")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="Also write the published XML here; '-' writes it to standard output.")
@click.option("--full", is_flag=True,
              help="Ignore the fragment cache: map, render and check every order again.")
def render_command(output: str | None, full: bool) -> None:
    """Render the stored orders, check them, and publish a new snapshot.

    \b
    Example:
      feedsvc sync && feedsvc render -o feed.xml
    \b
    Exit codes: 0 published, 1 not published (the previous snapshot stays
    served), 2 configuration, 3 another sync or publish is running (it holds
    the data dir's lock).
    """
    settings = load_settings()
    try:
        outcome = run_pipeline(settings, sync=False, publish=True, full=full, command="feedsvc render")
    except PipelineBusy as exc:
        click.echo(f"feedsvc render: {exc}", err=True)
        sys.exit(EXIT_BUSY)
    if outcome.publish_error:
        click.echo(f"feedsvc render: {outcome.publish_error}", err=True)
        sys.exit(EXIT_FAILED)
    result = outcome.build
    assert result is not None  # published, or publish_error says why not
    published = result.snapshot_dir / "feed.xml"
    if output == "-":
        with open(published, "rb") as src:
            shutil.copyfileobj(src, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    elif output:
        shutil.copyfile(published, output)
    click.echo(result.summary(), err=output == "-")
