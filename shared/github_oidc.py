"""Verifying GitHub Actions OIDC tokens (SPEC 2): no stored secret in CI.

A token is accepted when its RS256 signature verifies against GitHub's JWKS
(fetched once per cold start and cached; or given inline in config), `iss` is
GitHub's, `aud` is the configured audience, it is unexpired, and its
`repository_owner` or `repository` is on the allowlist. PyJWT is imported on
first use only.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from shared.config import Settings

ISSUER = "https://token.actions.githubusercontent.com"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "repository", "repository_owner"]
LEEWAY_SECONDS = 30


class InvalidToken(Exception):
    """The token is not a valid GitHub OIDC token for this deployment (the message says why)."""


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> Any:
    import jwt

    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=5)


@lru_cache(maxsize=4)
def _inline_jwks(document: str) -> Any:
    import jwt

    return jwt.PyJWKSet.from_json(document)


def _signing_key(token: str, settings: Settings) -> Any:
    import jwt

    header = jwt.get_unverified_header(token)
    if header.get("alg") != "RS256":
        raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted; GitHub signs with RS256")
    if settings.github_jwks:
        keys = _inline_jwks(settings.github_jwks)
        kid = header.get("kid")
        for key in keys.keys:
            if key.key_id == kid:
                return key.key
        raise InvalidToken("no key in the JWKS matches the token's kid")
    return _jwks_client(settings.github_jwks_url).get_signing_key_from_jwt(token).key


def verify(token: str, settings: Settings) -> dict[str, Any]:
    """The verified claims of a GitHub Actions OIDC token, or InvalidToken."""
    import jwt

    try:
        claims = jwt.decode(
            token,
            _signing_key(token, settings),
            algorithms=["RS256"],
            audience=settings.github_oidc_audience,
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except InvalidToken:
        raise
    except jwt.PyJWKClientError as exc:
        raise InvalidToken(f"cannot get GitHub's signing keys: {exc}") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid GitHub OIDC token: {exc}") from None
    allowed = {entry.lower() for entry in settings.github_oidc_allowlist}
    if claims["repository_owner"].lower() not in allowed and claims["repository"].lower() not in allowed:
        raise InvalidToken(f"repository {claims['repository']} is not on the allowlist")
    return claims


def claims_context(claims: dict[str, Any]) -> str:
    """The claims a posted event is stamped with, as the authorizer passes them on."""
    keep = ("repository", "repository_owner", "run_id", "run_attempt", "workflow", "workflow_ref", "actor", "sha",
            "event_name", "ref")
    return json.dumps({k: claims[k] for k in keep if k in claims}, separators=(",", ":"))
