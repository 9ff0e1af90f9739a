"""The web dashboard (SPEC 11) in a real browser: Debian's Chromium driven by Playwright against
`aiusage serve --demo`, checking that what a person sees equals what `GET /ai_usage`,
`/budgets`, `/alerts` and `/reports` answer, and that the key stays in the tab's session.

Needs /usr/bin/chromium (`make browser-deps`); never `playwright install`. Screenshots go to
tests/artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

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
MONEY = re.compile(r"^\$[\d,]+\.\d{2,6}$")
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
        # The demo stores no reports: make today's (partial) daily one, which holds that user.
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


def money_value(text: str) -> Decimal:
    text = text.strip()
    assert MONEY.match(text), f"not a money amount as the API's reports write it: {text!r}"
    return Decimal(text.replace("$", "").replace(",", ""))


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
    """The tiles show exactly the API's summary (money to the API's 6 decimals)."""
    s = answer["summary"]
    tile = lambda metric: page.locator(f'[data-metric="{metric}"]').inner_text()  # noqa: E731
    assert money_value(tile("total_cost_usd")) == Decimal(str(s["total_cost_usd"]))
    assert tile("total_cost_usd") == money_text(Decimal(str(s["total_cost_usd"])))
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
        assert money_value(row.locator("td").first.inner_text()) == Decimal(str(by_service[service]["cost_usd"]))
    by_model = answer["aggregations"]["by_model"]
    model_rows = page.locator("#by-model tbody tr")
    assert model_rows.count() == min(10, len(by_model))
    for n in range(model_rows.count()):
        row = model_rows.nth(n)
        model = row.get_attribute("data-key")
        assert money_value(row.locator("td.num").first.inner_text()) == Decimal(str(by_model[model]["cost_usd"]))


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
        expected = dims["by_repository"][row.get_attribute("data-key")]["cost_usd"]
        assert money_value(row.locator("td.num").first.inner_text()) == Decimal(str(expected))

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
        # The forecast extrapolates the burn rate to now, so it moves a little between two reads.
        forecast = re.search(r"forecast\s+(\$[\d,.]+)", text, re.IGNORECASE)
        assert forecast, text
        assert float(money_value(forecast[1])) == pytest.approx(status["forecast_usd"], rel=1e-3)
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
