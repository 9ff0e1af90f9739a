"""API key routes (admin): create (the key is shown once), list, revoke.

The signatures are the validation (`KeyCreateIn`) and the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api.answers import answer
from shared import keys
from shared.models import KeyCreateIn

router = APIGatewayHttpRouter()


@router.post("/keys", status_code=201, enable_validation=True,
             responses={201: answer("CreatedKey", "The new key: the only time it is shown")})
def create(body: Annotated[KeyCreateIn, Body()]) -> Response[dict]:
    """Create an API key (`admin`). The table keeps only its SHA-256."""
    return Response(201, content_types.APPLICATION_JSON, keys.create_key(body.name, list(body.scopes)))


@router.get("/keys", responses={200: answer("KeyList", "Every key, newest first, without the keys themselves")})
def list_keys() -> dict:
    """List API keys (`admin`)."""
    return {"keys": keys.list_keys()}


@router.delete("/keys/<key_id>", responses={200: answer("KeyInfo", "The revoked key")})
def revoke(key_id: Annotated[str, Path(description="`k_` + 20 hex characters, from `GET /keys`")]) -> dict:
    """Revoke an API key (`admin`): it stops working at once."""
    return keys.revoke_key(key_id)
