"""`feedsvc validate`: check any Retino feed (file, stdin or URL) and explain what to fix.

Exit codes: 0 valid (warnings allowed), 1 invalid, 2 the feed could not be
read, fetched or parsed as XML, or the arguments are wrong. Whatever the
input, the command ends with a report or a one-line error, never a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections import defaultdict

import click

from feedsvc.retino.fetch import RETINO_TIMEOUT, fetch_url, read_local
from feedsvc.retino.rules import Finding
from feedsvc.retino.schema_pass import SchemaUnusable
from feedsvc.retino.validate import DEFAULT_MAX_BYTES, UnreadableFeed, validate_path

PER_RULE_SHOWN = 20
_COLOURS = {"error": "red", "warning": "yellow", "info": "blue"}


def _print_human(report, colour: bool) -> None:
    def style(text, **kw):
        return click.style(text, **kw) if colour else text

    counts: dict[str, int] = defaultdict(int)
    hidden: dict[str, int] = defaultdict(int)
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        if finding.severity == "info":
            continue
        counts[finding.code] += 1
        if counts[finding.code] > PER_RULE_SHOWN:
            hidden[finding.code] += 1
            continue
        groups[finding.order_code or "(document)"].append(finding)
    for order_code, findings in groups.items():
        click.echo(style(f"order {order_code}" if order_code != "(document)" else order_code, bold=True))
        for f in findings:
            where = f"line {f.line}" if f.line else "line ?"
            label = style(f"{f.severity:<7}", fg=_COLOURS[f.severity])
            click.echo(f"  {label} {f.code:<4} {where}: {f.message}")
            if f.hint:
                click.echo(f"          fix: {f.hint}")
    for (code, severity), number in report.omitted.items():
        if severity != "info":
            hidden[code] += number
    for code, number in sorted(hidden.items()):
        click.echo(f"  … and {number} more {code} findings (--json lists up to 1000 per rule)")
    size = f"{report.bytes / 1e6:.1f} MB" if report.bytes >= 100_000 else f"{report.bytes} bytes"
    fetched = f", fetched in {report.fetch_seconds:.1f} s" if report.fetch_seconds is not None else ""
    click.echo(f"{report.orders} orders, {report.items} items, {report.errors} errors, "
               f"{report.warnings} warnings ({size}{fetched}; checked in {report.elapsed:.1f} s)")
    if report.without_package:
        click.echo(f"{report.without_package} orders have no PACKAGE_NUMBER yet")
    verdict = style("VALID", fg="green", bold=True) if report.valid else style("INVALID", fg="red", bold=True)
    click.echo(verdict)


@click.command("validate")
@click.argument("source")
@click.option("--schema", "schema_path", type=click.Path(exists=True, dir_okay=False),
              help="XSD to check against (default: the bundled retino-feed.xsd).")
@click.option("--profile", type=click.Choice(["full", "tracking"]), default="full", show_default=True,
              help="'tracking' makes a missing PACKAGE_NUMBER an error, as Retino Tracking requires.")
@click.option("--days", type=click.IntRange(min=1), default=7, show_default=True,
              help="Feed window; older DATEs get a warning.")
@click.option("--user", envvar="FEEDSVC_VALIDATE_USER", help="Basic-auth user for a URL.")
@click.option("--password", envvar="FEEDSVC_VALIDATE_PASSWORD", help="Basic-auth password for a URL.")
@click.option("--ca-cert", type=click.Path(exists=True, dir_okay=False), help="PEM CA bundle for a private CA.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on standard output.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=DEFAULT_MAX_BYTES, show_default=True,
              help="Refuse documents larger than this (after decompression).")
@click.option("--timeout", type=click.FloatRange(min=0.001), default=RETINO_TIMEOUT, show_default=True,
              help="Seconds for the whole download of a URL (Retino gives up after 60).")
@click.option("--allow-private", is_flag=True,
              help="Let a URL's host or its redirects lead to loopback, private or link-local addresses.")
@click.option("--no-color", is_flag=True, help="No colours even on a terminal.")
def validate_command(source, schema_path, profile, days, user, password, ca_cert, as_json, max_bytes, timeout,
                     allow_private, no_color):
    """Check a Retino XML order feed: a file, '-' for standard input, or an http(s) URL.

    \b
    Examples:
      feedsvc validate feed.xml
      feedsvc validate https://shop.example.com/feed.xml --user retino --password ...
      feedsvc validate feed.xml --profile tracking --json
    \b
    Exit codes: 0 valid (warnings allowed), 1 invalid,
                2 could not read, fetch or parse the feed, or bad arguments.
    """
    colour = not no_color and not as_json and "NO_COLOR" not in os.environ and sys.stdout.isatty()
    feed = None
    # A plain `kill` ends the run like Ctrl-C does: through the clean-up below, not around it.
    previous_term = _exit_on_sigterm()
    try:
        if source.startswith(("http://", "https://")):
            feed = fetch_url(source, user=user, password=password, ca_cert=ca_cert, max_bytes=max_bytes,
                             timeout=timeout, allow_private=allow_private)
        else:
            feed = read_local(source, max_bytes)
        report = validate_path(feed.path, profile=profile, days=days, schema_path=schema_path,
                               max_bytes=max_bytes)
        report.fetch_seconds = feed.seconds
        for severity, message in feed.notes:
            report.findings.insert(0, Finding("H1", severity, None, None, "", message, ""))
    except (UnreadableFeed, SchemaUnusable) as exc:
        _fail(str(exc), as_json)
    except KeyboardInterrupt:
        _fail("interrupted", as_json, code=130)
    except MemoryError:
        _fail("out of memory", as_json)
    except Exception as exc:  # a bug must still end in one line, not a traceback
        _fail(f"internal error ({type(exc).__name__}: {exc})", as_json)
    finally:
        if feed is not None:
            feed.cleanup()
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        _print_human(report, colour)
    if not report.well_formed:
        sys.exit(2)
    sys.exit(0 if report.valid else 1)


def _fail(message: str, as_json: bool, code: int = 2) -> None:
    if as_json:
        click.echo(json.dumps({"valid": False, "readable": False, "error": message}))
    else:
        click.echo(f"feedsvc validate: {message}", err=True)
    sys.exit(code)


def _exit_on_sigterm():
    """Make SIGTERM raise SystemExit (so `finally` blocks run); returns the handler to put back."""
    try:
        return signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    except ValueError:  # not the main thread: leave signals alone
        return None
