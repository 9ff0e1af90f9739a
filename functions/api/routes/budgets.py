"""Budget routes: define, read with status, check before spending, reset, audit history.

Not validated by the signatures yet: they document the API for the OpenAPI
document, and `shared/budgets.py` parses and validates the raw body (its
cross-field rules name fields the SPEC 3 way).
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api.answers import answer
from functions.api.request import json_body
from shared import budgets
from shared.models import BUDGET_ID_PATTERN, BudgetCheckIn, BudgetIn

router = APIGatewayHttpRouter()
BudgetId = Annotated[str, Path(description="1..64 of [A-Za-z0-9._-], starting with a letter or digit")]


def _principal() -> str:
    return router.context["principal"].principal


@router.get("/budgets", responses={200: answer("BudgetList", "Every budget with its current status")})
def list_budgets() -> dict:
    """List budgets with their status (`usage:read`)."""
    return {"budgets": budgets.list_budgets()}


@router.post("/budgets/check", responses={200: answer("CheckAnswer", "The decision; the strictest acting budget wins")})
def check(
    # Documents the body for OpenAPI only (not Optional there); the handler reads the raw event.
    body: Annotated[BudgetCheckIn, Body(description="What is about to be spent (a cost, or tokens to price)")] = None,  # type: ignore[assignment]
) -> dict:
    """May this be spent? Ask before an expensive call (`usage:read`)."""
    return budgets.check(json_body(router.current_event.raw_event))


@router.get("/budgets/<budget_id>", responses={200: answer("Budget", "The budget with its status")})
def get_budget(budget_id: BudgetId) -> dict:
    """Read a budget and its status in the current period (`usage:read`)."""
    return budgets.get_budget(budget_id)


@router.put("/budgets/<budget_id>", responses={
    200: answer("Budget", "Replaced (or unchanged)"),
    201: answer("Budget", "Created; events already recorded in the current period are counted once"),
})
def put_budget(budget_id: Annotated[str, Path(pattern=BUDGET_ID_PATTERN)],
               body: Annotated[BudgetIn, Body()] = None,  # type: ignore[assignment]  # OpenAPI only, as in check
               ) -> Response[dict]:
    """Create or replace a budget (`admin`); every change is in its history."""
    budget, created = budgets.put_budget(budget_id, json_body(router.current_event.raw_event), _principal())
    return Response(201 if created else 200, content_types.APPLICATION_JSON, budget)


@router.delete("/budgets/<budget_id>", responses={204: {"description": "Deleted", "content": {}}})
def delete_budget(budget_id: BudgetId) -> Response[None]:
    """Delete a budget (`admin`)."""
    budgets.delete_budget(budget_id, _principal())
    # Response[None] keeps the generated 204 without a body schema; the empty body is what is sent.
    return Response(204, content_types.APPLICATION_JSON, "")  # type: ignore[arg-type]


@router.post("/budgets/<budget_id>/reset", responses={200: answer("Budget", "The budget, counting from now")})
def reset(budget_id: BudgetId) -> dict:
    """Reset a budget: spend counts from now for the rest of the period (`admin`)."""
    return budgets.reset_budget(budget_id, _principal())


@router.get("/budgets/<budget_id>/history", responses={200: answer("BudgetHistory", "Newest first")})
def history(budget_id: BudgetId) -> dict:
    """The audit trail: every change, reset and override with the caller and before/after (`usage:read`)."""
    return {"history": budgets.history(budget_id)}
