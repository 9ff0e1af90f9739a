"""Usage routes: record, query, list events, estimate, reprice.

Route signatures are the API contract: Powertools validates the parameters
and bodies they declare (`enable_validation=True`; errors in SPEC 3's shape,
`functions/api/errors.py`) and the OpenAPI document is generated from them
(`functions/api/openapi.py`). What a signature cannot say (date ranges,
breakdown names, comma lists bounded like stored values) is checked in
`functions/api/params.py`; `shared/query.py` gets typed queries and returns
answers this module renders as JSON or CSV.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api import params
from functions.api.answers import TEXT, answer
from functions.api.request import json_body
from shared import events as stored_events
from shared import ingest, query, repricing
from shared.errors import ValidationFailed
from shared.models import EstimateIn, RepriceIn, UsageBatchIn, UsageEventIn

router = APIGatewayHttpRouter()
TYPED: dict[str, Any] = {"enable_validation": True, "middlewares": [params.known_parameters]}

# Empty query values count as absent (`?service=` is no filter), so every pattern allows "".
DATE = r"^(\d{4}-\d{2}-\d{2})?$"
NAMES = "hour|day|week|month|service|model|operation|user|project|job|batch|repository"
NAME_LIST = rf"^(({NAMES})(,({NAMES}))*)?$"
StartDate = Annotated[
    str | None, Query(pattern=DATE, description="YYYY-MM-DD, inclusive, UTC (default: end_date - 29 days)")
]
EndDate = Annotated[
    str | None, Query(pattern=DATE, description="YYYY-MM-DD, inclusive, UTC (default: today); range <= 400 days")
]

Filter = Annotated[str | None, Query(description="exact match; a comma-separated list (at most 50) matches any of its "
                                                 "values, each bounded like the stored field (400 otherwise)")]
BODY = "One event, or `{\"events\": [...]}` with 1..1000 events; at most 1 MiB. One invalid event: nothing is written."
CSV_DEFAULT_GROUP_BY = ["day"]
METRIC_COLUMNS = ("cost_usd", "tokens", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                  "api_calls", "events", "unpriced_events")


# Not validated by the signature yet: `shared/ingest.py` validates the raw body event by event (one event or a
# batch, cross-field rules, GitHub claims stamped, content hashed as sent), so the body here only documents it.
@router.post("/ai_usage", responses={200: answer("RecordAnswer", "Every event is stored (or already was)")})
def record(body: Annotated[UsageEventIn | UsageBatchIn, Body(description=BODY)] = None) -> dict:  # type: ignore[assignment]  # OpenAPI only
    """Record usage events (`usage:write`).

    Idempotent by `event_id`: the same id with the same content is a `duplicate`,
    with other content a `conflict` (the stored event wins); neither changes a total.
    GitHub OIDC callers have the token's repository and run stamped on every event.
    """
    return ingest.record_usage(json_body(router.current_event.raw_event),
                               github_claims=router.context.get("github_claims"))


@router.get("/ai_usage", responses={200: answer("UsageAnswer", "Totals, breakdowns and rows (or CSV rows)",
                                                        text_csv=TEXT)}, **TYPED)
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
    aggregation: Annotated[str | None, Query(description="Breakdowns `by_<name>` (default day)",
                                             json_schema_extra={"pattern": NAME_LIST})] = None,
    group_by: Annotated[str | None, Query(description="Cross-tab `rows`, one per combination",
                                          json_schema_extra={"pattern": NAME_LIST})] = None,
    format: Annotated[str | None, Query(description="csv: text/csv rows (group_by day)",
                                        json_schema_extra={"pattern": r"^(json|csv)?$"})] = None,
) -> Response[dict | str]:
    """Query usage totals (`usage:read`).

    Money is the exact Decimal sum rounded half-up to 6 places. Time, service,
    model and operation views (and user, project, repository by day) read
    pre-aggregated cells; `stats` shows what DynamoDB returned.
    """
    start, end = params.date_range(start_date, end_date)
    fmt = (format or "json").lower()
    if fmt not in ("json", "csv"):
        raise ValidationFailed.at(["query", "format"], "must be json or csv")
    given = {"service": service, "model": model, "operation": operation, "user_id": user_id, "project": project,
             "job_id": job_id, "batch_id": batch_id, "repository": repository, "pr_number": pr_number}
    filters = {name: found for name, raw in given.items()
               if (found := params.values(name, raw, lower=name in ("service", "operation")))}
    if "pr_number" in filters and "repository" not in filters:
        raise ValidationFailed.at(["query", "repository"], "is required with pr_number")
    q = query.UsageQuery(start, end, params.names(aggregation, "aggregation", ["day"]),
                         params.names(group_by, "group_by", CSV_DEFAULT_GROUP_BY if fmt == "csv" else []), filters)
    answer = query.query_usage(q)
    if fmt == "csv":
        return Response(200, "text/csv; charset=utf-8", usage_csv(answer))
    return Response(200, content_types.APPLICATION_JSON, usage_json(answer))


def usage_json(answer: query.UsageAnswer) -> dict[str, Any]:
    """SPEC 5's answer: summary, `by_<name>` breakdowns, cross-tab rows, the query as understood, stats."""
    q, folded = answer.query, answer.folded
    summary = folded.summary.summary_json()
    summary["date_range"] = {"start": q.start.isoformat(), "end": q.end.isoformat()}
    return {"summary": summary, "aggregations": folded.aggregations_json(q.aggregation),
            "rows": folded.rows_json(q.group_by),
            "query": {"start_date": q.start.isoformat(), "end_date": q.end.isoformat(), "aggregation": q.aggregation,
                      "group_by": q.group_by, "filters": q.filters},
            "stats": answer.stats}


def usage_csv(answer: query.UsageAnswer) -> str:
    """A header row (the group_by dimensions, then the metrics), then one line per row."""
    buffer = io.StringIO()
    columns = [*answer.query.group_by, *METRIC_COLUMNS]
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in answer.folded.rows_json(answer.query.group_by):
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


@router.get("/ai_usage/events", responses={200: answer("EventsPage", "A page of stored events")}, **TYPED)
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
    start, end = params.date_range(start_date, end_date)
    number = params.value("pr_number", pr_number)
    page = query.list_events(query.EventsQuery(
        start, end, service=params.value("service", service, lower=True), job_id=params.value("job_id", job_id),
        batch_id=params.value("batch_id", batch_id), pr_number=None if number is None else int(number),
        repository=params.value("repository", repository), limit=limit, next_token=next_token or None))
    return {"events": [stored_events.to_json(e) for e in page.events], "next_token": page.next_token,
            "stats": page.stats}


@router.post("/ai_usage/estimate",
             responses={200: answer("EstimateAnswer", "Costs, and what each matching budget would have left")},
             enable_validation=True)
def estimate(body: Annotated[EstimateIn, Body()]) -> dict:
    """Price planned usage before spending it (`usage:read`)."""
    return query.estimate(body)


@router.post("/ai_usage/reprice", responses={200: answer("RepriceAnswer", "How many unpriced events got a price")},
             enable_validation=True)
def reprice(body: Annotated[RepriceIn, Body()]) -> dict:
    """Price the `unpriced` events of a date range whose price is now known (`admin`).

    Every total (cells, budgets) is updated exactly once per repriced event, as the
    aggregator folds the change in (seconds later: see `stats.aggregated_through`).
    """
    return repricing.reprice_unpriced(body.start_date, body.end_date)
