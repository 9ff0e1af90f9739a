"""Report routes: list, read (JSON or Markdown), generate now (admin)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

router = APIGatewayHttpRouter()
