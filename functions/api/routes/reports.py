"""Report routes: list, read (JSON or Markdown), generate now (admin).

Signatures document the API for the OpenAPI document; `shared/reports.py`
parses and validates the raw event (see `routes/usage.py`).
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from functions.api.answers import TEXT, answer
from functions.api.request import json_body
from shared import reports
from shared.errors import ValidationFailed

router = APIGatewayHttpRouter()
MARKDOWN = "text/markdown; charset=utf-8"
Kind = Literal["daily", "weekly", "monthly"]


class ReportRequest(BaseModel):
    """`POST /reports`: `period` defaults to the last complete one of `kind` (`shared/reports.py` validates)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    kind: Kind
    period: str | None = Field(None, description="2026-11-21 (daily), 2026-W47 (weekly) or 2026-11 (monthly); "
                                                 "not one that has not started")


def _params() -> dict[str, str]:
    return router.current_event.query_string_parameters or {}


@router.get("/reports", responses={200: answer("ReportList", "Stored reports, newest period first")})
def list_reports(
    kind: Annotated[Literal["daily", "weekly", "monthly", ""] | None, Query(description="Only this kind (default: all)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict:
    """List stored reports (`usage:read`)."""
    p = _params()
    return {"reports": reports.list_reports(p.get("kind") or None, p.get("limit"))}


@router.get("/reports/<kind>/<period>",
            responses={200: answer("Report", "The report as JSON, or as Markdown with format=markdown", text_markdown=TEXT)})
def get_report(
    kind: Annotated[Kind, Path()],
    period: Annotated[str, Path(description="2026-11-21 (daily), 2026-W47 (weekly) or 2026-11 (monthly)")],
    format: Annotated[Literal["json", "markdown"] | None, Query()] = None,
) -> Response[dict | str]:
    """Read a stored report (`usage:read`)."""
    fmt = (_params().get("format") or "json").lower()
    if fmt not in ("json", "markdown"):
        raise ValidationFailed.at(["query", "format"], "must be json or markdown")
    if fmt == "markdown":
        return Response(200, MARKDOWN, reports.stored_markdown(unquote(kind), unquote(period)))
    return Response(200, content_types.APPLICATION_JSON, reports.stored_report(unquote(kind), unquote(period)))


@router.post("/reports", responses={200: answer("Report", "The generated (or regenerated) report")})
def generate_report(body: Annotated[ReportRequest, Body()] = None) -> dict:
    """Generate a report now and store it, replacing any earlier one (`admin`)."""
    return reports.report_json(reports.generate_requested(json_body(router.current_event.raw_event)))
