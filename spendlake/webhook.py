"""POST alerts as JSON to a webhook (a Slack incoming webhook reads the `text` field), with retries.

Examples:
    >>> body([])
    {'text': 'Spendlake: no new alerts', 'alerts': []}
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from analytics.alerts import Alert
from ingest.errors import SpendlakeError

ATTEMPTS = 4
BACKOFF_SECONDS = 0.5


class WebhookError(SpendlakeError):
    pass


def body(alerts: Sequence[Alert]) -> dict:
    """A Slack-compatible message: `text` for people, `alerts` with every figure for machines."""
    if not alerts:
        return {"text": "Spendlake: no new alerts", "alerts": []}
    lines = [f"• {a.kind}: {a.message}" for a in alerts]
    return {"text": f"Spendlake: {len(alerts)} new alert(s)\n" + "\n".join(lines),
            "alerts": [a.to_dict() for a in alerts]}


def post(url: str, alerts: Sequence[Alert], *, attempts: int = ATTEMPTS, backoff: float = BACKOFF_SECONDS,
         timeout: float = 10) -> int:
    """Send the alerts; retries on connection errors and 5xx/429 with doubling waits. Returns the HTTP status."""
    data = json.dumps(body(alerts)).encode()
    last = ""
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
            if e.code < 500 and e.code != 429:
                break  # the request itself is wrong: retrying will not help
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            last = str(getattr(e, "reason", e))
        if attempt + 1 < attempts:
            time.sleep(backoff * 2 ** attempt)
    raise WebhookError(f"webhook {url} failed after {attempt + 1} attempt(s): {last}")
