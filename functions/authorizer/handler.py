"""Lambda authorizer (HTTP API, simple responses): API keys and GitHub Actions OIDC tokens.

It authenticates and describes the caller in the context (`principal`,
`scopes`, `github_claims`); the API function enforces each route's scope. An
invalid credential is passed on as `auth_error` instead of being denied here,
because an HTTP API authorizer can only deny with a bare 403, while SPEC 2-3
require 401 vs 403 with the JSON error body. A missing Authorization header
never reaches this function: API Gateway answers it with 401 itself.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from shared import github_oidc, keys
from shared.config import settings

logger = Logger(service="aiusage-authorizer")


def _bearer(event: dict[str, Any]) -> str | None:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    token = _bearer(event)
    if token is None:
        return {"isAuthorized": True, "context": {"auth_error": "missing or malformed Authorization: Bearer header"}}
    if github_oidc.looks_like_jwt(token):
        try:
            claims = github_oidc.verify(token, settings())
        except github_oidc.InvalidToken as exc:
            logger.info("rejected GitHub OIDC token", extra={"reason": str(exc)})
            return {"isAuthorized": True, "context": {"auth_error": str(exc)}}
        return {"isAuthorized": True, "context": {
            "principal": f"github:{claims['repository']}",
            "scopes": "usage:write",
            "github_claims": github_oidc.claims_context(claims),
        }}
    principal = keys.authenticate_key(token)
    if principal is None:
        return {"isAuthorized": True, "context": {"auth_error": "unknown or revoked API key"}}
    return {
        "isAuthorized": True,
        "context": {"principal": principal.principal, "scopes": " ".join(sorted(principal.scopes))},
    }


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return authorize(event)
