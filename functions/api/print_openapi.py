"""Print the API's OpenAPI document: `python -m functions.api.print_openapi > docs/openapi.json`.

A script of its own, above both the handler and `openapi.py`, so that neither imports the other.
"""

from __future__ import annotations

import sys

from functions.api.handler import app
from functions.api.openapi import document_text

if __name__ == "__main__":
    sys.stdout.write(document_text(app))
