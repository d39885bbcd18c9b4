"""`feedsvc retino-sandbox`: the Retino Orders API simulator in the foreground, printing the settings for it."""

from __future__ import annotations

import click

from feedsvc.retino.sandbox import SANDBOX_STORE_IDS, SANDBOX_TOKEN, RetinoSandboxServer


@click.command("retino-sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8091, show_default=True)
@click.option("--token", default=SANDBOX_TOKEN, show_default=True, help="The API token the simulator accepts.")
@click.option("--store-id", "store_ids", multiple=True, default=SANDBOX_STORE_IDS, show_default=True,
              help="A store id the simulator knows (repeat for several).")
@click.option("--items-must-add-up", is_flag=True,
              help="Also refuse an order whose items' totals do not add up to its price (a stricter Retino).")
def retino_sandbox_command(host, port, token, store_ids, items_must_add_up):
    """Run the Retino Orders API simulator (POST /orders, /orders/bulk, statuses, shipments).

    \b
    Example:
      feedsvc retino-sandbox --port 8091 --store-id main-shop
      # in another shell, with the printed variables set:
      feedsvc push --dry-run && feedsvc push
      curl -H 'Authorization: sandbox-token' http://127.0.0.1:8091/api/v2/_sandbox/orders
    """
    server = RetinoSandboxServer(token=token, store_ids=store_ids, host=host, port=port)
    server.state.items_must_add_up = items_must_add_up
    click.echo(f"Retino Orders API simulator at {server.url} (control API under {server.url}/_sandbox/)")
    click.echo(f"FEEDSVC_RETINO_URL={server.url}")
    click.echo(f"FEEDSVC_RETINO_TOKEN={token}")
    click.echo(f"FEEDSVC_RETINO_STORE_ID={store_ids[0]}")
    server.serve_forever()
