"""Price routes: the effective price view and admin overrides.

Signatures document the API for the OpenAPI document; `shared/` parses the raw
event (see `routes/usage.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api.answers import answer
from functions.api.request import json_body
from shared import pricing
from shared.errors import ValidationFailed
from shared.models import SLUG_PATTERN, PriceOverrideIn, pydantic_details

router = APIGatewayHttpRouter()


@router.get("/prices", responses={200: answer(
    "PriceView", "With service and model (or operation): the effective price; otherwise the overrides and per-request prices")})
def prices(
    service: Annotated[str | None, Query()] = None,
    model: Annotated[str | None, Query()] = None,
    operation: Annotated[str | None, Query(description="Default `completion` when model is given")] = None,
) -> dict:
    """Show the effective price and its source, or the price lists (`usage:read`)."""
    p = router.current_event.query_string_parameters or {}
    return pricing.price_view(p.get("service"), p.get("model"), p.get("operation"), datetime.now(UTC))


@router.put("/prices/<service>/<model_or_operation>",
            responses={200: answer("PriceOverride", "The stored override")})
def set_price(
    service: Annotated[str, Path(pattern=SLUG_PATTERN)],
    model_or_operation: Annotated[str, Path(description="A model, or an operation priced per request (URL-encoded)")],
    body: Annotated[PriceOverrideIn, Body()] = None,
) -> dict:
    """Set a price override (`admin`); the same `valid_from` replaces, a later one starts a new price."""
    from pydantic import ValidationError

    try:
        body = PriceOverrideIn.model_validate(json_body(router.current_event.raw_event))
    except ValidationError as exc:
        raise ValidationFailed("invalid price", pydantic_details(exc)) from None
    return pricing.put_override(unquote(service), unquote(model_or_operation), body, datetime.now(UTC))
