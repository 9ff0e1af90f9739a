"""`GET /dashboard`: the self-contained web dashboard, served by the API function itself.

The files are built ahead of time into `functions/api/dashboard/` (charts
bundled, no CDN at run time) and ship inside the Lambda asset, so the stack
needs no S3 bucket or CloudFront distribution and the page shares the API's
origin (no CORS). It is small enough (well under 1 MB) to serve from Lambda.
"""

from __future__ import annotations

import mimetypes
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from shared.errors import NotFound

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponseContentSchema

router = APIGatewayHttpRouter()
ROOT = Path(__file__).resolve().parent.parent / "dashboard"
TEXT: OpenAPIResponseContentSchema = {"schema": {"type": "string"}}
TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")
SECURITY_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'",
}


@lru_cache(maxsize=64)
def _read(relative: str) -> tuple[bytes, str]:
    path = (ROOT / relative).resolve()
    if ROOT not in path.parents and path != ROOT or not path.is_file():
        raise NotFound(f"no dashboard file {relative}")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path.read_bytes(), content_type


def _serve(relative: str) -> Response:
    data, content_type = _read(relative)
    if content_type.startswith(TEXT_TYPES):
        return Response(200, f"{content_type}; charset=utf-8", data.decode("utf-8"), headers=SECURITY_HEADERS)
    return Response(200, content_type, data, headers=SECURITY_HEADERS)  # bytes: Powertools base64-encodes


@router.get("/dashboard", responses={200: {"description": "The dashboard page", "content": {"text/html": TEXT}}})
def index() -> Response[str]:
    """The web dashboard (public page; it asks for an API key and calls this API with it)."""
    return _serve("index.html")


@router.get("/dashboard/<path>", responses={200: {"description": "A file of the dashboard", "content": {"*/*": TEXT}}})
def asset(path: Annotated[str, PathParam(description="A file of the built dashboard")]) -> Response[str | bytes]:
    """A static file of the dashboard (public)."""
    return _serve(path)
