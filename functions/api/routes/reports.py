"""Report routes: list, read (JSON or Markdown), generate now (admin)."""

from __future__ import annotations

from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api.request import json_body
from shared import reports
from shared.errors import ValidationFailed

router = APIGatewayHttpRouter()
MARKDOWN = "text/markdown; charset=utf-8"


def _params() -> dict[str, str]:
    return router.current_event.query_string_parameters or {}


@router.get("/reports")
def list_reports() -> dict:
    p = _params()
    return {"reports": reports.list_reports(p.get("kind") or None, p.get("limit"))}


@router.get("/reports/<kind>/<period>")
def get_report(kind: str, period: str) -> dict | Response:
    fmt = (_params().get("format") or "json").lower()
    if fmt not in ("json", "markdown"):
        raise ValidationFailed.at(["query", "format"], "must be json or markdown")
    if fmt == "markdown":
        return Response(200, MARKDOWN, reports.stored_markdown(unquote(kind), unquote(period)))
    return reports.stored_report(unquote(kind), unquote(period))


@router.post("/reports")
def generate_report() -> dict:
    return reports.report_json(reports.generate_requested(json_body(router.current_event.raw_event)))
