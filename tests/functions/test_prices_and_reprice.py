"""Prices: the effective-price view, admin overrides, and repricing unpriced events exactly once."""

from tests.functions.test_query_usage import get

UNPRICED = [{"event_id": f"acme-{i}", "timestamp": f"2026-11-{10 + i:02d}T10:00:00Z", "service": "acme-llm",
             "model": "acme-large-2", "input_tokens": 1_000_000, "output_tokens": 500_000, "user_id": "carol"}
            for i in range(3)]


def test_effective_price_from_genai_prices_and_per_request_table(api):
    view = api.get("/prices", service="openai", model="gpt-4o").json()["prices"][0]
    assert (view["source"], view["input_per_mtok"], view["output_per_mtok"], view["cache_read_per_mtok"]) == (
        "genai-prices", 2.5, 10.0, 1.25)
    places = api.get("/prices", service="google_places", operation="place_details").json()["prices"][0]
    assert (places["source"], places["per_request"]) == ("per-request-table", 0.017)
    unknown = api.get("/prices", service="acme-llm", model="acme-large-2").json()["prices"][0]
    assert unknown["source"] is None


def test_override_needs_admin_and_takes_precedence(api, key_with):
    reader = key_with("usage:read")
    body = {"input_per_mtok": 1, "output_per_mtok": 2, "valid_from": "2026-01-01T00:00:00Z"}
    assert api.put("/prices/openai/gpt-4o", body, key=reader).status == 403
    answer = api.put("/prices/openai/gpt-4o", body)
    assert answer.status == 200, answer
    view = api.get("/prices", service="openai", model="gpt-4o").json()["prices"][0]
    assert (view["source"], view["input_per_mtok"], view["version"]) == ("override", 1.0, "2026-01-01T00:00:00Z")
    recorded = api.post("/ai_usage", {"timestamp": "2026-11-21T10:00:00Z", "service": "openai", "model": "gpt-4o",
                                      "input_tokens": 1_000_000, "output_tokens": 1_000_000}).json()
    assert recorded["results"][0]["cost_usd"] == 3.0
    assert api.put("/prices/openai/gpt-4o", {"valid_from": "2026-01-01"}).status == 400
    assert api.put("/prices/openai/gpt-4o", {"input_per_mtok": -1}).status == 400


def test_reprice_turns_unpriced_into_computed_and_updates_every_total_once(api):
    api.post("/ai_usage", {"events": UNPRICED})
    before = get(api, aggregation="day,user")
    assert (before["summary"]["unpriced_events"], before["summary"]["total_cost_usd"]) == (3, 0.0)

    nothing = api.post("/ai_usage/reprice", {"start_date": "2026-11-01", "end_date": "2026-11-30"}).json()
    assert nothing == {"examined": 3, "repriced": 0, "still_unpriced": 3}

    assert api.put("/prices/acme-llm/acme-large-2", {"input_per_mtok": 2, "output_per_mtok": 8,
                                                     "valid_from": "2026-01-01"}).status == 200
    done = api.post("/ai_usage/reprice", {"start_date": "2026-11-01", "end_date": "2026-11-11"}).json()
    assert done == {"examined": 2, "repriced": 2, "still_unpriced": 0}
    again = api.post("/ai_usage/reprice", {"start_date": "2026-11-01", "end_date": "2026-11-30"}).json()
    assert again == {"examined": 1, "repriced": 1, "still_unpriced": 0}
    assert api.post("/ai_usage/reprice", {"start_date": "2026-11-01", "end_date": "2026-11-30"}).json()["examined"] == 0

    after = get(api, aggregation="day,user,service")
    assert (after["summary"]["unpriced_events"], after["summary"]["total_cost_usd"]) == (0, 18.0)  # 3 x (2 + 4)
    assert after["summary"]["events"] == 3
    assert after["aggregations"]["by_user"]["carol"]["cost_usd"] == 18.0
    assert after["aggregations"]["by_day"]["2026-11-10"]["cost_usd"] == 6.0
    hourly = get(api, aggregation="hour")["aggregations"]["by_hour"]
    assert hourly["2026-11-12T10"] == {**hourly["2026-11-12T10"], "cost_usd": 6.0, "unpriced_events": 0}
    event = api.get("/ai_usage/events", start_date="2026-11-10", end_date="2026-11-10").json()["events"][0]
    assert (event["cost_source"], event["price_source"]) == ("computed", "override")


def test_estimate_prices_items(api):
    answer = api.post("/ai_usage/estimate", {"items": [
        {"service": "openai", "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100, "count": 10},
        {"service": "google_places", "operation": "text_search", "count": 100},
        {"service": "acme-llm", "model": "acme-large-2", "input_tokens": 5},
    ]})
    assert answer.status == 200, answer
    body = answer.json()
    assert [i["unit_cost_usd"] for i in body["items"]] == [0.0035, 0.032, None]
    assert [i["total_cost_usd"] for i in body["items"]] == [0.035, 3.2, None]
    assert body["total_estimated_cost_usd"] == 3.235
    assert body["unpriced_items"] == 1
    bad = api.post("/ai_usage/estimate", {"items": [{"service": "openai", "input_tokens": 5}]})
    assert bad.status == 400 and bad.json()["error"]["details"][0]["loc"] == ["items", 0, "model"]


def test_valid_from_is_a_date_or_a_timestamp_and_the_message_says_so(api):
    impossible = api.put("/prices/openai/gpt-4o", {"input_per_mtok": 1, "valid_from": "2026-02-30"})
    assert impossible.status == 400
    detail = impossible.json()["error"]["details"]
    assert [d["loc"] for d in detail] == [["valid_from"]]
    assert detail[0]["msg"].startswith("2026-02-30 is not a calendar date; must be a date YYYY-MM-DD (midnight UTC) "
                                       "or an RFC 3339 timestamp with offset")
    naive = api.put("/prices/openai/gpt-4o", {"input_per_mtok": 1, "valid_from": "2026-02-28T10:00:00"})
    assert naive.json()["error"]["details"] == [{"loc": ["valid_from"], "msg": "must carry a UTC offset (Z or +HH:MM)"}]
    words = api.put("/prices/openai/gpt-4o", {"input_per_mtok": 1, "valid_from": "next week"})
    assert "a date YYYY-MM-DD (midnight UTC) or an RFC 3339 timestamp" in words.json()["error"]["details"][0]["msg"]
    # What the message promises works: a plain date is midnight UTC.
    day = api.put("/prices/openai/gpt-4o", {"input_per_mtok": 1, "valid_from": "2026-02-28"})
    assert day.status == 200 and day.json()["valid_from"] == "2026-02-28T00:00:00Z"
