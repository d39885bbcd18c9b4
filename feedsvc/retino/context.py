"""What mapping needs besides the order: the shop's settings and reference data, checked once.

A MappingContext is built from plain values (the caller reads them from its
settings); a value the mapping cannot work with raises InvalidContext naming
the field. `fingerprint()` is everything in it that can change a mapped
order, for the fragment cache's keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from feedsvc.retino import order_url
from feedsvc.retino.codes import is_currency
from feedsvc.retino.countries import CountryResolver, iso_country
from feedsvc.retino.text import clean
from feedsvc.storeden.payload import text
from feedsvc.storeden.vocabulary import looks_like_cod


class InvalidContext(ValueError):
    """A context value the mapping cannot work with; `field` names it, `problem` says why."""

    def __init__(self, field_name: str, problem: str):
        self.field = field_name
        self.problem = problem
        super().__init__(f"{field_name}: {problem}")


def checkout_labels(payload: object) -> dict[str, str]:
    """{method code: label} from a checkoutMethods.json answer (its `payment_setup`)."""
    setup = payload.get("payment_setup") if isinstance(payload, dict) else None
    if not isinstance(setup, dict):
        return {}
    labels = {}
    for code, entry in setup.items():
        label = clean(text(entry.get("label"))) if isinstance(entry, dict) else ""
        if label:
            labels[str(code).strip()] = label
    return labels


@dataclass(frozen=True)
class MappingContext:
    """The shop's settings and reference data; `countries` is built from the three country fields."""

    vat_rate: Decimal
    currency: str
    cod_methods: frozenset[str]
    default_country: str
    timezone: ZoneInfo
    order_url: str
    checkout_labels: Mapping[str, str] = field(default_factory=dict)
    country_overrides: Mapping[str, str] = field(default_factory=dict)  # the operator's table
    fetched_countries: Mapping[str, str] = field(default_factory=dict)  # the shop's /countries/list.json
    countries: CountryResolver = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rate = Decimal(self.vat_rate)
        if not rate.is_finite() or not 0 <= rate <= 100:
            raise InvalidContext("vat_rate", f"must be between 0 and 100, got {self.vat_rate!r}")
        object.__setattr__(self, "vat_rate", rate)
        currency = str(self.currency).strip().upper()
        if not is_currency(currency):
            raise InvalidContext("currency", f"{self.currency!r} is not an ISO 4217 currency code")
        object.__setattr__(self, "currency", currency)
        object.__setattr__(self, "cod_methods", frozenset(str(c).strip() for c in self.cod_methods))
        try:
            object.__setattr__(self, "order_url", order_url.check_pattern(self.order_url))
        except ValueError as exc:
            raise InvalidContext("order_url", str(exc)) from None
        object.__setattr__(self, "checkout_labels", dict(self.checkout_labels))
        if iso_country(self.default_country) is None:
            raise InvalidContext("default_country", f"{self.default_country!r} is not an ISO 3166-1 alpha-2 code")
        try:
            resolver = CountryResolver(self.country_overrides, self.fetched_countries, default=self.default_country)
        except ValueError as exc:
            raise InvalidContext("country_overrides", str(exc)) from None
        object.__setattr__(self, "countries", resolver)

    def fingerprint(self) -> str:
        """Everything in the context that can change a mapped order, as one stable string."""
        countries = self.countries
        return repr((
            str(self.vat_rate), self.currency, sorted(self.cod_methods), self.default_country,
            str(self.timezone), self.order_url, sorted(self.checkout_labels.items()),
            countries.default, sorted(countries.overrides.items()), sorted(countries.fetched.items()),
            sorted(countries.shipped.items()),
        ))

    def is_cod(self, payment_code: str) -> bool:
        """Whether a payment method means cash on delivery (configured codes, or what it says)."""
        return (payment_code in self.cod_methods or looks_like_cod(payment_code)
                or looks_like_cod(self.checkout_labels.get(payment_code, "")))
