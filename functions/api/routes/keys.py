"""API key routes (admin): create (the key is shown once), list, revoke."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api.request import json_body
from shared import keys
from shared.errors import ValidationFailed
from shared.models import KeyCreateIn, pydantic_details

router = APIGatewayHttpRouter()


@router.post("/keys")
def create() -> Response:
    from pydantic import ValidationError

    try:
        body = KeyCreateIn.model_validate(json_body(router.current_event.raw_event))
    except ValidationError as exc:
        raise ValidationFailed("invalid key request", pydantic_details(exc)) from None
    return Response(201, content_types.APPLICATION_JSON, keys.create_key(body.name, list(body.scopes)))


@router.get("/keys")
def list_keys() -> dict:
    return {"keys": keys.list_keys()}


@router.delete("/keys/<key_id>")
def revoke(key_id: str) -> dict:
    return keys.revoke_key(key_id)
