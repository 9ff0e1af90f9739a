"""Usage routes: record, query, list events, estimate, reprice.

Route signatures are the API contract the OpenAPI document is generated from
(`functions/api/openapi.py`). Powertools' own validation is off: `shared/`
parses the raw query string and body (unknown parameters and fields are
400s there, and errors name fields the SPEC 3 way), so parameters declared
here are never passed in — the functions read the event, as before.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api.answers import TEXT, answer
from functions.api.request import json_body
from shared import ingest, query, repricing
from shared.models import EstimateIn, RepriceIn, UsageBatchIn, UsageEventIn

router = APIGatewayHttpRouter()

# Empty query values count as absent (`?service=` is no filter), so every pattern allows "".
DATE = r"^(\d{4}-\d{2}-\d{2})?$"
NAMES = "hour|day|week|month|service|model|operation|user|project|job|batch|repository"
NAME_LIST = rf"^(({NAMES})(,({NAMES}))*)?$"
StartDate = Annotated[str | None, Query(pattern=DATE, description="YYYY-MM-DD, inclusive, UTC (default: end_date - 29 days)")]
EndDate = Annotated[str | None, Query(pattern=DATE, description="YYYY-MM-DD, inclusive, UTC (default: today); range <= 400 days")]
Filter = Annotated[str | None, Query(description="exact match; a comma-separated list (at most 50) matches any of its "
                                                 "values, each bounded like the stored field (400 otherwise)")]
BODY = "One event, or `{\"events\": [...]}` with 1..1000 events; at most 1 MiB. One invalid event: nothing is written."


def _params() -> dict[str, str]:
    return router.current_event.query_string_parameters or {}


@router.post("/ai_usage", responses={200: answer("RecordAnswer", "Every event is stored (or already was)")})
def record(body: Annotated[UsageEventIn | UsageBatchIn, Body(description=BODY)] = None) -> dict:
    """Record usage events (`usage:write`).

    Idempotent by `event_id`: the same id with the same content is a `duplicate`,
    with other content a `conflict` (the stored event wins); neither changes a total.
    GitHub OIDC callers have the token's repository and run stamped on every event.
    """
    return ingest.record_usage(json_body(router.current_event.raw_event),
                               github_claims=router.context.get("github_claims"))


@router.get("/ai_usage", responses={200: answer("UsageAnswer", "Totals, breakdowns and rows (or CSV rows)",
                                                        text_csv=TEXT)})
def usage(
    start_date: StartDate = None,
    end_date: EndDate = None,
    service: Filter = None,
    model: Filter = None,
    operation: Filter = None,
    user_id: Filter = None,
    project: Filter = None,
    job_id: Filter = None,
    batch_id: Filter = None,
    repository: Annotated[str | None, Query(description="exact match, comma = any of; required with pr_number")] = None,
    pr_number: Annotated[str | None, Query(pattern=r"^(\d+(,\d+)*)?$", description="Pull request numbers")] = None,
    aggregation: Annotated[str | None, Query(pattern=NAME_LIST, description="Breakdowns `by_<name>` (default day)")] = None,
    group_by: Annotated[str | None, Query(pattern=NAME_LIST, description="Cross-tab `rows`, one per combination")] = None,
    format: Annotated[str | None, Query(pattern=r"^(json|csv)?$", description="csv: text/csv rows (group_by day)")] = None,
) -> Response[dict | str]:
    """Query usage totals (`usage:read`).

    Money is the exact Decimal sum rounded half-up to 6 places. Time, service,
    model and operation views (and user, project, repository by day) read
    pre-aggregated cells; `stats` shows what DynamoDB returned.
    """
    totals = query.query_usage(_params())
    if (_params().get("format") or "").lower() == "csv":
        return Response(200, "text/csv; charset=utf-8", query.usage_csv(totals))
    return Response(200, content_types.APPLICATION_JSON, totals)


@router.get("/ai_usage/events", responses={200: answer("EventsPage", "A page of stored events")})
def events(
    start_date: StartDate = None,
    end_date: EndDate = None,
    service: Annotated[str | None, Query(description="At most one of service, job_id, batch_id, pr_number")] = None,
    job_id: Annotated[str | None, Query()] = None,
    batch_id: Annotated[str | None, Query()] = None,
    pr_number: Annotated[str | None, Query(pattern=r"^\d*$", description="With repository")] = None,
    repository: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    next_token: Annotated[str | None, Query(description="From the previous page of the same query")] = None,
) -> dict:
    """List stored events, newest first (`usage:read`)."""
    return query.list_events(_params())


@router.post("/ai_usage/estimate",
             responses={200: answer("EstimateAnswer", "Costs, and what each matching budget would have left")})
def estimate(body: Annotated[EstimateIn, Body()] = None) -> dict:
    """Price planned usage before spending it (`usage:read`)."""
    return query.estimate(json_body(router.current_event.raw_event))


@router.post("/ai_usage/reprice", responses={200: answer("RepriceAnswer", "How many unpriced events got a price")})
def reprice(body: Annotated[RepriceIn, Body()] = None) -> dict:
    """Price the `unpriced` events of a date range whose price is now known (`admin`).

    Every total (cells, budgets) is updated exactly once per repriced event, as the
    aggregator folds the change in (seconds later: see `stats.aggregated_through`).
    """
    return repricing.reprice_body(json_body(router.current_event.raw_event))
