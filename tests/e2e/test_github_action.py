"""The GitHub Action (`.github/actions/claude-usage`) against `aiusage serve`, run the way a runner runs it.

`run_action` reads action.yml, maps the inputs into its step's env exactly as
written there, and runs the step's `run` line with bash and the variables
GitHub sets (GITHUB_*, and ACTIONS_ID_TOKEN_REQUEST_* pointing to a local
stand-in for GitHub's token endpoint that mints tokens with a local key).
Servers listen on 127.0.0.1 free ports and are stopped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import fixture_json
from tests.e2e.conftest import start_server
from tests.support.local_http import LocalHttpServer, Reply, closed_port_url
from tests.support.oidc import OidcIssuer, jwks_json

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ACTION_DIR = ROOT / ".github" / "actions" / "claude-usage"
EXECUTION = fixture_json("claude-code-execution.json")
SESSION = "3f1c2a9e-7b41-4c0e-9d2a-5e8f10b6c7d4"
REPO = "octo-org/octo-repo"
ISSUER = OidcIssuer("aiusage-e2e-key")
REQUEST_TOKEN = "ghs_runner-request-token-0123456789"  # what the runner gives the job to ask for OIDC tokens
FAST = {"AIUSAGE_RETRY_DELAY": "0.05", "AIUSAGE_HTTP_TIMEOUT": "10"}


@pytest.fixture(scope="module")
def server():
    server = start_server(env={"GITHUB_JWKS": jwks_json(ISSUER), "GITHUB_OIDC_ALLOWLIST": "octo-org",
                               "GITHUB_OIDC_AUDIENCE": "aiusage"})
    yield server
    server.stop()


class TokenEndpoint(LocalHttpServer):
    """GitHub's ID-token endpoint: checks the runner's bearer and the audience, mints a token for `claims`."""

    def __init__(self) -> None:
        self.claims: dict[str, Any] = {}
        self.issued: list[str] = []
        super().__init__(self._answer)

    def _answer(self, seen) -> Reply:
        scheme, _, token = seen.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token != REQUEST_TOKEN:
            return Reply(401, {"message": "bad request token"})
        if seen.query.get("api-version") != ["2.0"] or seen.query.get("audience") != ["aiusage"]:
            return Reply(400, {"message": f"unexpected query {seen.query}"})
        self.issued.append(ISSUER.mint(**self.claims))
        return Reply(200, {"count": 1842, "value": self.issued[-1]})

    def env(self) -> dict[str, str]:
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}/_apis/distributedtask/token?api-version=2.0",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN}


@pytest.fixture
def id_tokens():
    with TokenEndpoint() as endpoint:
        yield endpoint


@dataclass
class Run:
    code: int
    stdout: str
    outputs: dict[str, str]
    summary: str
    seconds: float

    def annotations(self, kind: str) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith(f"::{kind}")]


@dataclass
class Job:
    """One job of a workflow run: the GitHub variables and the event payload of a pull request."""

    tmp: Path
    pr_number: int = 123
    repository: str = REPO
    run_id: str = "16588214930"
    run_attempt: str = "2"
    job: str = "review"
    actor: str = "octocat"
    sha: str = "6dcb09b5b57875f334f61aebed695e2e4193db5e"

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """The OIDC claims GitHub would give this job."""
        return {
            "repository": self.repository,
            "run_id": self.run_id,
            "run_attempt": self.run_attempt,
            "actor": self.actor,
            "sha": self.sha,
            "event_name": "pull_request",
            "workflow_ref": f"{self.repository}/.github/workflows/claude-review.yml@refs/pull/{self.pr_number}/merge",
            "ref": f"refs/pull/{self.pr_number}/merge",
            **overrides,
        }

    def env(self) -> dict[str, str]:
        event = self.tmp / "event.json"
        event.write_text(json.dumps({"action": "opened", "number": self.pr_number,
                                     "pull_request": {"number": self.pr_number, "head": {"sha": self.sha}}}))
        return {
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_REPOSITORY_OWNER": self.repository.split("/")[0],
            "GITHUB_RUN_ID": self.run_id,
            "GITHUB_RUN_ATTEMPT": self.run_attempt,
            "GITHUB_JOB": self.job,
            "GITHUB_WORKFLOW": "Claude Code Review",
            "GITHUB_WORKFLOW_REF": f"{self.repository}/.github/workflows/claude-review.yml"
            f"@refs/pull/{self.pr_number}/merge",
            "GITHUB_SHA": self.sha,
            "GITHUB_ACTOR": self.actor,
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event),
            "RUNNER_TEMP": str(self.tmp),
            "GITHUB_STEP_SUMMARY": str(self.tmp / "summary.md"),
            "GITHUB_OUTPUT": str(self.tmp / "output.txt"),
        }

    def event_id(self) -> str:
        return f"gh:{self.repository}:{self.run_id}:{self.run_attempt}:{self.job}:{SESSION}"


def action_step() -> tuple[dict[str, Any], dict[str, Any]]:
    import yaml

    spec = yaml.safe_load((ACTION_DIR / "action.yml").read_text())
    assert spec["runs"]["using"] == "composite"
    (step,) = spec["runs"]["steps"]
    return spec, step


def run_action(job: Job, inputs: dict[str, str], *, extra_env: dict[str, str] | None = None) -> Run:
    """The composite action's step as a runner runs it: inputs through action.yml's env mapping, bash -eo pipefail."""
    spec, step = action_step()
    unknown = set(inputs) - set(spec["inputs"])
    assert not unknown, f"not inputs of the action: {unknown}"
    values = {name: inputs.get(name, str(meta.get("default", ""))) for name, meta in spec["inputs"].items()}
    for name, meta in spec["inputs"].items():
        assert not meta.get("required") or values[name], f"required input {name} missing"

    def expand(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            expression = match.group(1).strip()
            assert expression.startswith("inputs."), f"the test runner only knows inputs.*, not {expression}"
            return values[expression.removeprefix("inputs.")]
        return re.sub(r"\$\{\{(.*?)\}\}", one, text)

    env = {"PATH": os.environ["PATH"], "HOME": str(job.tmp), "LANG": "C.UTF-8", "GITHUB_ACTION_PATH": str(ACTION_DIR),
           **job.env(), **FAST, **(extra_env or {}), **{k: expand(str(v)) for k, v in step["env"].items()}}
    assert step["shell"] == "bash"
    for name in ("output.txt", "summary.md"):
        (job.tmp / name).write_text("")
    started = time.monotonic()
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", expand(step["run"])],
                          env=env, cwd=job.tmp, capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started
    outputs = dict(line.split("=", 1) for line in (job.tmp / "output.txt").read_text().splitlines() if "=" in line)
    return Run(proc.returncode, proc.stdout + proc.stderr, outputs, (job.tmp / "summary.md").read_text(), seconds)


def write_execution(path: Path, messages: list[Any], *, json_lines: bool = False, junk: str | None = None) -> str:
    if json_lines:
        lines = [json.dumps(m) for m in messages]
        if junk is not None:
            lines.insert(1, junk)
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_text(json.dumps(messages, indent=2))
    return str(path)


def pr_events(server, pr_number: int, repository: str = REPO) -> list[dict[str, Any]]:
    status, body, _ = server.request(
        "GET", "/ai_usage/events?" + urlencode({"repository": repository, "pr_number": pr_number})
    )
    assert status == 200, body
    return body["events"]


def pr_totals(server, pr_number: int) -> dict[str, Any]:
    status, body, _ = server.request("GET", "/ai_usage?" + urlencode({"repository": REPO, "pr_number": pr_number}))
    assert status == 200, body
    return body["summary"]


def secrets_shown(run: Run, *secrets: str) -> list[str]:
    """Output lines showing a secret, other than the `::add-mask::` command that hides it."""
    return [line for line in run.stdout.splitlines()
            if any(s in line for s in secrets) and not line.startswith("::add-mask::")]


# --- the OIDC path --------------------------------------------------------------------------------

def test_records_each_models_usage_with_the_jobs_oidc_token_and_a_rerun_records_nothing_new(
    server, id_tokens, tmp_path
):
    job = Job(tmp_path)
    id_tokens.claims = job.claims()
    inputs = {"execution-file": write_execution(tmp_path / "execution.json", EXECUTION), "api-url": server.url}

    run = run_action(job, inputs, extra_env=id_tokens.env())

    assert run.code == 0, run.stdout
    assert run.annotations("warning") == [] and run.annotations("error") == []
    assert len(id_tokens.requests) == 1  # bearer and audience checked by the endpoint, else no token
    events = sorted(pr_events(server, 123), key=lambda e: e["event_id"])
    assert [(e["event_id"], e["model"], e["cost_usd"], e["cost_source"]) for e in events] == [
        (f"{job.event_id()}:claude-haiku-4-5", "claude-haiku-4-5", 0.00385, "reported"),
        (f"{job.event_id()}:claude-sonnet-4-5", "claude-sonnet-4-5", 0.254744, "reported"),
    ]
    assert job.event_id() == f"gh:octo-org/octo-repo:16588214930:2:review:{SESSION}"
    sonnet = events[1]
    assert (sonnet["service"], sonnet["operation"], sonnet["status"]) == ("anthropic", "code_review", "ok")
    assert (
        sonnet["input_tokens"],
        sonnet["cache_read_tokens"],
        sonnet["cache_write_tokens"],
        sonnet["output_tokens"],
    ) == (12 + 198400 + 41210, 198400, 41210, 2710)
    assert sonnet["github"] == {
        "repository": REPO, "pr_number": 123, "run_id": "16588214930", "run_attempt": 2, "job": "review",
        "workflow": "Claude Code Review", "actor": "octocat", "sha": job.sha, "event_name": "pull_request",
        "workflow_ref": "octo-org/octo-repo/.github/workflows/claude-review.yml@refs/pull/123/merge",
    }
    assert sonnet["metadata"] == {"session_id": SESSION, "num_turns": 7, "duration_ms": 74120,
                                  "subtype": "success", "is_error": False}
    assert run.outputs == {"recorded": "true", "event-id": job.event_id(), "accepted": "2", "duplicates": "0",
                           "cost-usd": "0.2585935", "auth": "oidc"}
    assert "| `claude-sonnet-4-5` | 12 | 198400 | 41210 | 2710 | 0.2547435 | created |" in run.summary
    assert "| `claude-haiku-4-5` | 1840 | 0 | 0 | 402 | 0.00385 | created |" in run.summary
    assert "**Total:** $0.2585935 · 7 turns" in run.summary
    (token,) = id_tokens.issued
    assert secrets_shown(run, token) == [] and f"::add-mask::{token}" in run.stdout
    assert REQUEST_TOKEN not in run.stdout

    again = run_action(job, inputs, extra_env=id_tokens.env())

    assert again.code == 0, again.stdout
    assert (again.outputs["accepted"], again.outputs["duplicates"], again.outputs["recorded"]) == ("0", "2", "true")
    assert "| `claude-sonnet-4-5` | 12 | 198400 | 41210 | 2710 | 0.2547435 | duplicate |" in again.summary
    assert len(pr_events(server, 123)) == 2
    totals = pr_totals(server, 123)
    assert (totals["events"], totals["total_cost_usd"]) == (2, 0.258594)


def test_json_lines_with_noise_record_the_last_result_message(server, id_tokens, tmp_path):
    job = Job(tmp_path, pr_number=124, run_id="16588215000", run_attempt="1")
    id_tokens.claims = job.claims()
    earlier = fixture_json("claude-code-result-error.json")  # an earlier result in the same file: not the last
    path = write_execution(tmp_path / "execution.jsonl", [earlier, *EXECUTION], json_lines=True,
                           junk="npm WARN deprecated something@1.0.0")

    run = run_action(job, {"execution-file": path, "api-url": server.url}, extra_env=id_tokens.env())

    assert run.code == 0, run.stdout
    events = pr_events(server, 124)
    assert sorted(e["event_id"] for e in events) == [f"{job.event_id()}:claude-haiku-4-5",
                                                     f"{job.event_id()}:claude-sonnet-4-5"]
    assert sorted(e["cost_usd"] for e in events) == [0.00385, 0.254744]
    assert run.outputs["accepted"] == "2"


def test_a_file_without_a_result_message_records_nothing_with_a_warning(server, id_tokens, tmp_path):
    job = Job(tmp_path, pr_number=125, run_id="16588216000")
    id_tokens.claims = job.claims()
    path = write_execution(tmp_path / "execution.json", EXECUTION[:-1])

    for fail_on_error in ("false", "true"):  # nothing to record is not a failure to record
        run = run_action(job, {"execution-file": path, "api-url": server.url, "fail-on-error": fail_on_error},
                         extra_env=id_tokens.env())
        assert run.code == 0, run.stdout
        (warning,) = run.annotations("warning")
        assert "no Claude Code result message" in warning
        assert run.outputs["recorded"] == "false"
        assert "Nothing recorded" in run.summary

    assert id_tokens.requests == []  # not even a token was asked for
    assert pr_events(server, 125) == []


def test_a_repository_off_the_allowlist_is_refused_once_without_retries(server, id_tokens, tmp_path):
    job = Job(tmp_path, repository="evil-org/octo-repo", run_id="16588217000")
    id_tokens.claims = job.claims()
    path = write_execution(tmp_path / "execution.json", EXECUTION)

    run = run_action(job, {"execution-file": path, "api-url": server.url}, extra_env=id_tokens.env())

    assert run.code == 0
    assert run.stdout.count("failed: HTTP 401") == 1  # a 4xx is not retried
    (warning,) = run.annotations("warning")
    assert "not on the allowlist" in warning
    assert pr_events(server, 123, repository="evil-org/octo-repo") == []


# An API 500/529 ends a Claude Code run with is_error: true and subtype "success"; the reason is in `result`.
# (Shape: anthropics/claude-agent-sdk-python tests/test_errors.py and e2e-tests/test_error_results.py.)
API_ERROR = 'API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'


def test_a_run_ended_by_an_api_error_is_recorded_as_an_error_and_the_summary_says_why(server, id_tokens, tmp_path):
    job = Job(tmp_path, pr_number=130, run_id="16588230000")
    id_tokens.claims = job.claims()
    failed = {**EXECUTION[-1], "is_error": True, "subtype": "success", "errors": [], "result": API_ERROR,
              "api_error_status": 529, "terminal_reason": "api_error"}
    path = write_execution(tmp_path / "execution.json", [*EXECUTION[:-1], failed])

    run = run_action(job, {"execution-file": path, "api-url": server.url}, extra_env=id_tokens.env())

    assert run.code == 0, run.stdout
    events = pr_events(server, 130)
    assert {(e["model"], e["status"], e["error"]) for e in events} == {
        ("claude-sonnet-4-5", "error", API_ERROR), ("claude-haiku-4-5", "error", API_ERROR)}
    assert {e["metadata"]["api_error_status"] for e in events} == {529}
    assert f"**Failed:** {API_ERROR}" in run.summary
    assert "success" not in run.summary


def test_a_failed_run_with_nothing_to_record_still_says_why(server, id_tokens, tmp_path):
    job = Job(tmp_path, pr_number=131, run_id="16588231000")
    id_tokens.claims = job.claims()
    # anthropics/claude-agent-sdk-python tests/test_message_parser.py: no usage, no cost, only the HTTP status.
    failed = {"type": "result", "subtype": "success", "duration_ms": 2000, "duration_api_ms": 1500, "is_error": True,
              "num_turns": 1, "session_id": "session_overload", "api_error_status": 529}
    path = write_execution(tmp_path / "execution.json", [failed])

    run = run_action(job, {"execution-file": path, "api-url": server.url}, extra_env=id_tokens.env())

    assert run.code == 0 and run.outputs["recorded"] == "false"
    assert "Nothing recorded: the result reports no usage and no cost." in run.summary
    assert "**Failed:** API error (HTTP 529)" in run.summary
    assert id_tokens.requests == []


def test_a_result_without_model_usage_records_the_tokens_of_usage(server, id_tokens, tmp_path):
    job = Job(tmp_path, pr_number=132, run_id="16588232000")
    id_tokens.claims = job.claims()
    result = {"type": "result", "subtype": "success", "is_error": False, "num_turns": 2, "session_id": SESSION,
              "total_cost_usd": 0, "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 7}}
    path = write_execution(tmp_path / "execution.json", [result])

    run = run_action(job, {"execution-file": path, "api-url": server.url}, extra_env=id_tokens.env())

    assert run.code == 0 and run.outputs["accepted"] == "1", run.stdout
    (event,) = pr_events(server, 132)
    assert (event["model"], event["input_tokens"], event["cache_read_tokens"], event["output_tokens"]) == (
        "unknown",
        15,
        5,
        7,
    )


# --- the API key path -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def write_key(server) -> str:
    status, body, _ = server.request("POST", "/keys", {"name": "ci", "scopes": ["usage:write"]})
    assert status == 201, body
    return body["key"]


def test_api_key_records_without_oidc(server, write_key, tmp_path):
    job = Job(tmp_path, pr_number=126, run_id="16588218000", actor="dependabot[bot]")
    path = write_execution(tmp_path / "execution.json", EXECUTION)

    run = run_action(job, {"execution-file": path, "api-url": server.url + "/", "api-key": write_key})

    assert run.code == 0, run.stdout
    assert "using the api-key input" in run.stdout and run.outputs["auth"] == "api-key"
    events = pr_events(server, 126)
    assert sorted(e["cost_usd"] for e in events) == [0.00385, 0.254744]
    # Without a token the context is what the job says about itself.
    assert {e["github"]["actor"] for e in events} == {"dependabot[bot]"}
    assert {e["github"]["run_id"] for e in events} == {"16588218000"}
    assert secrets_shown(run, write_key) == []
    assert f"::add-mask::{write_key}" in run.stdout


def test_api_key_is_the_fallback_when_no_oidc_token_can_be_had(server, write_key, tmp_path):
    job = Job(tmp_path, pr_number=127, run_id="16588219000")
    path = write_execution(tmp_path / "execution.json", EXECUTION)
    with LocalHttpServer(lambda seen: Reply(500, {"message": "boom"})) as broken:
        run = run_action(job, {"execution-file": path, "api-url": server.url, "api-key": write_key},
                         extra_env={"ACTIONS_ID_TOKEN_REQUEST_URL": broken.url + "/token?api-version=2.0",
                                    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN})
    assert run.code == 0, run.stdout
    assert any("could not get a GitHub OIDC token" in w for w in run.annotations("warning"))
    assert run.outputs["auth"] == "api-key"
    assert len(broken.requests) == 4  # the token endpoint is retried like the API
    assert len(pr_events(server, 127)) == 2


def test_without_any_credentials_nothing_is_posted(server, tmp_path):
    job = Job(tmp_path, pr_number=128, run_id="16588220000")
    path = write_execution(tmp_path / "execution.json", EXECUTION)

    soft = run_action(job, {"execution-file": path, "api-url": server.url})
    strict = run_action(job, {"execution-file": path, "api-url": server.url, "fail-on-error": "true"})

    assert soft.code == 0 and "no credentials" in soft.annotations("warning")[0]
    assert (soft.outputs["auth"], soft.outputs["recorded"]) == ("none", "false")
    assert strict.code == 1 and "no credentials" in strict.annotations("error")[0]
    assert pr_events(server, 128) == []


def test_a_long_repository_name_gets_a_stable_short_id(server, write_key, tmp_path):
    repository = "octo-org/" + "a-very-long-repository-name-" * 3
    job = Job(tmp_path, repository=repository, run_id="16588221000")
    path = write_execution(tmp_path / "execution.json", EXECUTION)

    first = run_action(job, {"execution-file": path, "api-url": server.url, "api-key": write_key})
    second = run_action(job, {"execution-file": path, "api-url": server.url, "api-key": write_key})

    assert first.code == 0 and second.code == 0, first.stdout
    event_id = first.outputs["event-id"]
    assert re.fullmatch(re.escape(f"gh:{repository}:") + r"[0-9a-f]{12,40}", event_id)
    assert len(event_id) + len(":claude-sonnet-4-5") <= 128
    assert (first.outputs["accepted"], second.outputs["event-id"], second.outputs["duplicates"]) == ("2", event_id, "2")
    events = pr_events(server, 123, repository=repository)
    assert sorted(e["event_id"] for e in events) == [f"{event_id}:claude-haiku-4-5", f"{event_id}:claude-sonnet-4-5"]


# --- when the API is down or answers errors -------------------------------------------------------

def test_api_down_warns_after_three_retries_and_fails_only_when_asked(tmp_path, write_key):
    job = Job(tmp_path, run_id="16588222000")
    inputs = {"execution-file": write_execution(tmp_path / "execution.json", EXECUTION),
              "api-url": closed_port_url(), "api-key": write_key}

    soft = run_action(job, inputs)
    strict = run_action(job, {**inputs, "fail-on-error": "true"})

    for run in (soft, strict):
        assert [n for n in range(1, 5) if f"attempt {n}/4 failed: connection error" in run.stdout] == [1, 2, 3, 4]
        assert run.seconds >= 0.05 + 0.1 + 0.2  # the backoff doubled between attempts
        assert run.outputs["recorded"] == "false"
    assert soft.code == 0 and len(soft.annotations("warning")) == 1 and soft.annotations("error") == []
    assert strict.code == 1 and len(strict.annotations("error")) == 1
    assert "could not post usage" in strict.annotations("error")[0]


ANSWERS = {
    # statuses the fake API answers in turn -> requests made, recorded
    "5xx then 429 then 200": ([503, 429, 200], 3, True),
    "always 502": ([502] * 6, 4, False),
    "400 is not retried": ([400, 200], 1, False),
    "403 is not retried": ([403, 200], 1, False),
}


@pytest.mark.parametrize("case", sorted(ANSWERS))
def test_retries_connection_errors_429_and_5xx_only(tmp_path, case):
    statuses, expected_requests, recorded = ANSWERS[case]
    answers = iter(statuses)

    def respond(seen) -> Reply:
        status = next(answers)
        if status == 200:
            return Reply(200, {"accepted": 2, "duplicates": 0, "conflicts": 0, "results": []})
        return Reply(status, {"error": {"code": "x", "message": f"answer {status}", "details": []}})

    job = Job(tmp_path)
    with LocalHttpServer(respond) as api:
        run = run_action(job, {"execution-file": write_execution(tmp_path / "execution.json", EXECUTION),
                               "api-url": api.url, "api-key": "aiu_test-key-for-a-fake-api-0123456789\n"},
                         extra_env={"GITHUB_ACTIONS": "false"})  # not on a runner: no ::add-mask:: either

    assert run.code == 0
    assert len(api.requests) == expected_requests
    assert {(r.method, r.path) for r in api.requests} == {("POST", "/ai_usage")}
    assert len({r.body for r in api.requests}) == 1  # every retry posts the very same event
    assert api.requests[0].headers["authorization"] == "Bearer aiu_test-key-for-a-fake-api-0123456789"
    body = api.requests[0].json()
    assert set(body) == {"event_id", "service", "operation", "claude_code_result", "github"}
    assert "result" not in body["claude_code_result"]  # the review text stays in GitHub
    assert body["claude_code_result"]["modelUsage"] == EXECUTION[-1]["modelUsage"]
    assert run.outputs["recorded"] == ("true" if recorded else "false")
    assert len(run.annotations("warning")) == (0 if recorded else 1)
    assert "aiu_test-key-for-a-fake-api" not in run.stdout


def test_action_inputs_and_their_defaults_are_the_documented_ones():
    spec, step = action_step()
    assert {name: (meta.get("required", False), meta.get("default")) for name, meta in spec["inputs"].items()} == {
        "execution-file": (True, None), "api-url": (True, None), "audience": (False, "aiusage"),
        "api-key": (False, ""), "fail-on-error": (False, "false"), "service": (False, "anthropic"),
        "operation": (False, "code_review"),
    }
    # Every input reaches the script, and only through env (never pasted into the script's text).
    assert "${{" not in step["run"]
    assert {v for v in step["env"].values()} == {f"${{{{ inputs.{name} }}}}" for name in spec["inputs"]}


def test_example_workflow_feeds_claude_code_actions_execution_file_to_the_action():
    import yaml

    workflow = yaml.safe_load((ROOT / "examples" / "claude-code-review.yml").read_text())
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the `on:` key as True
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write", "id-token": "write"}
    (job,) = workflow["jobs"].values()
    claude = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("anthropics/claude-code-action@v1"))
    usage = next(s for s in job["steps"] if str(s.get("uses", "")).endswith(".github/actions/claude-usage@v1"))
    assert job["steps"].index(claude) < job["steps"].index(usage)
    assert usage["if"] == "always()"
    assert usage["with"]["execution-file"] == f"${{{{ steps.{claude['id']}.outputs.execution_file }}}}"
    assert set(usage["with"]) <= set(action_step()[0]["inputs"])
