"""Usage routes: record, query, list events, estimate, reprice."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api.request import json_body
from shared import ingest, query

router = APIGatewayHttpRouter()


def _params() -> dict[str, str]:
    return router.current_event.query_string_parameters or {}


@router.post("/ai_usage")
def record() -> dict:
    return ingest.record_usage(json_body(router.current_event.raw_event),
                               github_claims=router.context.get("github_claims"))


@router.get("/ai_usage")
def usage() -> dict | Response:
    answer = query.query_usage(_params())
    if (_params().get("format") or "").lower() == "csv":
        return Response(200, "text/csv; charset=utf-8", query.usage_csv(answer))
    return answer


@router.get("/ai_usage/events")
def events() -> dict:
    return query.list_events(_params())


@router.post("/ai_usage/estimate")
def estimate() -> dict:
    return query.estimate(json_body(router.current_event.raw_event))


@router.post("/ai_usage/reprice")
def reprice() -> dict:
    body = json_body(router.current_event.raw_event)
    return ingest.reprice_body(body)
