"""The web dashboard (SPEC 11) in a real browser: Debian's Chromium driven by Playwright against
`aiusage serve --demo`, checking that what a person sees equals what `GET /ai_usage`,
`/budgets`, `/alerts` and `/reports` answer, and that the key stays in the tab's session.

Needs /usr/bin/chromium (`make browser-deps`); never `playwright install`. Screenshots go to
tests/artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from aiusage.money import exact
from shared.reports import money_text
from tests.e2e.conftest import ADMIN_KEY, Server, start_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DEMO_BUDGETS = {"anthropic-monthly", "search-team", "openai-daily"}
HOSTILE_USER = "<img src=x onerror=alert(1)>"
HOSTILE_JOB = "<b>bold-job</b>"
TIMEOUT_MS = 20_000


# --- fixtures ---


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is missing at /usr/bin/chromium: run `make browser-deps` "
                    "(apt-get install chromium), never `playwright install`.", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Playwright gives every launch a new, empty user-data-dir.
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    server = start_server("--demo")
    try:
        # Usage whose user and job ids are HTML: the page must show them as text, never as markup.
        status, body, _ = server.request("POST", "/ai_usage", {
            "service": "openai", "model": "gpt-4o", "input_tokens": 100_000, "output_tokens": 2_000,
            "user_id": HOSTILE_USER, "job_id": HOSTILE_JOB})
        assert status == 200 and body["accepted"] == 1, body
        # The demo stores yesterday's, last week's and last month's reports: add today's (partial) daily one,
        # which holds that user.
        status, body, _ = server.request("POST", "/reports", {"kind": "daily", "period": today()})
        assert status == 200, body
        yield server
    finally:
        server.stop()


@pytest.fixture
def watch() -> dict[str, list[str]]:
    return {"errors": [], "dialogs": []}


def open_page(browser: Any, watch: dict[str, list[str]], width: int = 1440, height: int = 900) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda e: watch["errors"].append(f"pageerror: {e}"))
    page.on("console", lambda m: m.type == "error" and watch["errors"].append(f"console: {m.text}"))

    def on_dialog(dialog: Any) -> None:
        watch["dialogs"].append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return page


# --- helpers ---


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def usage(server: Server, start: str, end: str, **params: str) -> dict[str, Any]:
    query = urlencode({"start_date": start, "end_date": end, **params})
    status, body, _ = server.request("GET", f"/ai_usage?{query}")
    assert status == 200, body
    return body


def assert_money(element: Any, amount: float) -> None:
    """Shown for people as the Markdown reports write it (cents), the API's exact amount on hover."""
    assert element.inner_text().strip() == money_text(Decimal(str(amount)))
    assert element.get_attribute("title") == exact(Decimal(str(amount)))


def integer_value(text: str) -> int:
    assert re.fullmatch(r"[\d,]+", text.strip()), text
    return int(text.strip().replace(",", ""))


def connect(page: Any, key: str = ADMIN_KEY) -> None:
    page.locator("#key").fill(key)
    page.locator("#key-form button[type=submit]").click()


def wait_ready(page: Any, start: str, end: str, service: str = "") -> None:
    page.wait_for_selector(f'main[data-state="ready"][data-view="{start}..{end}|{service}"]')
    for panel in ("#budgets-panel", "#alerts-panel", "#reports-panel"):
        page.wait_for_selector(f'{panel}[data-state="ready"]')


def shown_range(page: Any) -> tuple[str, str]:
    return page.locator("#start").input_value(), page.locator("#end").input_value()


def assert_summary_matches(page: Any, answer: dict[str, Any]) -> None:
    """The tiles show the API's summary (money in cents, exact on hover)."""
    s = answer["summary"]
    tile = lambda metric: page.locator(f'[data-metric="{metric}"]').inner_text()  # noqa: E731
    assert_money(page.locator('[data-metric="total_cost_usd"]'), s["total_cost_usd"])
    assert_money(page.locator('[data-sub="cost"] span'), s["average_cost_per_call"])
    assert integer_value(tile("total_api_calls")) == s["total_api_calls"]
    assert integer_value(tile("events")) == s["events"]
    assert integer_value(tile("total_tokens")) == s["total_tokens"]
    assert integer_value(tile("unpriced_events")) == s["unpriced_events"]
    unpriced_tile = page.locator("#tile-unpriced")
    assert unpriced_tile.is_visible()
    flagged = "attention" in (unpriced_tile.get_attribute("class") or "")
    assert flagged == (s["unpriced_events"] > 0), "unpriced events must be flagged exactly when there are some"


def assert_breakdowns_match(page: Any, server: Server, start: str, end: str, **filters: str) -> None:
    """Cost by service (the chart's legend) and by model show the API's amounts."""
    answer = usage(server, start, end, aggregation="service,model", **filters)
    by_service = answer["aggregations"]["by_service"]
    rows = page.locator("#spend-body table.legend tbody tr")
    assert rows.count() == len(by_service)
    for n in range(rows.count()):
        row = rows.nth(n)
        service = row.get_attribute("data-service")
        assert_money(row.locator("td").first, by_service[service]["cost_usd"])
    by_model = answer["aggregations"]["by_model"]
    model_rows = page.locator("#by-model tbody tr")
    assert model_rows.count() == min(10, len(by_model))
    for n in range(model_rows.count()):
        row = model_rows.nth(n)
        model = row.get_attribute("data-key")
        assert_money(row.locator("td.num").first, by_model[model]["cost_usd"])


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


# --- tests ---


def test_dashboard_shows_the_api_numbers(browser: Any, server: Server, watch: dict[str, list[str]]) -> None:
    page = open_page(browser, watch)
    page.goto(f"{server.url}/dashboard")

    # Given no key yet, the page asks for one and shows nothing else.
    assert page.locator("#connect").is_visible()
    assert page.locator("#main").is_hidden()
    screenshot(page, "dashboard-key.png")

    # When the key is pasted, the default view is the 30 days ending today (UTC).
    connect(page)
    page.wait_for_selector('main[data-state="ready"]')
    start, end = shown_range(page)
    assert end == today()
    assert date.fromisoformat(end) - date.fromisoformat(start) == timedelta(days=29)
    wait_ready(page, start, end)

    # Then the summary tiles and breakdowns equal GET /ai_usage for the same range.
    assert_summary_matches(page, usage(server, start, end))
    assert_breakdowns_match(page, server, start, end)
    assert page.locator("#spend-body canvas").count() == 1
    assert "per day" in page.locator("#spend-note").inner_text()

    # Top users, jobs and repositories are the API's, and HTML in ids stays text.
    dims = usage(server, start, end, aggregation="user,job,repository")["aggregations"]
    top_users = page.locator("#top-user tbody tr")
    attributed = sorted((k for k in dims["by_user"] if k != "(none)"),
                        key=lambda k: (-dims["by_user"][k]["cost_usd"], -dims["by_user"][k]["api_calls"], k))
    assert [top_users.nth(n).get_attribute("data-key") for n in range(top_users.count())] == attributed[:10]
    assert page.locator("#top-user").get_by_text(HOSTILE_USER, exact=True).count() == 1
    assert page.locator("#top-job").get_by_text(HOSTILE_JOB, exact=True).count() == 1
    assert page.locator("#top-user img, #top-job b, #reports img").count() == 0
    repos = page.locator("#top-repository tbody tr")
    for n in range(repos.count()):
        row = repos.nth(n)
        assert_money(row.locator("td.num").first, dims["by_repository"][row.get_attribute("data-key")]["cost_usd"])

    # Budgets: every demo budget with its state and spend as GET /budgets reports them.
    _, budgets_body, _ = server.request("GET", "/budgets")
    budgets = {b["budget_id"]: b for b in budgets_body["budgets"]}
    assert set(budgets) == DEMO_BUDGETS
    items = page.locator("#budgets li.budget")
    assert {items.nth(n).get_attribute("data-budget-id") for n in range(items.count())} == DEMO_BUDGETS
    for budget_id, budget in budgets.items():
        item = page.locator(f'#budgets li[data-budget-id="{budget_id}"]')
        status = budget["status"]
        assert status["state"] in (item.get_attribute("class") or "")
        text = item.inner_text()
        assert budget["name"] in text
        spent, limit = (money_text(Decimal(str(status[name]))) for name in ("spent_usd", "limit_usd"))
        assert f"{spent} of {limit}" in text
        exact_spent, exact_limit = (exact(Decimal(str(status[name]))) for name in ("spent_usd", "limit_usd"))
        assert (
            item.locator("dd", has_text=f"{spent} of {limit}").get_attribute("title")
            == f"{exact_spent} of {exact_limit}"
        )
        # The forecast extrapolates the burn rate to now, so it moves between two reads (fast early in a
        # period): the page shows in cents the exact amount on its hover, and that is the API's, give or take.
        forecast = item.locator("dt:text-is('Forecast') + dd")
        shown = Decimal(forecast.get_attribute("title").replace("$", "").replace(",", ""))
        assert forecast.inner_text().startswith(money_text(shown) + " (")
        assert abs(float(shown) - status["forecast_usd"]) <= 0.01 * status["forecast_usd"] + 0.000001
        meter = item.locator('[role="meter"]')
        assert float(meter.get_attribute("aria-valuenow")) == pytest.approx(status["utilization"] * 100, abs=0.05)

    # Alerts: the newest ones, naming the demo budgets that crossed thresholds.
    _, alerts_body, _ = server.request("GET", "/alerts?limit=20")
    alerts = alerts_body["alerts"]
    assert alerts, "the demo raises budget alerts"
    shown_alerts = page.locator("#alerts li.alert")
    assert shown_alerts.count() == len(alerts)
    shown_ids = [shown_alerts.nth(n).get_attribute("data-budget-id") for n in range(len(alerts))]
    assert shown_ids == [a.get("budget_id") for a in alerts]
    alerts_text = page.locator("#alerts").inner_text()
    for name in {a["budget_name"] for a in alerts if a.get("budget_name")}:
        assert name in alerts_text

    # Reports: the newest stored report, its Markdown rendered as headings and tables.
    report = page.locator("#reports article.markdown")
    assert report.locator("h3").first.inner_text() == f"aiusage daily report: {today()}"
    assert report.locator("table").count() >= 3
    assert report.get_by_text(HOSTILE_USER, exact=True).count() == 1
    screenshot(page, "dashboard-laptop.png")

    # When the range changes to 7 days, the numbers follow: the API's 7-day totals.
    page.get_by_role("button", name="7 days").click()
    start7 = (date.fromisoformat(today()) - timedelta(days=6)).isoformat()
    wait_ready(page, start7, today())
    assert shown_range(page) == (start7, today())
    assert_summary_matches(page, usage(server, start7, today()))

    # When a service is picked, every panel of the range shows that service only.
    page.locator("#service").select_option("anthropic")
    wait_ready(page, start7, today(), "anthropic")
    assert_summary_matches(page, usage(server, start7, today(), service="anthropic"))
    assert_breakdowns_match(page, server, start7, today(), service="anthropic")
    screenshot(page, "dashboard-7days-anthropic.png")

    # After a reload the key is still there for this tab, and never in the address.
    page.reload()
    wait_ready(page, start7, today(), "anthropic")
    assert page.locator("#connect").is_hidden()
    assert ADMIN_KEY not in page.url and "aiu_" not in page.url
    assert page.evaluate("sessionStorage.getItem('aiusage.apiKey')") == ADMIN_KEY
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert_summary_matches(page, usage(server, start7, today(), service="anthropic"))

    # A range of one day is bucketed by hour.
    page.get_by_role("button", name="Today").click()
    wait_ready(page, today(), today(), "anthropic")
    assert "per hour" in page.locator("#spend-note").inner_text()
    assert_summary_matches(page, usage(server, today(), today(), service="anthropic"))

    # "Forget key" removes it: the page asks again, also after a reload.
    page.get_by_role("button", name="Forget key").click()
    assert page.locator("#connect").is_visible()
    assert page.evaluate("sessionStorage.getItem('aiusage.apiKey')") is None
    page.reload()
    assert page.locator("#connect").is_visible()

    assert watch["dialogs"] == [], "a script from the data ran"
    assert watch["errors"] == []
    page.context.close()


def test_a_refused_key_is_explained_and_asked_again(browser: Any, server: Server, watch: dict[str, list[str]]) -> None:
    page = open_page(browser, watch)
    page.goto(f"{server.url}/dashboard")
    connect(page, "aiu_not-a-real-key-000000000000000000000000")
    error = page.locator("#key-error")
    error.wait_for(state="visible")
    assert "401" in error.inner_text() and "valid API key" in error.inner_text()
    assert page.locator("#connect").is_visible() and page.locator("#main").is_hidden()
    assert page.evaluate("sessionStorage.getItem('aiusage.apiKey')") is None
    assert "aiu_" not in page.url

    # A valid key without the usage:read scope cannot show anything either: asked again, with why.
    status, created, _ = server.request("POST", "/keys", {"name": "writer only", "scopes": ["usage:write"]})
    assert status == 201, created
    connect(page, created["key"])
    page.wait_for_selector("#key-error:has-text('403 Forbidden')")
    assert "usage:read" in error.inner_text()
    assert page.locator("#main").is_hidden()
    assert page.evaluate("sessionStorage.getItem('aiusage.apiKey')") is None

    connect(page)
    start, end = (date.fromisoformat(today()) - timedelta(days=29)).isoformat(), today()
    wait_ready(page, start, end)
    assert page.locator("#key-error").is_hidden()
    # Only the refused requests themselves may be logged (Chromium reports failed requests).
    assert all("401" in e or "403" in e for e in watch["errors"]), watch["errors"]
    page.context.close()


def test_phone_layout_fits_the_screen(browser: Any, server: Server, watch: dict[str, list[str]]) -> None:
    page = open_page(browser, watch, width=390, height=844)
    page.goto(f"{server.url}/dashboard#range=90d")
    connect(page)
    start = (date.fromisoformat(today()) - timedelta(days=89)).isoformat()
    wait_ready(page, start, today())
    assert_summary_matches(page, usage(server, start, today()))
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
    screenshot(page, "dashboard-phone.png")
    assert watch["errors"] == []
    page.context.close()


# --- managing with an admin key ---


def field_errors(form: Any) -> dict[str, list[str]]:
    """What the form shows next to each field: {data-field: [messages]}."""
    shown: dict[str, list[str]] = {}
    for n in range(form.locator(".field-error").count()):
        message = form.locator(".field-error").nth(n)
        field = message.locator("xpath=ancestor::*[@data-field][1]").get_attribute("data-field")
        shown.setdefault(field, []).append(message.inner_text())
    return shown


def submit(page: Any, form: Any, button: str, method: str, path: str) -> tuple[int, Any]:
    """Press the form's button; return the API's answer to the request it made."""
    with page.expect_response(lambda r: r.request.method == method and r.url.split("?")[0].endswith(path)) as answer:
        form.get_by_role("button", name=button).click()
    response = answer.value
    return response.status, (response.json() if response.status != 204 else None)


def assert_errors_shown_where_the_api_says(form: Any, answer: dict[str, Any], fields: dict[str, str]) -> None:
    """Every detail of the API's validation error is shown, with its own message, at the field it names."""
    assert answer["error"]["code"] == "validation_error"
    shown = field_errors(form)
    for detail in answer["error"]["details"]:
        loc = [part for part in detail["loc"] if part not in ("body", "path")]
        name = fields[".".join(str(p) for p in loc if not isinstance(p, int))]
        assert any(detail["msg"] in text for text in shown.get(name, [])), (detail, shown)
    assert answer["error"]["message"] in form.locator(".form-error").inner_text()


def test_an_admin_manages_budgets_keys_and_prices(browser: Any, server: Server, watch: dict[str, list[str]]) -> None:
    page = open_page(browser, watch)
    page.goto(f"{server.url}/dashboard")
    connect(page)
    start, end = (date.fromisoformat(today()) - timedelta(days=29)).isoformat(), today()
    wait_ready(page, start, end)
    for panel in ("#keys-panel", "#prices-panel"):
        page.wait_for_selector(f'{panel}[data-state="ready"]')
    assert page.locator("#manage").is_visible() and page.locator("#budget-new").is_visible()

    # --- budgets: create (first refused, the API's errors at their fields), edit, delete ---
    page.locator("#budget-new").click()
    form = page.locator("#budget-form")
    for name, value in (("budget_id", "browser-budget"), ("limit", "-5"), ("timezone", "Mars/Base"),
                        ("thresholds", "50, lots"), ("scope.service", "Not A Service!")):
        form.locator(f'[name="{name}"]').fill(value)
    status, refused = submit(page, form, "Save budget", "PUT", "/budgets/browser-budget")
    assert status == 400
    assert_errors_shown_where_the_api_says(form, refused, {
        "limit_usd": "limit_usd limit_tokens limit_credits", "timezone": "timezone", "thresholds": "thresholds",
        "scope.service": "scope.service"})
    assert "value 2: Input should be a valid decimal" in field_errors(form)["thresholds"]
    assert server.request("GET", "/budgets/browser-budget")[0] == 404  # a refused request writes nothing
    screenshot(page, "dashboard-budget-errors.png")

    for name, value in (("name", "Browser budget"), ("limit", "25"), ("timezone", "Europe/Berlin"),
                        ("thresholds", "50, 90"), ("scope.service", "openai")):
        form.locator(f'[name="{name}"]').fill(value)
    status, created = submit(page, form, "Save budget", "PUT", "/budgets/browser-budget")
    assert status == 201, created
    page.wait_for_selector('#budgets li[data-budget-id="browser-budget"]')
    assert form.is_hidden() and page.locator("#budgets-status").inner_text() == "Created budget browser-budget."
    stored = server.request("GET", "/budgets/browser-budget")[1]
    assert (stored["name"], stored["limit_usd"], stored["thresholds"], stored["timezone"], stored["scope"]) == (
        "Browser budget", 25.0, [0.5, 0.9], "Europe/Berlin", {"service": "openai"})
    item = page.locator('#budgets li[data-budget-id="browser-budget"]')
    assert f"of {money_text(Decimal(25))}" in item.inner_text()

    item.get_by_role("button", name="Edit").click()
    assert form.locator('[name="budget_id"]').input_value() == "browser-budget"
    assert form.locator('[name="budget_id"]').evaluate("input => input.readOnly")
    assert (form.locator('[name="limit"]').input_value(), form.locator('[name="thresholds"]').input_value()) == (
        "25", "50, 90")
    form.locator('[name="action_on_limit"]').select_option("degrade")
    status, refused = submit(page, form, "Save budget", "PUT", "/budgets/browser-budget")
    assert status == 400
    assert_errors_shown_where_the_api_says(form, refused, {"fallback_model": "fallback_model"})
    form.locator('[name="action_on_limit"]').select_option("block")
    form.locator('[name="limit"]').fill("40")
    status, _ = submit(page, form, "Save budget", "PUT", "/budgets/browser-budget")
    assert status == 200
    page.wait_for_selector('#budgets li[data-budget-id="browser-budget"]:has-text("on limit: block")')
    stored = server.request("GET", "/budgets/browser-budget")[1]
    assert (stored["limit_usd"], stored["action_on_limit"], stored["name"], stored["timezone"]) == (
        40.0, "block", "Browser budget", "Europe/Berlin")
    assert f"of {money_text(Decimal(40))}" in item.inner_text()

    item.get_by_role("button", name="Delete").click()
    with page.expect_response(
        lambda r: r.request.method == "DELETE" and r.url.endswith("/budgets/browser-budget")
    ) as gone:
        item.get_by_role("button", name="Yes, delete").click()
    assert gone.value.status == 204
    page.wait_for_selector('#budgets li[data-budget-id="browser-budget"]', state="detached")
    assert server.request("GET", "/budgets/browser-budget")[0] == 404

    # --- keys: create (refused, then shown once), list with full ids, revoke ---
    keys_form = page.locator("#key-form-create")
    status, refused = submit(page, keys_form, "Create key", "POST", "/keys")
    assert status == 400
    assert_errors_shown_where_the_api_says(keys_form, refused, {"name": "name", "scopes": "scopes"})
    keys_form.locator('[name="name"]').fill("browser ci")
    keys_form.get_by_label("usage:read").check()
    status, new_key = submit(page, keys_form, "Create key", "POST", "/keys")
    assert status == 201
    shown = page.locator("#key-created-value")
    assert shown.is_visible() and shown.input_value() == new_key["key"]
    assert server.request("GET", "/ai_usage", key=new_key["key"])[0] == 200
    page.locator("#key-created-done").click()
    assert page.locator("#key-created").is_hidden() and shown.input_value() == ""
    row = page.locator(f'#keys tr[data-key-id="{new_key["key_id"]}"]')
    row.wait_for()
    assert row.locator("code").inner_text() == new_key["key_id"] and "browser ci" in row.inner_text()
    own = "k_" + hashlib.sha256(ADMIN_KEY.encode()).hexdigest()[:20]
    assert "this page" in page.locator(f'#keys tr[data-key-id="{own}"]').inner_text()
    listed = {k["key_id"] for k in server.request("GET", "/keys")[1]["keys"]}
    assert {page.locator("#keys tbody tr").nth(n).get_attribute("data-key-id")
            for n in range(page.locator("#keys tbody tr").count())} == listed
    row.get_by_role("button", name="Revoke").click()
    with page.expect_response(lambda r: r.request.method == "DELETE" and new_key["key_id"] in r.url) as revoked:
        row.get_by_role("button", name="Yes, revoke").click()
    assert revoked.value.status == 200
    page.wait_for_selector(f'#keys tr.revoked[data-key-id="{new_key["key_id"]}"]')
    assert server.request("GET", "/ai_usage", key=new_key["key"])[0] == 401

    # --- prices: an unpriced model gets a price (first refused), then a reprice counts it ---
    status, body, _ = server.request("POST", "/ai_usage", {
        "event_id": "browser-unpriced-1", "service": "browser-llm", "model": "bm-1", "input_tokens": 1_000_000,
        "output_tokens": 100_000})
    assert status == 200 and body["results"][0]["cost_source"] == "unpriced", body
    server.wait_aggregated()
    page.get_by_role("button", name="Refresh").click()
    wait_ready(page, start, end)
    before = usage(server, start, end)["summary"]
    assert_summary_matches(page, usage(server, start, end))

    price_form = page.locator("#price-form")
    for name, value in (("service", "browser-llm"), ("model_or_operation", "bm-1"), ("input_per_mtok", "two"),
                        ("valid_from", "yesterday")):
        price_form.locator(f'[name="{name}"]').fill(value)
    status, refused = submit(page, price_form, "Set price", "PUT", "/prices/browser-llm/bm-1")
    assert status == 400
    assert_errors_shown_where_the_api_says(price_form, refused, {"input_per_mtok": "input_per_mtok",
                                                                 "valid_from": "valid_from"})
    price_form.locator('[name="input_per_mtok"]').fill("2")
    price_form.locator('[name="output_per_mtok"]').fill("8")
    price_form.locator('[name="valid_from"]').fill("")
    status, stored = submit(page, price_form, "Set price", "PUT", "/prices/browser-llm/bm-1")
    assert status == 200 and (stored["input_per_mtok"], stored["output_per_mtok"]) == (2.0, 8.0)
    override = page.locator('#overrides tr[data-override="browser-llm/bm-1"]')
    override.wait_for()
    assert "$2.00" in override.inner_text() and "$8.00" in override.inner_text()

    reprice = page.locator("#reprice-form")
    assert (
        reprice.locator('[name="start_date"]').input_value(),
        reprice.locator('[name="end_date"]').input_value(),
    ) == (start, end)  # the dashboard's range
    reprice.locator('[name="start_date"]').fill("2026-13-01")
    status, refused = submit(page, reprice, "Reprice", "POST", "/ai_usage/reprice")
    assert status == 400
    assert_errors_shown_where_the_api_says(reprice, refused, {"start_date": "start_date"})
    reprice.locator('[name="start_date"]').fill(start)
    status, repriced = submit(page, reprice, "Reprice", "POST", "/ai_usage/reprice")
    assert status == 200 and repriced["repriced"] >= 1, repriced
    assert f"{repriced['repriced']} now priced" in page.locator("#reprice-result").inner_text()
    server.wait_aggregated()
    answer = usage(server, start, end)
    after = answer["summary"]
    assert after["unpriced_events"] == before["unpriced_events"] - repriced["repriced"]
    assert Decimal(str(after["total_cost_usd"])) >= Decimal(str(before["total_cost_usd"])) + Decimal("2.8")
    event = server.request("GET", "/ai_usage/events?service=browser-llm")[1]["events"][0]
    assert (event["cost_usd"], event["cost_source"]) == (2.8, "computed")  # 1M x $2 + 100k x $8 per MTok
    page.wait_for_function(
        "expected => document.querySelector('[data-metric=\"unpriced_events\"]').dataset.value === expected",
        arg=str(after["unpriced_events"]))
    wait_ready(page, start, end)
    assert_summary_matches(page, answer)
    screenshot(page, "dashboard-manage.png")

    # Only the refused requests themselves may be logged (Chromium reports failed requests).
    assert all(re.search(r"status of 40[04]", e) for e in watch["errors"]), watch["errors"]
    assert watch["dialogs"] == []
    page.context.close()


def test_without_the_admin_scope_there_is_nothing_to_manage(browser: Any, server: Server,
                                                            watch: dict[str, list[str]]) -> None:
    status, reader, _ = server.request("POST", "/keys", {"name": "reader", "scopes": ["usage:read"]})
    assert status == 201, reader
    page = open_page(browser, watch)
    page.goto(f"{server.url}/dashboard")
    connect(page, reader["key"])
    start, end = (date.fromisoformat(today()) - timedelta(days=29)).isoformat(), today()
    wait_ready(page, start, end)
    assert page.locator("#budgets li.budget").count() == len(server.request("GET", "/budgets")[1]["budgets"])
    assert page.locator("#manage").is_hidden() and page.locator("#budget-new").is_hidden()
    assert page.locator("#budgets [data-action=edit], #budgets [data-action=delete]").count() == 0
    assert watch["dialogs"] == []
    assert all("403" in e for e in watch["errors"]), watch["errors"]  # GET /keys, the admin probe
    page.context.close()


def test_the_banners_link_opens_the_dashboard_signed_in(browser: Any, server: Server,
                                                        watch: dict[str, list[str]]) -> None:
    # Given the dashboard line `aiusage serve` printed: a link with the admin key in its fragment.
    line = next(x for x in server.output if x.startswith("dashboard: "))
    link = line.split()[1]
    assert link == f"{server.url}/dashboard#key={ADMIN_KEY}", line

    # When a person opens it, the page is signed in at once, with nothing to paste.
    page = open_page(browser, watch)
    page.goto(link)
    start, end = (date.fromisoformat(today()) - timedelta(days=29)).isoformat(), today()
    wait_ready(page, start, end)
    assert page.locator("#connect").is_hidden()
    assert page.locator("#manage").is_visible()  # the admin key's management panels

    # Then the key is kept for the tab only, and gone from the address bar and from the tab's history.
    assert page.evaluate("sessionStorage.getItem('aiusage.apiKey')") == ADMIN_KEY
    assert "key=" not in page.url and "aiu_" not in page.url
    assert page.url == f"{server.url}/dashboard#range=30d"
    page.go_back()  # the entry before is the blank tab: the link's own entry was replaced
    assert "aiu_" not in page.url and "key=" not in page.url, page.url
    page.go_forward()
    assert page.url == f"{server.url}/dashboard#range=30d"
    page.reload()
    wait_ready(page, start, end)
    assert page.locator("#connect").is_hidden()

    # A link with a key the API refuses asks for a key, saying why, and keeps nothing.
    other = open_page(browser, watch)
    other.goto(f"{server.url}/dashboard#key=aiu_not-a-real-key-000000000000000000000000&range=7d")
    other.locator("#key-error").wait_for(state="visible")
    assert "401" in other.locator("#key-error").inner_text()
    assert other.evaluate("sessionStorage.getItem('aiusage.apiKey')") is None
    assert "aiu_" not in other.url
    assert watch["dialogs"] == []
    assert all("401" in e for e in watch["errors"]), watch["errors"]
    page.context.close()
    other.context.close()
