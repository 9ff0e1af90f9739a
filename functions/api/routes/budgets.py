"""Budget routes: define, read with status, check before spending, reset, audit history."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.api.request import json_body
from shared import budgets

router = APIGatewayHttpRouter()


def _principal() -> str:
    return router.context["principal"].principal


@router.get("/budgets")
def list_budgets() -> dict:
    return {"budgets": budgets.list_budgets()}


@router.post("/budgets/check")
def check() -> dict:
    return budgets.check(json_body(router.current_event.raw_event))


@router.get("/budgets/<budget_id>")
def get_budget(budget_id: str) -> dict:
    return budgets.get_budget(budget_id)


@router.put("/budgets/<budget_id>")
def put_budget(budget_id: str) -> Response:
    budget, created = budgets.put_budget(budget_id, json_body(router.current_event.raw_event), _principal())
    return Response(201 if created else 200, content_types.APPLICATION_JSON, budget)


@router.delete("/budgets/<budget_id>")
def delete_budget(budget_id: str) -> Response:
    budgets.delete_budget(budget_id, _principal())
    return Response(204, content_types.APPLICATION_JSON, "")


@router.post("/budgets/<budget_id>/reset")
def reset(budget_id: str) -> dict:
    return budgets.reset_budget(budget_id, _principal())


@router.get("/budgets/<budget_id>/history")
def history(budget_id: str) -> dict:
    return {"history": budgets.history(budget_id)}
