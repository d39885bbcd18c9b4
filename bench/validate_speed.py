"""The validate speed benchmark: `feedsvc validate` against a plain lxml pass that only checks the XSD,
and its memory on a hostile document.

The baseline is the least any streaming check can do: lxml's iterparse with
the XSD attached, clearing each ORDER, nothing else. Both run as whole
commands in child processes on the same file, alternately, best of five;
the ratio is taken per shape of order, since the rules' cost depends on it:

- shop: the simulator's orders, as the service publishes them;
- wide: 20 items per order, every price different (no two lines alike);
- lean: one product and one shipping line, no optional element.

Peak memory is the largest VmHWM of the command and of its child pass,
sampled while they run, on a 200 MB document of hostile shapes.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import psutil

from bench import datasets
from bench.harness import PROJECT_ROOT, BenchContext, Row, vm_hwm

NAME = "validate-speed"
XSD = PROJECT_ROOT / "schema" / "retino-feed.xsd"
GOAL = 1.5
MB = 1 << 20

BASELINE_SCRIPT = """
import sys
from lxml import etree
schema = etree.XMLSchema(etree.parse(sys.argv[1]))
for _, order in etree.iterparse(sys.argv[2], events=("end",), tag="ORDER", schema=schema,
                                resolve_entities=False, no_network=True, load_dtd=False):
    order.clear(keep_tail=True)
    while order.getprevious() is not None:
        del order.getparent()[0]
"""


# -- feeds of a given shape ---------------------------------------------------------------------------------

def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'), ROUND_HALF_UP)}"


def _price_block(tag: str, with_vat: Decimal, amount: int) -> str:
    net = (with_vat / Decimal("1.22")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return (f"<{tag}><WITH_VAT>{_money(with_vat * amount)}</WITH_VAT><WITHOUT_VAT>{_money(net * amount)}"
            f"</WITHOUT_VAT><VAT>{_money((with_vat - net) * amount)}</VAT><VAT_RATE>22</VAT_RATE></{tag}>")


def _item(kind: str, name: str, code: str, unit: Decimal, amount: int) -> tuple[str, Decimal, Decimal]:
    net = (unit / Decimal("1.22")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    xml = (f"<ITEM><TYPE>{kind}</TYPE><NAME>{name}</NAME><AMOUNT>{amount}</AMOUNT><CODE>{code}</CODE>"
           f"{_price_block('UNIT_PRICE', unit, 1)}{_price_block('TOTAL_PRICE', unit, amount)}</ITEM>")
    return xml, unit * amount, net * amount


def write_shaped_feed(path: Path, orders: int, shape: str, seed: int = 7) -> Path:
    """A valid feed (no finding expected) of `orders` orders of one shape: "wide" or "lean"."""
    rng = random.Random(seed)
    now = datetime.now().replace(microsecond=0)
    with open(path, "w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<ORDERS>\n')
        for number in range(orders):
            lines = []
            if shape == "wide":
                for position in range(19):
                    unit = Decimal(rng.randint(100, 99_999)) / 100  # every line its own price
                    lines.append(_item("product", f"Article {number}-{position}", f"SKU-{rng.randint(1, 10**9)}",
                                       unit, rng.randint(1, 5)))
            else:
                lines.append(_item("product", "Cordless drill", "DRL-18V", Decimal("89.00"), 1))
            lines.append(_item("shipping", "BRT Corriere Espresso", "shipping", Decimal("7.50"), 1))
            with_vat = sum(line[1] for line in lines)
            without = sum(line[2] for line in lines)
            date = (now - timedelta(seconds=rng.randint(0, 5 * 86400))).strftime("%Y-%m-%d %H:%M:%S")
            address = ("<NAME>Marco Bianchi</NAME><STREET>Via Roma 22</STREET><CITY>Torino</CITY><ZIP>10121</ZIP>"
                       "<COUNTRY>IT</COUNTRY>")
            optional = "" if shape == "lean" else (f"<PACKAGE_NUMBER>08401{number:010d}</PACKAGE_NUMBER>"
                                                   "<LANGUAGE>IT</LANGUAGE>")
            out.write(
                f"<ORDER><ORDER_ID>id-{number}</ORDER_ID><CODE>{100000 + number}</CODE><DATE>{date}</DATE>"
                f"<CURRENCY><CODE>EUR</CODE></CURRENCY>{optional}<CUSTOMER><EMAIL>c{number}@example.it</EMAIL>"
                f"<BILLING_ADDRESS>{address}</BILLING_ADDRESS><SHIPPING_ADDRESS>{address}</SHIPPING_ADDRESS>"
                f"</CUSTOMER><TOTAL_PRICE><WITH_VAT>{_money(with_vat)}</WITH_VAT><WITHOUT_VAT>{_money(without)}"
                f"</WITHOUT_VAT><VAT>{_money(with_vat - without)}</VAT></TOTAL_PRICE>"
                f"<ORDER_ITEMS>{''.join(line[0] for line in lines)}</ORDER_ITEMS></ORDER>\n")
        out.write("</ORDERS>\n")
    return path


def write_hostile_document(path: Path, size: int) -> Path:
    """`size` bytes of what makes a naive checker's memory grow: floods of small elements, deep
    nesting, attribute-laden and namespaced junk, long texts, with real orders in between."""
    order = (PROJECT_ROOT / "tests" / "fixtures" / "retino" / "two_orders.xml").read_bytes()
    order = order[order.index(b"<ORDER>"):order.index(b"</ORDER>") + len(b"</ORDER>")]
    pieces = [b"<X/>" * (MB // 4), order, (b"<a>" * 200 + b"</a>" * 200) * (MB // 1400),
              b'<X xmlns="urn:junk" a="1" b="2"/>' * (MB // 32), (b"<NOTE>" + b"t" * 4000 + b"</NOTE>") * (MB // 4013)]
    with open(path, "wb") as out:
        out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<ORDERS>')
        written = 0
        while written < size:
            for piece in pieces:
                out.write(piece)
                written += len(piece)
        out.write(b"</ORDERS>\n")
    return path


# -- measuring whole commands -----------------------------------------------------------------------------

def run_tree(argv, timeout: float) -> tuple[int, float, int]:
    """(exit code, wall seconds, peak VmHWM in bytes of the process or any of its children)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH"))
                                                      if p))
    started = time.monotonic()
    process = subprocess.Popen(list(argv), cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    peak = 0
    watched = psutil.Process(process.pid)
    while process.poll() is None:
        if time.monotonic() - started > timeout:
            process.kill()
            process.wait()
            raise RuntimeError(f"{argv[2:4]} did not finish within {timeout:.0f}s")
        try:
            for member in [watched, *watched.children(recursive=True)]:
                peak = max(peak, vm_hwm(member.pid))
        except psutil.Error:
            pass
        time.sleep(0.02)
    return process.returncode, time.monotonic() - started, peak


def validate_command(path: Path) -> list[str]:
    return [sys.executable, "-m", "feedsvc.cli", "validate", str(path), "--json", "--max-bytes", str(10**10),
            "--days", "30"]


def baseline_command(path: Path) -> list[str]:
    return [sys.executable, "-c", BASELINE_SCRIPT, str(XSD), str(path)]


def best_of(rounds: int, path: Path, timeout: float) -> tuple[float, float, int]:
    """Best wall time of feedsvc validate and of the baseline, alternating; and validate's peak memory."""
    ours, baseline, peak = float("inf"), float("inf"), 0
    for _ in range(rounds):
        code, seconds, high = run_tree(baseline_command(path), timeout)
        if code != 0:
            raise RuntimeError(f"the baseline rejected {path.name} (exit {code})")
        baseline = min(baseline, seconds)
        code, seconds, high = run_tree(validate_command(path), timeout)
        if code != 0:
            raise RuntimeError(f"feedsvc validate found {path.name} invalid (exit {code})")
        ours, peak = min(ours, seconds), max(peak, high)
    return ours, baseline, peak


def ratio_row(shape: str, orders: int, path: Path, ours: float, baseline: float, peak: int) -> Row:
    ratio = ours / baseline
    return Row(NAME, f"validate / lxml XSD pass, {orders:,} orders ({shape}, {path.stat().st_size / 1e6:.0f} MB)",
               f"{ours:.2f} s", f"{baseline:.2f} s", ratio, ratio_label="feedsvc / plain lxml + XSD",
               goal=f"≤ {GOAL}", met=ratio <= GOAL, note=f"peak RSS {peak / MB:.0f} MB; best of 5, alternating")


def run(ctx: BenchContext) -> list[Row]:
    orders = 2_000 if ctx.quick else 20_000
    rows = []
    shapes = {"shop": datasets.published_feed(ctx, orders)}
    for shape in ("wide", "lean"):
        shapes[shape] = write_shaped_feed(ctx.workdir / f"{shape}-{orders}.xml", orders, shape)
    for shape, path in shapes.items():
        ctx.log(f"{NAME}: {shape}, {orders:,} orders ({path.stat().st_size / 1e6:.0f} MB)")
        ours, baseline, peak = best_of(5, path, timeout=600)
        rows.append(ratio_row(shape, orders, path, ours, baseline, peak))
    size = (50 if ctx.quick else 200) * MB
    hostile = write_hostile_document(ctx.workdir / "hostile.xml", size)
    ctx.log(f"{NAME}: hostile document of {hostile.stat().st_size / 1e6:.0f} MB")
    code, seconds, peak = run_tree(validate_command(hostile), timeout=900)
    if code != 1:
        raise RuntimeError(f"feedsvc validate gave exit {code} on the hostile document, not 1")
    rows.append(Row(NAME, f"peak memory on a {hostile.stat().st_size / 1e6:.0f} MB hostile document",
                    f"{peak / MB:.0f} MB", f"{hostile.stat().st_size / MB:.0f} MB (document)",
                    peak / hostile.stat().st_size,
                    ratio_label="peak RSS / document size", goal="flat (≤ 160 MB)", met=peak <= 160 * MB,
                    note=f"exit 1 in {seconds:.1f} s: floods of <X/>, 200-deep nesting, namespaced and attribute "
                         "junk, long texts, orders in between"))
    return rows
