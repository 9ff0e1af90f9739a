"""`GET /health` and `GET /openapi.json` (both public)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api.answers import answer

router = APIGatewayHttpRouter()


@router.get("/health", responses={200: answer("Health", "The API answers")})
def health() -> dict:
    """Liveness (public)."""
    return {"status": "ok"}


@router.get("/openapi.json", responses={200: answer("OpenApiDocument", "OpenAPI 3.1, generated from the routes")})
def openapi_document() -> dict:
    """This API's OpenAPI document (public).

    Built on the first request only: the OpenAPI machinery stays out of the cold start.
    """
    from functions.api import openapi

    return openapi.document(router.api_resolver)  # the resolver that included this router
