#!/usr/bin/env bash
# Records the usage of one Claude Code run (claude-code-action's execution file) in aiusage.
#
# Run by action.yml; tests run it directly with the environment GitHub sets. bash, curl and jq only.
#
#   inputs     INPUT_EXECUTION_FILE INPUT_API_URL INPUT_AUDIENCE INPUT_API_KEY INPUT_FAIL_ON_ERROR
#              INPUT_SERVICE INPUT_OPERATION
#   from GitHub GITHUB_REPOSITORY GITHUB_RUN_ID GITHUB_RUN_ATTEMPT GITHUB_JOB GITHUB_WORKFLOW GITHUB_WORKFLOW_REF
#              GITHUB_ACTOR GITHUB_SHA GITHUB_EVENT_NAME GITHUB_EVENT_PATH GITHUB_STEP_SUMMARY GITHUB_OUTPUT
#              ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_ID_TOKEN_REQUEST_TOKEN (present with `id-token: write`)
#   knobs      AIUSAGE_RETRIES (3) AIUSAGE_RETRY_DELAY (2 s, doubled on each retry) AIUSAGE_HTTP_TIMEOUT (30 s)
#
# It posts the LAST `type: result` message once, with the id
# gh:<repository>:<run_id>:<run_attempt>:<job>:<session_id> (so a re-run of the step is a duplicate,
# and a re-run of the workflow, a new attempt, is new usage). It never fails the step unless
# fail-on-error is true, and never prints the token or the key.

set -uo pipefail # no -e: every failure is handled below, and only fail-on-error may fail the step
umask 077

TITLE="aiusage"
retries=${AIUSAGE_RETRIES:-3}
delay=${AIUSAGE_RETRY_DELAY:-2}
http_timeout=${AIUSAGE_HTTP_TIMEOUT:-30}
case "${INPUT_FAIL_ON_ERROR:-false}" in
  true | True | TRUE | yes | 1) fail_on_error=true ;;
  *) fail_on_error=false ;;
esac

# Outputs, summary facts; filled in as we go.
event_id="" recorded=false accepted=0 duplicates=0 cost_usd="" auth=none result_file="" response_file=""

# Workflow commands carry data after `::`; GitHub wants %, CR and LF escaped there.
escape() {
  local s=$1
  s=${s//'%'/'%25'}
  s=${s//$'\r'/'%0D'}
  s=${s//$'\n'/'%0A'}
  printf '%s' "$s"
}
warning() { echo "::warning title=${TITLE}::$(escape "$*")"; }
# Hide a secret from the rest of the job's log (only on a runner: elsewhere it would print it).
mask() { if [ "${GITHUB_ACTIONS:-}" = true ]; then echo "::add-mask::$1"; fi; }
notice() { echo "::notice title=${TITLE}::$(escape "$*")"; }

set_outputs() {
  [ -n "${GITHUB_OUTPUT:-}" ] || return 0
  {
    echo "recorded=${recorded}"
    echo "event-id=${event_id}"
    echo "accepted=${accepted}"
    echo "duplicates=${duplicates}"
    echo "cost-usd=${cost_usd}"
    echo "auth=${auth}"
  } >>"$GITHUB_OUTPUT"
}

# A failure to record: a warning, or (fail-on-error: true) an error that fails the step.
give_up() {
  summary "Not recorded: $*"
  set_outputs
  if $fail_on_error; then
    echo "::error title=${TITLE}::$(escape "$*")"
    exit 1
  fi
  warning "$* (usage not recorded; the workflow goes on)"
  exit 0
}

# jq definitions shared by the summary and the request: whether the run failed, and why, in its own
# words (as the server reads it: `errors`, else `result`, else the API status, the terminal reason or an
# error subtype). An API 500 or 529 ends with `is_error: true` and `subtype: "success"`: never say "success".
JQ_FAILURE='
  def trimmed: tostring | gsub("^\\s+|\\s+$"; "");
  def failed: .is_error == true or ((.subtype | type) == "string" and (.subtype | startswith("error")));
  def reason:
    ([(.errors // []) | if type == "array" then .[] else . end | select(. != null) | trimmed | select(length > 0)]
     | join("; ")) as $errors
    | if $errors != "" then $errors
      elif (.result | type) == "string" and (.result | trimmed) != "" then .result | trimmed
      elif (.api_error_status | type) == "number" then "API error (HTTP \(.api_error_status))"
      elif (.terminal_reason | type) == "string" and (.terminal_reason | trimmed) != "" and .terminal_reason != "completed"
        then .terminal_reason | trimmed
      elif (.subtype | type) == "string" and (.subtype | trimmed) != "" and .subtype != "success" then .subtype | trimmed
      else "Claude Code reported is_error: true without a reason" end
    | .[0:1000];
'

# The step summary: what the run cost per model (from Claude Code's own numbers) and what was recorded.
summary() {
  [ -n "${GITHUB_STEP_SUMMARY:-}" ] || return 0
  local status_line=$1
  {
    echo "### AI usage: Claude Code"
    echo
    if [ -s "$result_file" ]; then
      jq -r --arg base "$event_id" --slurpfile answer "${response_file:-/dev/null}" "$JQ_FAILURE"'
        def id_safe: gsub("[^A-Za-z0-9._:@/-]"; "-");
        (($answer[0].results // []) | map({key: .event_id, value: .status}) | from_entries) as $status
        | (.modelUsage // {}) as $models
        | if ($models | length) > 0 then
            "| Model | Input (uncached) | Cache read | Cache write | Output | Cost (USD) | Recorded |",
            "|---|---:|---:|---:|---:|---:|---|",
            ($models | to_entries[] | "| `\(.key)` | \(.value.inputTokens // 0) | \(.value.cacheReadInputTokens // 0) | \(.value.cacheCreationInputTokens // 0) | \(.value.outputTokens // 0) | \(.value.costUSD // "n/a") | \($status["\($base):\(.key | id_safe)"] // "no") |"),
            ""
          else empty end,
          "**Total:** \(if .total_cost_usd == null then "n/a" else "$\(.total_cost_usd)" end) · \(.num_turns // "?") turns · \(if .duration_ms then "\(.duration_ms / 1000) s" else "? s" end)",
          (if failed then "", "**Failed:** \(reason | gsub("\\s+"; " ") | gsub("`"; "\u0027"))" else empty end)
      ' "$result_file" 2>/dev/null
      echo
    fi
    [ -z "$event_id" ] || echo "Event id: \`${event_id}\`"
    echo
    echo "${status_line}"
  } >>"$GITHUB_STEP_SUMMARY"
}

for tool in jq curl; do
  command -v "$tool" >/dev/null 2>&1 || {
    give_up "$tool is not installed on this runner"
  }
done

workdir=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/aiusage.XXXXXX") || give_up "cannot create a temporary directory"
trap 'rm -rf "$workdir"' EXIT
result_file="$workdir/result.json"

# One HTTP request with the retry policy: connection errors, 429 and 5xx are retried with exponential
# backoff; other answers are final. Sets `status` and `last_error` (empty on a 2xx).
#   request <response-file> <headers-file> <url> [<body-file>]
request() {
  local out=$1 headers=$2 url=$3 data=${4:-} attempts=$((retries + 1)) pause=$delay n rc retry message
  local -a method=()
  [ -z "$data" ] || method=(-X POST --data-binary "@${data}")
  for ((n = 1; n <= attempts; n++)); do
    status=$(curl -sS -o "$out" -w '%{http_code}' --connect-timeout 10 --max-time "$http_timeout" \
      -H @"$headers" ${method[@]+"${method[@]}"} "$url" 2>"$workdir/curl.err")
    rc=$?
    if [ "$rc" -eq 0 ] && [[ "$status" == 2* ]]; then
      last_error=""
      return 0
    fi
    if [ "$rc" -ne 0 ]; then
      last_error="connection error: $(head -c 300 "$workdir/curl.err" | tr '\n' ' ')"
      retry=true
    else
      message=$(jq -r '.error.message // .message // empty' "$out" 2>/dev/null | head -c 300)
      last_error="HTTP ${status}${message:+: $message}"
      [[ "$status" == 429 || "$status" == 5* ]] && retry=true || retry=false
    fi
    echo "aiusage: attempt ${n}/${attempts} failed: ${last_error}"
    $retry && [ "$n" -lt "$attempts" ] || return 1
    sleep "$pause"
    pause=$(jq -n --argjson d "$pause" '$d * 2')
  done
  return 1
}

# --- 1. the last result message of the execution file ------------------------------------------
file=${INPUT_EXECUTION_FILE:-}
api_url=${INPUT_API_URL:-}
[ -n "$file" ] || give_up "the execution-file input is empty (did the Claude Code step run?)"
[ -n "$api_url" ] || give_up "the api-url input is empty"
[ -r "$file" ] || give_up "cannot read the execution file ${file}"

# An array of messages (claude-code-action) or JSON lines (claude -p --output-format stream-json).
pick_result='if type == "array" then .[] else . end | select(type == "object" and .type == "result")'
if ! jq -c "$pick_result" "$file" >"$workdir/results.jsonl" 2>"$workdir/jq.err"; then
  # Not one JSON document nor clean JSON lines: take the lines that are JSON.
  jq -cR "fromjson? | $pick_result" "$file" >"$workdir/results.jsonl" 2>/dev/null
  echo "aiusage: ${file} is not clean JSON; read the lines that are"
fi
tail -n 1 "$workdir/results.jsonl" >"$result_file"
if [ ! -s "$result_file" ]; then
  summary "Nothing recorded: the execution file has no result message."
  set_outputs
  warning "no Claude Code result message in ${file}: nothing recorded (did Claude Code finish?)"
  exit 0
fi
cost_usd=$(jq -r '.total_cost_usd // empty' "$result_file")

# Tokens without a modelUsage entry (older Claude Code versions) are still usage: the server records them.
if jq -e '((.modelUsage // {}) | length) == 0 and ((.total_cost_usd // 0) == 0)
          and ([(.usage // {}) | .input_tokens, .output_tokens, .cache_read_input_tokens, .cache_creation_input_tokens
                | numbers] | add // 0) == 0' "$result_file" >/dev/null; then
  summary "Nothing recorded: the result reports no usage and no cost."
  set_outputs
  notice "the Claude Code result reports no usage and no cost: nothing to record"
  exit 0
fi

# --- 2. the event -------------------------------------------------------------------------------
session_id=$(jq -r '.session_id // empty' "$result_file")
event_id=$(printf 'gh:%s:%s:%s:%s:%s' "${GITHUB_REPOSITORY:-local/unknown}" "${GITHUB_RUN_ID:-0}" \
  "${GITHUB_RUN_ATTEMPT:-1}" "${GITHUB_JOB:-job}" "${session_id:-no-session}" | tr -c 'A-Za-z0-9._:@/-' '-')
# The server appends ":<model>" and allows 128 characters: very long ids keep their
# "gh:<repository>:" prefix (the server requires it of OIDC callers) and a stable digest of the rest.
longest_model=$(jq '[(.modelUsage // {}) | keys[] | length] | max // 7' "$result_file")
if [ $((${#event_id} + 1 + longest_model)) -gt 128 ]; then
  prefix=$(printf 'gh:%s:' "${GITHUB_REPOSITORY:-local/unknown}" | tr -c 'A-Za-z0-9._:@/-' '-')
  digest=$(printf '%s' "$event_id" | { sha256sum 2>/dev/null || shasum -a 256; })
  room=$((128 - ${#prefix} - 1 - longest_model))
  [ "$room" -gt 40 ] && room=40
  [ "$room" -ge 12 ] || give_up "the repository name is too long for an aiusage event id"
  notice "event id ${event_id} is too long once the model is appended; using ${prefix}${digest:0:$room}"
  event_id="${prefix}${digest:0:$room}"
fi

pr_number=""
if [ -n "${GITHUB_EVENT_PATH:-}" ] && [ -r "${GITHUB_EVENT_PATH}" ]; then
  # pull_request(_target), pull_request_review(_comment), and issue_comment on a pull request.
  pr_number=$(jq -r '(.pull_request.number // (if .issue.pull_request then .issue.number else null end))
                     | select(type == "number") | tostring' "$GITHUB_EVENT_PATH" 2>/dev/null || true)
fi

# Only the counts, cost and outcome go to the ledger: not the review text, not permission denials. The
# `result` text goes only when the run failed: then it is the API error that says why (trimmed).
jq -c \
  --arg event_id "$event_id" \
  --arg service "${INPUT_SERVICE:-anthropic}" \
  --arg operation "${INPUT_OPERATION:-code_review}" \
  --arg repository "${GITHUB_REPOSITORY:-}" \
  --arg pr_number "$pr_number" \
  --arg run_id "${GITHUB_RUN_ID:-}" \
  --arg run_attempt "${GITHUB_RUN_ATTEMPT:-}" \
  --arg workflow "${GITHUB_WORKFLOW:-}" \
  --arg workflow_ref "${GITHUB_WORKFLOW_REF:-}" \
  --arg job "${GITHUB_JOB:-}" \
  --arg actor "${GITHUB_ACTOR:-}" \
  --arg sha "${GITHUB_SHA:-}" \
  --arg event_name "${GITHUB_EVENT_NAME:-}" "$JQ_FAILURE"'
  def number: if test("^[0-9]+$") then tonumber else null end;
  {
    event_id: $event_id,
    service: $service,
    operation: $operation,
    claude_code_result: ({type, subtype, is_error, duration_ms, duration_api_ms, num_turns, session_id,
                          total_cost_usd, usage, modelUsage, errors, api_error_status, terminal_reason}
                         + (if failed and (.result | type) == "string" then {result: .result[0:1000]} else {} end)),
    github: {
      repository: $repository, pr_number: ($pr_number | number), run_id: $run_id[0:64],
      run_attempt: ($run_attempt | number), workflow: $workflow[0:128], workflow_ref: $workflow_ref[0:400],
      job: $job[0:128], actor: $actor[0:128], sha: $sha[0:64], event_name: $event_name[0:128]
    }
  }
  | .claude_code_result |= with_entries(select(.value != null))
  | .github |= with_entries(select(.value != null and .value != ""))
  ' "$result_file" >"$workdir/payload.json" || give_up "could not build the request from the result message"

# --- 3. credentials: the job's OIDC token, else the API key ---------------------------------------
token=""
if [ -n "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ] && [ -n "${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-}" ]; then
  audience=$(jq -rn --arg v "${INPUT_AUDIENCE:-aiusage}" '$v | @uri')
  case "$ACTIONS_ID_TOKEN_REQUEST_URL" in *\?*) sep='&' ;; *) sep='?' ;; esac
  printf 'Authorization: bearer %s\n' "$ACTIONS_ID_TOKEN_REQUEST_TOKEN" >"$workdir/id-token-headers"
  echo "aiusage: asking GitHub for an OIDC token (audience ${INPUT_AUDIENCE:-aiusage})"
  if request "$workdir/id-token.json" "$workdir/id-token-headers" "${ACTIONS_ID_TOKEN_REQUEST_URL}${sep}audience=${audience}"; then
    token=$(jq -r '.value // empty' "$workdir/id-token.json" 2>/dev/null)
  fi
  if [ -n "$token" ]; then
    mask "$token"
    auth=oidc
  else
    warning "could not get a GitHub OIDC token (${last_error:-no value in the answer})"
  fi
fi
if [ -z "$token" ] && [ -n "${INPUT_API_KEY:-}" ]; then
  token=$(printf '%s' "$INPUT_API_KEY" | tr -d '[:space:]') # a pasted secret often ends in a newline
  mask "$token"
  auth=api-key
  echo "aiusage: using the api-key input"
fi
[ -n "$token" ] || give_up "no credentials: grant the job 'permissions: id-token: write' or pass the api-key input"
{
  printf 'Authorization: Bearer %s\n' "$token"
  printf 'Content-Type: application/json\n'
  printf 'User-Agent: aiusage-claude-usage-action/1\n'
} >"$workdir/api-headers"
unset token

# --- 4. post ---------------------------------------------------------------------------------------
api_url=${api_url%/}
api_url=${api_url%/ai_usage}
response_file="$workdir/response.json"
if ! request "$response_file" "$workdir/api-headers" "${api_url}/ai_usage" "$workdir/payload.json"; then
  response_file=""
  give_up "could not post usage to ${api_url}/ai_usage: ${last_error}"
fi

# --- 5. what the ledger says ----------------------------------------------------------------------
recorded=true
accepted=$(jq -r '.accepted // 0' "$response_file" 2>/dev/null || echo 0)
duplicates=$(jq -r '.duplicates // 0' "$response_file" 2>/dev/null || echo 0)
conflicts=$(jq -r '.conflicts // 0' "$response_file" 2>/dev/null || echo 0)
jq -r '.results[]? | "aiusage: \(.event_id) \(.status) $\(.cost_usd) (\(.cost_source))"' "$response_file" 2>/dev/null
echo "aiusage: ${accepted} new event(s), ${duplicates} duplicate(s) for ${event_id}"
if [ "${conflicts:-0}" != 0 ]; then
  warning "${conflicts} event(s) of ${event_id} were already recorded with other content; the stored ones were kept"
fi
summary "Recorded in aiusage: ${accepted} new, ${duplicates} duplicate."
set_outputs
exit 0
