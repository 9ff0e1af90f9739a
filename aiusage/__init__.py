"""aiusage client side: the Python SDK, the `aiusage` CLI and the local stack.

`from aiusage import UsageTracker` loads the SDK lazily, so importing the
package stays cheap for the CLI.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["UsageTracker"]


def __getattr__(name: str) -> Any:
    if name == "UsageTracker":
        from aiusage.sdk import UsageTracker

        return UsageTracker
    raise AttributeError(name)
