"""Price lookup (SPEC 4.3): overrides from the table, genai-prices, the per-request table.

In order: (1) an override stored with `PUT /prices/...` for the service and the
model (or the operation), the latest whose `valid_from` is not after the
event; (2) genai-prices token prices for the model at the event's timestamp
(price history, cache read/write prices, long-context tiers); (3) the shipped
per-request prices (Google Places). `service_tier` batch/flex halves token
prices for OpenAI and Anthropic (not web searches: they have no batch price).
With none of them the event is `unpriced`: cost 0, said so, and repriced later
— never a silent $0.

genai-prices prices exactly what `shared.usage` read, by its own usage keys
(`genai_usage`). Counts that sum a whole session (Claude Code's `modelUsage`)
are priced per token at the model's base rates: a long-context tier is about
one request's size, and a session total says nothing about any one request.

genai-prices is imported on first use only: it costs ~140 ms of cold start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from shared import repository, store, table
from shared.errors import ValidationFailed
from shared.events import UsageEvent
from shared.models import SLUG, Counts, PriceOverrideIn, format_ts
from shared.money import MILLION, ZERO, exact_amount
from shared.usage import genai_usage

GENAI_PRICES_PROVIDER = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "bedrock": "aws",
    "azure": "azure",
}
HALF_PRICE_TIERS = {"batch", "flex"}
HALF_PRICE_SERVICES = {"openai", "anthropic"}

# USD per request; shipped as data, versioned by PER_REQUEST_VERSION.
PER_REQUEST_PRICES: dict[str, dict[str, Decimal]] = {
    "google_places": {
        "place_details": Decimal("0.017"),
        "text_search": Decimal("0.032"),
        "place_search": Decimal("0.032"),
        "nearby_search": Decimal("0.032"),
        "place_autocomplete": Decimal("0.00283"),
        "place_photo": Decimal("0.007"),
        "geocoding": Decimal("0.005"),
    }
}
PER_REQUEST_VERSION = "2025-03-01"

SOURCE_OVERRIDE = "override"
SOURCE_GENAI_PRICES = "genai-prices"
SOURCE_PER_REQUEST = "per-request-table"

PRICE_FIELDS = ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok", "per_request",
                "credits_per_request")


@dataclass(frozen=True)
class PriceOverride:
    """An admin-set price for a (service, model) or a (service, operation)."""

    service: str
    model_or_operation: str
    valid_from: datetime
    input_per_mtok: Decimal | None = None
    output_per_mtok: Decimal | None = None
    cache_read_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    per_request: Decimal | None = None
    credits_per_request: Decimal | None = None

    def prices(self) -> dict[str, Decimal | None]:
        return {name: getattr(self, name) for name in PRICE_FIELDS}


@dataclass(frozen=True)
class Quote:
    """What a price source says a piece of usage costs."""

    cost_usd: Decimal
    source: str
    version: str
    credits: Decimal | None = None


def requires_model(service: str, operation: str, overrides: Sequence[PriceOverride]) -> bool:
    """A model is required unless the operation is priced per request."""
    if operation in PER_REQUEST_PRICES.get(service, {}):
        return False
    return not any(
        o.model_or_operation == operation and o.per_request is not None for o in overrides if o.service == service
    )


def find_override(service: str, model: str, operation: str, at: datetime,
                  overrides: Iterable[PriceOverride]) -> PriceOverride | None:
    """The latest override valid at `at`, for the model first, then for the operation."""
    best: dict[str, PriceOverride] = {}
    for o in overrides:
        if o.service != service or o.valid_from > at or o.model_or_operation not in (model, operation):
            continue
        current = best.get(o.model_or_operation)
        if current is None or o.valid_from > current.valid_from:
            best[o.model_or_operation] = o
    return best.get(model) or best.get(operation)


def quote(service: str, model: str, operation: str, counts: Counts, requests: int, at: datetime,
          service_tier: str | None, overrides: Iterable[PriceOverride]) -> Quote | None:
    """The list cost of this usage, or None when no price is known."""
    override = find_override(service, model, operation, at, overrides)
    token_factor = Decimal("0.5") if service_tier in HALF_PRICE_TIERS and service in HALF_PRICE_SERVICES else Decimal(1)
    if override is not None:
        return _override_quote(override, counts, requests, token_factor)
    per_request = PER_REQUEST_PRICES.get(service, {}).get(operation)
    if per_request is not None:
        return Quote(per_request * requests, SOURCE_PER_REQUEST, PER_REQUEST_VERSION)
    cost = _genai_prices_cost(service, model, counts, at, token_factor)
    if cost is None:
        return None
    return Quote(cost, SOURCE_GENAI_PRICES, genai_prices_version())


def _override_quote(o: PriceOverride, c: Counts, requests: int, token_factor: Decimal) -> Quote:
    input_price = o.input_per_mtok or ZERO
    uncached = c.input_tokens - c.cache_read_tokens - c.cache_write_tokens
    token_cost = (
        uncached * input_price
        + c.cache_read_tokens * (o.cache_read_per_mtok if o.cache_read_per_mtok is not None else input_price)
        + c.cache_write_tokens * (o.cache_write_per_mtok if o.cache_write_per_mtok is not None else input_price)
        + c.output_tokens * (o.output_per_mtok or ZERO)
    ) / MILLION
    cost = token_cost * token_factor + (o.per_request or ZERO) * requests
    credits = o.credits_per_request * requests if o.credits_per_request is not None else None
    return Quote(cost, SOURCE_OVERRIDE, valid_from_text(o.valid_from), credits)


def valid_from_text(valid_from: datetime) -> str:
    """An override's `valid_from` as stored, shown and used as its price version."""
    return valid_from.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _genai_prices_cost(service: str, model: str, c: Counts, at: datetime, token_factor: Decimal) -> Decimal | None:
    """genai-prices' price of these counts; `token_factor` applies to the input and output (token) part only."""
    calc_price, usage_cls = _genai_prices()
    usage = usage_cls(**genai_usage(c))
    try:
        result = calc_price(usage, model, provider_id=GENAI_PRICES_PROVIDER.get(service), genai_request_timestamp=at)
        if c.session_totals:
            price = base_rates(result.model_price).calc_price(usage)
            tokens, total = price["input_price"] + price["output_price"], price["total_price"]
        else:
            tokens, total = result.input_price + result.output_price, result.total_price
    except (LookupError, ValueError):
        return None
    return tokens * token_factor + (total - tokens)


def base_rates(prices: Any) -> Any:
    """A genai-prices `ModelPrice` with every tiered price replaced by its base price (no long-context tier)."""
    from genai_prices.types import ModelPrice, TieredPrices

    return ModelPrice(**{name: value.base if isinstance(value, TieredPrices) else value
                         for name, value in vars(prices).items() if not name.startswith("_")})


def genai_prices_model_price(service: str, model: str, at: datetime) -> dict[str, Any] | None:
    """genai-prices' per-MTok prices for a model at `at` (base tier), for `GET /prices`."""
    calc_price, usage_cls = _genai_prices()
    try:
        result = calc_price(usage_cls(input_tokens=0, output_tokens=0), model,
                            provider_id=GENAI_PRICES_PROVIDER.get(service), genai_request_timestamp=at)
    except (LookupError, ValueError):
        return None
    prices = result.model_price

    def base(name: str) -> Decimal | None:
        value = getattr(prices, name, None)
        return getattr(value, "base", value)

    return {
        "model_id": result.model.id,
        "provider_id": result.provider.id,
        "input_per_mtok": base("input_mtok"),
        "output_per_mtok": base("output_mtok"),
        "cache_read_per_mtok": base("cache_read_mtok"),
        "cache_write_per_mtok": base("cache_write_mtok"),
        "tiered": any(hasattr(getattr(prices, n, None), "tiers") for n in ("input_mtok", "output_mtok")),
    }


@lru_cache(maxsize=1)
def _genai_prices() -> tuple[Any, Any]:
    import warnings

    from genai_prices import Usage, calc_price

    warnings.filterwarnings("ignore", module="genai_prices")
    return calc_price, Usage


@lru_cache(maxsize=1)
def genai_prices_version() -> str:
    from importlib.metadata import version

    return version("genai-prices")


def price_event(event: UsageEvent, reported_cost: Decimal | None, overrides: Sequence[PriceOverride]) -> None:
    """Set `cost_usd`, `cost_source`, `list_cost_usd`, price source/version and credits on `event`."""
    q = quote(event.service, event.model, event.operation, event.counts, event.requests, event.ts,
              event.service_tier, overrides)
    if q is not None:
        event.price_source, event.price_version = q.source, q.version
        if event.credits is None and q.credits is not None:
            event.credits = q.credits
    if reported_cost is not None:
        event.cost_usd, event.cost_source = reported_cost, "reported"
        event.list_cost_usd = q.cost_usd if q is not None else None
    elif q is not None:
        event.cost_usd, event.cost_source = q.cost_usd, "computed"
    else:
        event.cost_usd, event.cost_source = ZERO, "unpriced"
    event.cost_usd, event.list_cost_usd = exact_amount(event.cost_usd), exact_amount(event.list_cost_usd)
    event.credits = exact_amount(event.credits)


# --- the override table and the effective-price view ---------------------------------------


def load_overrides(services: set[str]) -> list[PriceOverride]:
    """Every override of these services (one consistent Query each)."""
    return [
        override_of_item(item)
        for service in sorted(services)
        for item in repository.current().query(table.price_partition(service), consistent=True)
    ]


def override_of_item(item: dict[str, Any]) -> PriceOverride:
    return PriceOverride(
        service=item["service"],
        model_or_operation=item["model_or_operation"],
        valid_from=datetime.fromisoformat(item["valid_from"]),
        **{name: item.get(name) for name in PRICE_FIELDS},
    )


def put_override(service: str, model_or_operation: str, body: PriceOverrideIn, now: datetime) -> dict[str, Any]:
    """Store an override (`PUT /prices/{service}/{model_or_operation}`); same valid_from replaces."""
    service = service.lower()
    if not SLUG.match(service):
        raise ValidationFailed.at(["path", "service"], "must be a slug [a-z0-9][a-z0-9_.-]{0,63}")
    if not model_or_operation or len(model_or_operation) > 200:
        raise ValidationFailed.at(["path", "model_or_operation"], "must be 1..200 characters")
    valid_from = valid_from_text(body.valid_from or datetime(2000, 1, 1, tzinfo=UTC))
    item = {
        **table.price_key(service, model_or_operation, valid_from),
        **table.price_listing(service, model_or_operation, valid_from),
        "type": "price_override",
        "service": service,
        "model_or_operation": model_or_operation,
        "valid_from": valid_from,
        "updated_at": format_ts(now),
        **{name: getattr(body, name) for name in PRICE_FIELDS if getattr(body, name) is not None},
    }
    store.put(item)
    return override_json(override_of_item(item))


def override_json(o: PriceOverride) -> dict[str, Any]:
    return {
        "service": o.service,
        "model_or_operation": o.model_or_operation,
        "valid_from": valid_from_text(o.valid_from),
        "source": SOURCE_OVERRIDE,
        **{name: (float(v) if v is not None else None) for name, v in o.prices().items()},
    }


def price_view(service: str | None, model: str | None, operation: str | None, now: datetime) -> dict[str, Any]:
    """`GET /prices`: the effective price of a service/model/operation and its source, or the price lists."""
    if service and (model or operation):
        return {"prices": [effective_price(service, model or "", (operation or "completion").lower(), now)]}
    services = {service} if service else None
    overrides = (
        load_overrides(services)
        if services
        else [override_of_item(i) for i in repository.current().query(table.PRICES_LISTING, index=table.GSI_LISTINGS)]
    )
    per_request = [
        {"service": svc, "operation": op, "per_request": float(price), "source": SOURCE_PER_REQUEST,
         "version": PER_REQUEST_VERSION}
        for svc, ops in PER_REQUEST_PRICES.items() if services is None or svc in services
        for op, price in ops.items()
    ]
    return {"overrides": [override_json(o) for o in overrides], "per_request": per_request,
            "genai_prices_version": genai_prices_version()}


def effective_price(service: str, model: str, operation: str, now: datetime) -> dict[str, Any]:
    view: dict[str, Any] = {"service": service, "model": model or None, "operation": operation}
    override = find_override(service, model, operation, now, load_overrides({service}))
    if override is not None:
        return {**view, **override_json(override), "source": SOURCE_OVERRIDE,
                "version": valid_from_text(override.valid_from)}
    per_request = PER_REQUEST_PRICES.get(service, {}).get(operation)
    if per_request is not None:
        return {**view, "source": SOURCE_PER_REQUEST, "version": PER_REQUEST_VERSION, "per_request": float(per_request)}
    prices = genai_prices_model_price(service, model, now) if model else None
    if prices is not None:
        return {**view, "source": SOURCE_GENAI_PRICES, "version": genai_prices_version(),
                **{k: (float(v) if isinstance(v, Decimal) else v) for k, v in prices.items()}}
    return {**view, "source": None, "version": None,
            "message": "no price known: events are stored as unpriced until an override or a genai-prices update"}
