"""A stand-in for GitHub's OIDC provider in tests: a local RSA key pair, its JWKS, and token minting.

`OidcIssuer().mint(repository="octo-org/octo-repo")` gives an RS256 token shaped
like the ones GitHub Actions hands out (claims from
tests/fixtures/github-oidc-claims.json, fresh `iat`/`nbf`/`exp`). The forgeries
the authorizer must refuse (`alg: none`, HS256 keyed with the public key, a
tampered payload) are built here too, by hand, because PyJWT rightly refuses to
make some of them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

ISSUER = "https://token.actions.githubusercontent.com"
CLAIMS_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "github-oidc-claims.json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=8)
def _rsa_key(seed: str) -> Any:
    """One 2048-bit key per name per test session (generation costs ~50 ms)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class OidcIssuer:
    """A private key and its public JWK, named by `kid`, minting GitHub-shaped tokens."""

    def __init__(self, kid: str = "aiusage-test-key-1"):
        self.kid = kid
        self.private_key = _rsa_key(kid)

    # --- the public side -------------------------------------------------------------------
    def jwk(self) -> dict[str, Any]:
        from jwt.algorithms import RSAAlgorithm

        jwk = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    # --- tokens ----------------------------------------------------------------------------
    @staticmethod
    def claims(**overrides: Any) -> dict[str, Any]:
        """GitHub's claims for a pull_request run of octo-org/octo-repo, valid for 5 minutes from now.

        `repository` alone also sets `repository_owner`; a value of None removes the claim.
        """
        claims = json.loads(CLAIMS_FIXTURE.read_text())
        now = int(time.time())
        claims.update(iat=now, nbf=now - 5, exp=now + 300)
        if "repository" in overrides and "repository_owner" not in overrides and overrides["repository"]:
            overrides["repository_owner"] = overrides["repository"].split("/")[0]
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(self, claims: dict[str, Any] | None = None, *, headers: dict[str, Any] | None = None,
             **overrides: Any) -> str:
        """An RS256 token signed with this key (header `kid` = this key's unless overridden)."""
        import jwt

        payload = claims if claims is not None else self.claims(**overrides)
        return jwt.encode(payload, self.private_key, algorithm="RS256", headers={"kid": self.kid, **(headers or {})})


def jwks_json(*issuers: OidcIssuer) -> str:
    """The JWKS document GitHub would serve for these keys."""
    return json.dumps({"keys": [issuer.jwk() for issuer in issuers]})


def unsigned_token(claims: dict[str, Any], kid: str) -> str:
    """`alg: none`: a token with no signature at all."""
    return f"{b64url_json({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{b64url_json(claims)}."


def hs256_token(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """The key-confusion attack: HS256 with the (public) RSA key as the HMAC secret."""
    signing_input = f"{b64url_json({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64url_json(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def with_payload(token: str, claims: dict[str, Any]) -> str:
    """The token's header and signature around a different payload (a tampered token)."""
    header, _, signature = token.split(".")
    return f"{header}.{b64url_json(claims)}.{signature}"


def with_flipped_signature(token: str) -> str:
    """The same token with one bit of its signature flipped."""
    header, payload, signature = token.split(".")
    raw = bytearray(b64url_decode(signature))
    raw[len(raw) // 2] ^= 0x01
    return f"{header}.{payload}.{b64url(bytes(raw))}"
