"""Report routes: list, read (JSON or Markdown), generate now (admin).

The signatures are the validation (`ReportRequest`, typed parameters) and the
OpenAPI document; `shared/reports.py` checks what a type cannot say (a
period key of its kind that has started).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from functions.api.answers import TEXT, answer
from shared import reports
from shared.errors import ValidationFailed

router = APIGatewayHttpRouter()
MARKDOWN = "text/markdown; charset=utf-8"
Kind = Literal["daily", "weekly", "monthly"]


class ReportRequest(BaseModel):
    """`POST /reports`: `period` defaults to the last complete one of `kind` (`shared/reports.py` checks the key)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    LOC_PREFIX: ClassVar[tuple[str, ...]] = ("body",)  # errors name ["body", "kind"], as this route always did
    kind: Kind
    period: str | None = Field(None, description="2026-11-21 (daily), 2026-W47 (weekly) or 2026-11 (monthly); "
                                                 "not one that has not started")


@router.get("/reports", responses={200: answer("ReportList", "Stored reports, newest period first")},
            enable_validation=True)
def list_reports(
    kind: Annotated[
        Literal["daily", "weekly", "monthly", ""] | None, Query(description="Only this kind (default: all)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict:
    """List stored reports (`usage:read`)."""
    return {"reports": reports.list_reports(kind or None, limit)}


@router.get(
    "/reports/<kind>/<period>",
    responses={200: answer("Report", "The report as JSON, or as Markdown with format=markdown", text_markdown=TEXT)},
    enable_validation=True,
)
def get_report(
    kind: Annotated[Kind, Path()],
    period: Annotated[str, Path(description="2026-11-21 (daily), 2026-W47 (weekly) or 2026-11 (monthly)")],
    # Matched case-insensitively, empty meaning json: the enum documents the values, the code checks.
    format: Annotated[str | None, Query(json_schema_extra={"enum": ["json", "markdown"]})] = None,
) -> Response[dict | str]:
    """Read a stored report (`usage:read`)."""
    fmt = (format or "json").lower()
    if fmt not in ("json", "markdown"):
        raise ValidationFailed.at(["query", "format"], "must be json or markdown")
    if fmt == "markdown":
        return Response(200, MARKDOWN, reports.stored_markdown(unquote(kind), unquote(period)))
    return Response(200, content_types.APPLICATION_JSON, reports.stored_report(unquote(kind), unquote(period)))


@router.post("/reports", responses={200: answer("Report", "The generated (or regenerated) report")},
             enable_validation=True)
def generate_report(body: Annotated[ReportRequest, Body()]) -> dict:
    """Generate a report now and store it, replacing any earlier one (`admin`)."""
    now = datetime.now(UTC)
    return reports.report_json(reports.generate(reports.requested_period(body.kind, body.period, now), now))
