"""Price routes: the effective price view and admin overrides."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api.request import json_body
from shared import pricing
from shared.errors import ValidationFailed
from shared.models import PriceOverrideIn, pydantic_details

router = APIGatewayHttpRouter()


@router.get("/prices")
def prices() -> dict:
    p = router.current_event.query_string_parameters or {}
    return pricing.price_view(p.get("service"), p.get("model"), p.get("operation"), datetime.now(UTC))


@router.put("/prices/<service>/<model_or_operation>")
def set_price(service: str, model_or_operation: str) -> dict:
    from pydantic import ValidationError

    try:
        body = PriceOverrideIn.model_validate(json_body(router.current_event.raw_event))
    except ValidationError as exc:
        raise ValidationFailed("invalid price", pydantic_details(exc)) from None
    return pricing.put_override(unquote(service), unquote(model_or_operation), body, datetime.now(UTC))
