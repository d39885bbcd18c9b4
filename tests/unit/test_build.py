"""The build on a real store and data dir, without Storeden: which stored orders reach the feed, which are
quarantined and why, what happens when the check blames an order or the whole feed, and how settings
become the mapping's context."""

import pytest
from lxml import etree

from feedsvc import build
from feedsvc.build import BuildError, build_and_publish, mapping_context_from
from feedsvc.config import ConfigError
from feedsvc.publish import current_snapshot
from feedsvc.retino.rules import Finding
from feedsvc.storeden.shop import Shop
from tests.helpers.data import FIXTURES, fill_store

NOW = 1_790_000_000
DAY = 86400
SCHEMA = etree.XMLSchema(etree.parse(str(FIXTURES.parent.parent / "schema" / "retino-feed.xsd")))


@pytest.fixture
def shop(settings) -> Shop:
    """A store holding 40 orders of the last 9 days, as a sync would have left it."""
    return fill_store(settings, Shop(seed=33, orders=40, now=NOW, days=9))


def feed_codes(settings) -> list[str]:
    document = etree.parse(str(current_snapshot(settings.snapshots_dir).xml_path))
    assert SCHEMA.validate(document), SCHEMA.error_log
    return [code.text for code in document.getroot().iterfind("ORDER/CODE")]


def expected_codes(shop: Shop, settings, now=NOW) -> set[str]:
    return {o.short_id for o in shop.orders.values()
            if o.ts >= now - settings.days * DAY and o.status not in settings.exclude_statuses}


def test_the_feed_holds_the_window_s_orders_not_excluded(settings, store, shop):
    result = build_and_publish(settings, now=NOW, store=store)
    codes = feed_codes(settings)
    assert set(codes) == expected_codes(shop, settings) and len(codes) == len(set(codes))
    assert result.orders == len(codes) and result.quarantined == 0 and result.rendered == result.orders
    assert store.list_quarantine() == []  # old and excluded orders are left out, not quarantined
    assert current_snapshot(settings.snapshots_dir).sha256 == result.sha256


def test_an_order_that_cannot_be_mapped_is_quarantined_and_the_others_published(settings, store, shop):
    broken = next(o for o in shop.by_date() if o.status in (1, 2) and o.ts >= NOW - 6 * DAY)
    shop.corrupt(broken.order_id, "missing_email")
    fill_store(settings, shop)
    result = build_and_publish(settings, now=NOW, store=store)
    assert set(feed_codes(settings)) == expected_codes(shop, settings) - {broken.short_id}
    assert result.quarantined == 1 and "mail" in store.quarantine_reason(broken.order_id)
    assert store.list_quarantine()[0].raw  # the raw text is kept with the reason


def test_two_orders_with_one_code_publish_the_first_and_quarantine_the_other(settings, store, shop):
    first, second = [o for o in shop.by_date() if o.status in (1, 2) and o.ts >= NOW - 6 * DAY][:2]
    summary = {**shop.summary(second, {"short_id"}), "short_id": first.short_id}  # Storeden sent one number twice
    store.upsert_summary(second.order_id, status=second.status, order_ts=second.ts, short_id=first.short_id,
                         locale=None, summary=summary)
    build_and_publish(settings, now=NOW, store=store)
    assert feed_codes(settings).count(first.short_id) == 1
    earlier, later = sorted((first, second), key=lambda o: (o.ts, o.order_id))  # the build's order
    reasons = {q.order_id: q.reason for q in store.list_quarantine()}
    assert list(reasons) == [later.order_id]
    assert reasons[later.order_id] == f"duplicate CODE {first.short_id!r}: order {earlier.order_id} already uses it"


def test_an_order_listed_but_not_yet_read_is_pending_not_quarantined(settings, store, shop):
    store.upsert_summary("listed-only", status=1, order_ts=NOW - DAY, short_id="L1", locale=None,
                         summary={"orderID": "listed-only"})
    result = build_and_publish(settings, now=NOW, store=store)
    assert result.pending == 1 and result.quarantined == 0
    assert store.quarantine_reason("listed-only") is None
    assert "L1" not in feed_codes(settings)


def _blaming(code_of, real=build.validate_path):
    """validate_path, plus an error blamed on the order whose CODE `code_of()` gives, on the first check only."""
    calls = []

    def check(path, **options):
        report = real(path, **options)
        calls.append(path)
        if len(calls) == 1:
            report.findings.append(Finding("T1", "error", 1, code_of(), "ORDER", "sums do not add up"))
        return report
    return check


def test_an_order_the_check_blames_is_quarantined_and_the_feed_rendered_again(settings, store, shop, monkeypatch):
    blamed = next(o for o in shop.by_date() if o.status in (1, 2) and o.ts >= NOW - 6 * DAY)
    monkeypatch.setattr(build, "validate_path", _blaming(lambda: blamed.short_id))
    result = build_and_publish(settings, now=NOW, store=store)
    assert blamed.short_id not in feed_codes(settings)
    assert result.blocked == {blamed.order_id: "feed check T1: sums do not add up"}
    assert store.quarantine_reason(blamed.order_id) == "feed check T1: sums do not add up"


def test_a_feed_that_fails_its_check_is_never_published(settings, store, shop, monkeypatch):
    good = build_and_publish(settings, now=NOW, store=store)
    store.forget_fragments()  # so every order is checked again
    monkeypatch.setattr(build, "validate_path", _blaming(lambda: None))  # blamed on no order: the feed fails
    with pytest.raises(BuildError, match=r"failed its check .* T1"):
        build_and_publish(settings, now=NOW, store=store)
    assert current_snapshot(settings.snapshots_dir).sha256 == good.sha256  # the last good one stays
    assert "failed its check" in store.last_publish_error()
    monkeypatch.undo()
    build_and_publish(settings, now=NOW, store=store)
    assert store.last_publish_error() is None


def test_settings_become_the_mapping_context(settings):
    context = mapping_context_from(settings.with_overrides(vat_rate=settings.vat_rate + 1, currency="CZK"))
    assert context.vat_rate == settings.vat_rate + 1 and context.currency == "CZK"


def test_a_country_map_broken_since_start_up_names_its_variable(settings, tmp_path):
    table = tmp_path / "countries.json"
    table.write_text('{"118": "IT"}', encoding="utf-8")
    ready = settings.with_overrides(country_map_file=table)
    assert mapping_context_from(ready).country_overrides == {"118": "IT"}
    table.write_text('{"118": "Italy"}', encoding="utf-8")  # changed after load_settings checked it
    with pytest.raises(ConfigError) as caught:
        mapping_context_from(ready)
    assert caught.value.variable == "FEEDSVC_COUNTRY_MAP" and "Italy" in str(caught.value)
