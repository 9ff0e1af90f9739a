"""Record Google Places calls, which are priced per request, not per token.

    export AIUSAGE_API_URL=https://xxxx.execute-api.eu-west-1.amazonaws.com
    export AIUSAGE_API_KEY=aiu_...
    export GOOGLE_MAPS_API_KEY=...
    python examples/sdk/google_places.py "ChIJN1t_tDeuEmsRUsoyG83frY4"
"""

import json
import os
import sys
import urllib.parse
import urllib.request

from aiusage.sdk import UsageTracker

tracker = UsageTracker()


@tracker.track_requests(service="google_places", operation="place_details")
def place_details(place_id: str) -> dict:
    # One event per call: {"service": "google_places", "operation": "place_details",
    # "requests": 1, "latency_ms": ..., "status": "ok"}; the server prices it
    # (0.017 USD per request). A raised exception is recorded as status "error":
    # charged when Google answered (an HTTP error), free when the call never got
    # an answer (offline, DNS, timeout): "cost_usd": 0.
    query = urllib.parse.urlencode({"place_id": place_id, "key": os.environ["GOOGLE_MAPS_API_KEY"]})
    url = f"https://maps.googleapis.com/maps/api/place/details/json?{query}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


if __name__ == "__main__":
    with tracker.context(job_id="enrich-venues", user_id="data-team"):
        details = place_details(sys.argv[1])
    print(details.get("result", {}).get("name"))
