"""Issue 13 through the API: sessions at base rates, every billed count, real error reasons, exact amounts.

Each test here failed before the fix (the comment says how) and passes now.
"""


from tests.support.aggregation import drain

DAY = {"start_date": "2026-11-21", "end_date": "2026-11-21"}
TS = "2026-11-21T09:30:00Z"


def events(api, **query):
    answer = api.get("/ai_usage/events", **{**DAY, **query})
    assert answer.status == 200, answer
    return {e["event_id"]: e for e in answer.json()["events"]}


def post(api, body):
    answer = api.post("/ai_usage", body)
    assert answer.status == 200, answer
    return answer.json()["results"]


# --- 5. amounts are stored exactly and rounded once ---------------------------------------------

def raw_post(api, text):
    return api.call("POST", "/ai_usage", raw=text.encode(), headers={"content-type": "application/json"})


def test_a_reported_amount_is_rounded_once_not_cut_first(api):
    # Cut to 12 places first, 0.0000004999999999999 became 0.0000005, shown as 0.000001. Exact, it rounds to 0.
    answer = raw_post(api, '{"event_id": "x-1", "timestamp": "2026-11-21T09:30:00Z", "service": "openai", '
                           '"model": "gpt-4o", "input_tokens": 1, "cost_usd": 0.0000004999999999999}')
    assert answer.status == 200, answer
    assert answer.json()["results"][0]["cost_usd"] == 0.0
    drain()
    assert api.get("/ai_usage", **DAY).json()["summary"]["total_cost_usd"] == 0.0


def test_an_amount_too_precise_to_store_exactly_is_refused_not_cut(api):
    answer = raw_post(api, '{"event_id": "x-2", "timestamp": "2026-11-21T09:30:00Z", "service": "openai", '
                           '"model": "gpt-4o", "input_tokens": 1, "cost_usd": 1E-25}')
    assert answer.status == 400, answer
    assert answer.json()["error"]["details"][0]["loc"] == ["cost_usd"]
