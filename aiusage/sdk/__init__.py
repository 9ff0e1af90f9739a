"""aiusage Python SDK: record every AI call's real usage and send it to aiusage.

    from aiusage.sdk import UsageTracker
    tracker = UsageTracker()            # AIUSAGE_API_URL / AIUSAGE_API_KEY from env
    client = tracker.wrap(OpenAI())
    with tracker.context(job_id="nightly-42"):
        client.chat.completions.create(model="gpt-4o", messages=[...])

Provider SDKs are optional: none is imported by this package.
"""

from .context import UsageContext, current_context
from .errors import UsageMissingError
from .tracker import UsageTracker

__all__ = ["UsageContext", "UsageMissingError", "UsageTracker", "current_context"]
