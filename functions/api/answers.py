"""How a route documents what it answers: `responses=` entries naming models of `schemas.py`.

Models are named, not imported: `functions/api/openapi.py` resolves the names
when it builds the document, so the ~60 response models never cost a cold
start (routes import this module, which imports nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: nothing is imported at run time
    from aws_lambda_powertools.event_handler.openapi.types import (
        OpenAPIResponse,
        OpenAPIResponseContentModel,
        OpenAPIResponseContentSchema,
    )

SCHEMA_REF = "#/components/schemas/"
TEXT: OpenAPIResponseContentSchema = {"schema": {"type": "string"}}


def answer(model: str, description: str, **other_media: OpenAPIResponseContentSchema) -> OpenAPIResponse:
    """`model` (a class name in `schemas.py`) as JSON, plus other media types: `text_csv=TEXT` is text/csv."""
    content: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
        "application/json": {"schema": {"$ref": SCHEMA_REF + model}}
    }
    content.update({name.replace("_", "/", 1): media for name, media in other_media.items()})
    return {"description": description, "content": content}
