"""Forwarding a short text to a Slack-compatible webhook (`POST {"text": ...}`).

The URL lives in Secrets Manager (settings `webhook_secret_arn`; the secret is
the URL itself or JSON `{"url": ...}`) and is fetched once per cold start. Each
message gets one attempt with a timeout: a webhook that fails or hangs is
logged and never retried, so it can neither block nor loop the notifier.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from functools import lru_cache

from aws_lambda_powertools import Logger

from shared.config import settings

logger = Logger(service="aiusage")
TIMEOUT_SECONDS = 5.0


@lru_cache(maxsize=4)
def webhook_url(secret_arn: str) -> str:
    """The webhook URL in the secret (a failed fetch is not cached, so the next message tries again)."""
    from aws_lambda_powertools.utilities.parameters import get_secret

    value = get_secret(secret_arn)
    text = value.decode() if isinstance(value, bytes) else str(value)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    url = (parsed.get("url") or parsed.get("webhook_url")) if isinstance(parsed, dict) else parsed
    if not isinstance(url, str) or not url.strip().startswith(("https://", "http://")):
        raise ValueError("the webhook secret holds no http(s) URL")
    return url.strip()


def forward(text: str) -> bool:
    """POST the text to the configured webhook; True when it answered 2xx. Never raises."""
    secret_arn = settings().webhook_secret_arn
    if not secret_arn:
        return False
    try:
        url = webhook_url(secret_arn)
    except Exception as exc:  # noqa: BLE001 - no permission, no secret, bad value: log and go on
        logger.warning("webhook not configured usably", extra={"secret_arn": secret_arn, "error": str(exc)})
        return False
    request = urllib.request.Request(url, data=json.dumps({"text": text}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(1024)
            return True
    except urllib.error.HTTPError as exc:
        logger.warning("webhook rejected the message", extra={"status": exc.code})
    except (urllib.error.URLError, OSError) as exc:  # refused, DNS, timeout (TimeoutError is an OSError)
        logger.warning("webhook unreachable", extra={"error": str(getattr(exc, "reason", exc))})
    return False
