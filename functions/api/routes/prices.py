"""Price routes: the effective price view and admin overrides.

The signatures are the validation and the OpenAPI document; query values are
bounded like the stored values in `functions/api/params.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api import params
from functions.api.answers import answer
from shared import pricing
from shared.models import SLUG_PATTERN, PriceOverrideIn

router = APIGatewayHttpRouter()


@router.get(
    "/prices",
    responses={
        200: answer(
            "PriceView",
            "With service and model (or operation): the effective price; "
            "otherwise the overrides and per-request prices",
        )
    },
    enable_validation=True,
)
def prices(
    service: Annotated[str | None, Query()] = None,
    model: Annotated[str | None, Query()] = None,
    operation: Annotated[str | None, Query(description="Default `completion` when model is given")] = None,
) -> dict:
    """Show the effective price and its source, or the price lists (`usage:read`)."""
    return pricing.price_view(params.value("service", service, lower=True), params.value("model", model),
                              params.value("operation", operation, lower=True), datetime.now(UTC))


@router.put("/prices/<service>/<model_or_operation>",
            responses={200: answer("PriceOverride", "The stored override")}, enable_validation=True)
def set_price(
    # Matched case-insensitively (`pricing.put_override` lowers it): the pattern documents the stored form.
    service: Annotated[str, Path(json_schema_extra={"pattern": SLUG_PATTERN})],
    model_or_operation: Annotated[str, Path(description="A model, or an operation priced per request (URL-encoded)")],
    body: Annotated[PriceOverrideIn, Body()],
) -> dict:
    """Set a price override (`admin`); the same `valid_from` replaces, a later one starts a new price."""
    return pricing.put_override(unquote(service), unquote(model_or_operation), body, datetime.now(UTC))
