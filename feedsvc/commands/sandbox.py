"""`feedsvc sandbox`: the Storeden simulator in the foreground, printing the settings that point feedsvc at it."""

from __future__ import annotations

import click

from feedsvc.commands import rate_option
from feedsvc.storeden.sandbox import SANDBOX_EXCHANGE, SANDBOX_KEY, SandboxServer
from feedsvc.storeden.vocabulary import STOREDEN_RATE


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True)
@click.option("--orders", default=200, show_default=True, help="Orders in the generated shop (last 10 days).")
@click.option("--seed", default=1, show_default=True, help="Same seed, same shop.")
@click.option("--rate", default=str(STOREDEN_RATE), show_default=True, callback=rate_option,
              help="Throttle as REQUESTS/SECONDS, like Storeden's.")
@click.option("--key", default=SANDBOX_KEY, show_default=True)
@click.option("--exchange", default=SANDBOX_EXCHANGE, show_default=True)
@click.option("--error-rate", default=0.0, help="Fraction of requests answered 500.")
@click.option("--latency", default=0.0, help="Seconds to wait before each answer.")
def sandbox_command(host, port, orders, seed, rate, key, exchange, error_rate, latency):
    """Run the Storeden simulator: a generated shop behind the Orders API v1.1.

    \b
    Example:
      feedsvc sandbox --orders 500 --rate 60/60
      # in another shell, with the printed variables set:
      feedsvc sync && feedsvc render -o feed.xml
    """
    server = SandboxServer(orders=orders, seed=seed, rate=rate, host=host, port=port, key=key, exchange=exchange)
    server.set_faults(error_rate=error_rate, latency=latency)
    click.echo(f"Storeden simulator with {orders} orders at {server.url}")
    click.echo(f"FEEDSVC_STOREDEN_URL={server.url}")
    click.echo(f"FEEDSVC_STOREDEN_KEY={key}")
    click.echo(f"FEEDSVC_STOREDEN_EXCHANGE={exchange}")
    click.echo(f"FEEDSVC_STOREDEN_RATE={rate}")
    server.serve_forever()
