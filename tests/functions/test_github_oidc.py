"""GitHub Actions OIDC tokens in the authorizer (SPEC 2): verified against a JWKS, stamped onto what they post.

The JWKS is a locally generated RSA key pair (tests/support/oidc.py), given
inline through `GITHUB_JWKS` or served over HTTP on 127.0.0.1 for the URL mode.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import fixture_json
from tests.support.local_http import LocalHttpServer, Reply
from tests.support.oidc import (
    OidcIssuer,
    b64url_json,
    hs256_token,
    jwks_json,
    unsigned_token,
    with_flipped_signature,
    with_payload,
)

OWN = OidcIssuer("aiusage-test-key-1")  # the key in the JWKS
STRANGER = OidcIssuer("aiusage-test-stranger")  # a key nobody published

DAY = "2026-11-21"
RESULT = fixture_json("claude-code-execution.json")[-1]
CLAIMS = fixture_json("github-oidc-claims.json")
SIMPLE_EVENT = {"timestamp": f"{DAY}T09:30:00Z", "service": "openai", "model": "gpt-4o",
                "input_tokens": 1000, "output_tokens": 100}


def settings_from(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> None:
    from shared.config import settings

    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    settings.cache_clear()


@pytest.fixture
def oidc(aws, monkeypatch):
    """Inline JWKS with our key; owner octo-org and one repository of partner-org allowed; default audience."""
    settings_from(monkeypatch, GITHUB_JWKS=jwks_json(OWN), GITHUB_OIDC_ALLOWLIST="octo-org, partner-org/shared-repo",
                  GITHUB_OIDC_AUDIENCE=None, GITHUB_JWKS_URL=None)


def stored_events(api, **filters) -> list[dict]:
    answer = api.get("/ai_usage/events", start_date=DAY, end_date=DAY, **filters)
    assert answer.status == 200, answer
    return answer.json()["events"]


def summary(api, **filters) -> dict:
    answer = api.get("/ai_usage", start_date=DAY, end_date=DAY, **filters)
    assert answer.status == 200, answer
    return answer.json()


# --- accepted tokens ------------------------------------------------------------------------------

def test_valid_token_records_usage_stamped_with_the_tokens_claims(api, oidc):
    """The body claims to be another repository's run; what is stored is the token's repository and run."""
    lying = {"repository": "octo-org/victim-repo", "pr_number": 123, "run_id": "1", "run_attempt": 9,
             "workflow": "Fake", "workflow_ref": "octo-org/victim-repo/.github/workflows/x.yml@refs/heads/main",
             "job": "review", "actor": "mallory", "sha": "0" * 40, "event_name": "push"}
    body = {"event_id": "gh:octo-org/octo-repo:16588214930:2:review:s1", "timestamp": f"{DAY}T09:30:00Z",
            "claude_code_result": RESULT, "github": lying}

    answer = api.post("/ai_usage", body, key=OWN.mint())

    assert answer.status == 200, answer
    assert [(r["event_id"], r["status"], r["cost_usd"]) for r in answer.json()["results"]] == [
        ("gh:octo-org/octo-repo:16588214930:2:review:s1:claude-sonnet-4-5", "created", 0.254744),
        ("gh:octo-org/octo-repo:16588214930:2:review:s1:claude-haiku-4-5", "created", 0.00385),
    ]
    events = stored_events(api, repository="octo-org/octo-repo", pr_number="123")
    assert len(events) == 2
    for event in events:
        assert event["github"] == {
            # from the token
            "repository": "octo-org/octo-repo", "run_id": "16588214930", "run_attempt": 2,
            "workflow": "Claude Code Review", "workflow_ref": CLAIMS["workflow_ref"], "actor": "octocat",
            "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "event_name": "pull_request",
            # not in a token: as posted
            "pr_number": 123, "job": "review",
        }
    # Repository B has nothing, in the events and in the totals; repository A has it all.
    assert stored_events(api, repository="octo-org/victim-repo", pr_number="123") == []
    assert summary(api, repository="octo-org/victim-repo")["summary"]["events"] == 0
    own = summary(api, repository="octo-org/octo-repo", aggregation="repository")
    assert (own["summary"]["events"], own["summary"]["total_cost_usd"]) == (2, 0.258594)
    assert list(own["aggregations"]["by_repository"]) == ["octo-org/octo-repo"]


def test_token_fills_the_github_context_when_the_body_has_none(api, oidc):
    answer = api.post("/ai_usage", SIMPLE_EVENT, key=OWN.mint(run_id="777", run_attempt="3", actor="hubot"))
    assert answer.status == 200, answer
    (event,) = stored_events(api, service="openai")
    assert event["github"] == {"repository": "octo-org/octo-repo", "run_id": "777", "run_attempt": 3,
                               "workflow": "Claude Code Review", "workflow_ref": CLAIMS["workflow_ref"],
                               "actor": "hubot", "sha": CLAIMS["sha"], "event_name": "pull_request",
                               "pr_number": 123}  # from the token's ref, refs/pull/123/merge


def test_authorizer_context_names_the_repository_and_grants_usage_write_only(oidc):
    from functions.authorizer.handler import authorize

    result = authorize({"headers": {"Authorization": f"Bearer {OWN.mint()}"}})

    assert result["isAuthorized"] is True
    context = result["context"]
    assert (context["principal"], context["scopes"]) == ("github:octo-org/octo-repo", "usage:write")
    claims = json.loads(context["github_claims"])
    assert (claims["repository"], claims["run_id"], claims["run_attempt"]) == ("octo-org/octo-repo", "16588214930", "2")
    assert "auth_error" not in context


def test_allowlist_takes_whole_owners_or_single_repositories_case_insensitively(api, oidc, monkeypatch):
    assert api.post("/ai_usage", SIMPLE_EVENT, key=OWN.mint(repository="partner-org/shared-repo")).status == 200
    assert api.post("/ai_usage", SIMPLE_EVENT, key=OWN.mint(repository="partner-org/other-repo")).status == 401
    settings_from(monkeypatch, GITHUB_OIDC_ALLOWLIST="Octo-Org")
    assert api.post("/ai_usage", SIMPLE_EVENT, key=OWN.mint(repository="octo-org/another-repo")).status == 200
    assert {e["github"]["repository"] for e in stored_events(api, service="openai")} == {
        "partner-org/shared-repo", "octo-org/another-repo"}


def test_an_empty_allowlist_accepts_no_token(api, oidc, monkeypatch):
    settings_from(monkeypatch, GITHUB_OIDC_ALLOWLIST=None)
    answer = api.post("/ai_usage", SIMPLE_EVENT, key=OWN.mint())
    assert answer.status == 401
    assert "allowlist" in answer.json()["error"]["message"]


def test_configured_audience_is_the_only_one_accepted(api, oidc, monkeypatch):
    settings_from(monkeypatch, GITHUB_OIDC_AUDIENCE="https://aiusage.example.com")
    assert api.post("/ai_usage", SIMPLE_EVENT, key=OWN.mint()).status == 401  # aud "aiusage"
    assert api.post("/ai_usage", SIMPLE_EVENT, key=OWN.mint(aud="https://aiusage.example.com")).status == 200
    # GitHub may put several audiences in one token: ours among them is enough.
    both = OWN.mint(aud=["sts.amazonaws.com", "https://aiusage.example.com"])
    assert api.post("/ai_usage", {**SIMPLE_EVENT, "event_id": "gh:octo-org/octo-repo:second"}, key=both).status == 200
    assert summary(api)["summary"]["events"] == 2


# --- refused tokens -------------------------------------------------------------------------------

def _now() -> int:
    return int(time.time())


REFUSED = {
    "wrong audience": (lambda: OWN.mint(aud="sts.amazonaws.com"), "audience"),
    "expired": (lambda: OWN.mint(iat=_now() - 900, nbf=_now() - 900, exp=_now() - 60), "expired"),
    "not yet valid": (lambda: OWN.mint(nbf=_now() + 600, exp=_now() + 900), "not yet valid"),
    "issuer not GitHub": (lambda: OWN.mint(iss="https://token.actions.example.com"), "issuer"),
    "owner not on the allowlist": (lambda: OWN.mint(repository="evil-org/octo-repo"), "not on the allowlist"),
    "missing repository_owner": (lambda: OWN.mint(repository_owner=None), "repository_owner"),
    "payload swapped under a valid signature": (
        lambda: with_payload(OWN.mint(), OWN.claims(repository="octo-org/victim-repo")),
        "signature verification failed",
    ),
    "one signature bit flipped": (lambda: with_flipped_signature(OWN.mint()), "signature verification failed"),
    "alg none": (lambda: unsigned_token(OWN.claims(), OWN.kid), "algorithm 'none'"),
    "HS256 keyed with the public key": (
        lambda: hs256_token(OWN.claims(), OWN.public_pem(), OWN.kid),
        "algorithm 'HS256'",
    ),
    "unknown kid": (lambda: STRANGER.mint(), "kid"),
    "another key under our kid": (lambda: STRANGER.mint(headers={"kid": OWN.kid}), "signature verification failed"),
    "not JSON inside": (lambda: b64url_json({"alg": "RS256", "kid": OWN.kid}) + ".bm90IGpzb24.c2ln", "invalid"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_token_is_401_with_the_json_error_and_records_nothing(api, oidc, case):
    make, reason = REFUSED[case]

    answer = api.post("/ai_usage", SIMPLE_EVENT, key=make())

    assert answer.status == 401, answer
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert (error["code"], error["details"]) == ("unauthorized", [])
    assert reason.lower() in error["message"].lower(), error["message"]
    assert summary(api)["summary"]["events"] == 0


def test_a_token_is_refused_on_every_route_but_posting_usage(api, oidc):
    token = OWN.mint()
    for method, path in (("GET", "/ai_usage"), ("GET", "/ai_usage/events"), ("GET", "/budgets"),
                         ("POST", "/keys"), ("PUT", "/prices/openai/gpt-4o")):
        answer = api.call(method, path, key=token, body={"name": "x", "scopes": ["admin"]} if method != "GET" else None)
        assert answer.status == 403, (method, path, answer)
        assert answer.json()["error"]["code"] == "forbidden"
    assert "usage:read" in api.call("GET", "/ai_usage", key=token).json()["error"]["message"]
    assert [k["name"] for k in api.get("/keys").json()["keys"]] == ["test admin"]  # POST /keys made none


# --- GitHub's JWKS fetched from its URL -----------------------------------------------------------

@pytest.fixture
def jwks_server(aws, monkeypatch):
    """GitHub's JWKS endpoint on 127.0.0.1, publishing our key; a fresh client cache around the test."""
    from shared import github_oidc

    server = LocalHttpServer(lambda seen: Reply(200, json.loads(jwks_json(OWN)))
                             if seen.path == "/.well-known/jwks" else Reply(404, {}))
    github_oidc._jwks_client.cache_clear()
    with server:
        settings_from(monkeypatch, GITHUB_JWKS=None, GITHUB_JWKS_URL=server.url + "/.well-known/jwks",
                      GITHUB_OIDC_ALLOWLIST="octo-org", GITHUB_OIDC_AUDIENCE=None)
        yield server
    github_oidc._jwks_client.cache_clear()


def test_jwks_url_is_fetched_once_and_cached_across_verifications(api, jwks_server):
    for run in range(3):
        answer = api.post(
            "/ai_usage", {**SIMPLE_EVENT, "event_id": f"gh:octo-org/octo-repo:run-{run}"}, key=OWN.mint(run_id=str(run))
        )
        assert answer.status == 200, answer
    refused = api.post("/ai_usage", SIMPLE_EVENT, key=OWN.mint(aud="someone-else"))
    assert refused.status == 401

    assert [(r.method, r.path) for r in jwks_server.requests] == [("GET", "/.well-known/jwks")]
    assert summary(api)["summary"]["events"] == 3


def test_unknown_kids_are_401_and_do_not_make_it_refetch_the_jwks(api, jwks_server):
    """An unauthenticated caller cannot turn made-up kids into a stream of fetches to GitHub."""
    for n in range(3):
        answer = api.post("/ai_usage", SIMPLE_EVENT, key=STRANGER.mint(run_id=str(n)))
        assert answer.status == 401
        assert answer.json()["error"]["code"] == "unauthorized"
        assert "aiusage-test-stranger" in answer.json()["error"]["message"]
    assert api.post("/ai_usage", SIMPLE_EVENT, key=OWN.mint()).status == 200

    assert len(jwks_server.requests) == 1
    assert summary(api)["summary"]["events"] == 1


def test_oidc_callers_ids_live_under_their_repository(api, oidc):
    """Repository A cannot take repository B's ids first (B's real post would become a conflict)."""
    squat = {**SIMPLE_EVENT, "event_id": "gh:octo-org/victim-repo:1:1:review:s1:claude-sonnet-4-5"}
    answer = api.post("/ai_usage", squat, key=OWN.mint())
    assert answer.status == 400
    assert answer.json()["error"]["details"][0]["loc"] == ["event_id"]
    generated = api.post("/ai_usage", {k: v for k, v in SIMPLE_EVENT.items() if k != "event_id"}, key=OWN.mint())
    assert generated.json()["results"][0]["event_id"].startswith("gh:octo-org/octo-repo:")
    assert summary(api)["summary"]["events"] == 1


def test_pull_request_number_comes_from_the_tokens_ref(api, oidc):
    body = {**SIMPLE_EVENT, "event_id": "gh:octo-org/octo-repo:pr", "github": {"pr_number": 999, "job": "review"}}
    assert api.post("/ai_usage", body, key=OWN.mint(ref="refs/pull/123/merge")).status == 200
    assert [e["github"]["pr_number"] for e in stored_events(api, repository="octo-org/octo-repo", pr_number="123")] == [
        123
    ]
