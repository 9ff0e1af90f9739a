"""Money for people (issue 14): the CLI's `money` (aiusage/money.py) and the Markdown reports'
`money_text` (shared/reports.py) write every amount of tests/fixtures/money-cases.json as it says.
The dashboard's `money` (dashboard/src/format.ts) is held to the same file by `npm test` and, on
the page, by tests/browser/test_dashboard.py comparing what it shows with `money_text`."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from aiusage.money import exact, money
from shared.reports import money_text

CASES = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "money-cases.json").read_text())
FORMATTERS = {"cli": money, "markdown": money_text}


@pytest.mark.parametrize("formatter", FORMATTERS)
@pytest.mark.parametrize(("amount", "text"), CASES["plain"])
def test_an_amount_is_shown_in_cents_or_two_significant_digits_below_a_cent(formatter, amount, text):
    fn = FORMATTERS[formatter]
    assert fn(Decimal(amount)) == text
    assert fn(float(amount)) == text  # as it arrives in JSON


@pytest.mark.parametrize("formatter", FORMATTERS)
@pytest.mark.parametrize(("amount", "text"), CASES["signed"])
def test_signed_amounts_say_plus_or_minus(formatter, amount, text):
    assert FORMATTERS[formatter](Decimal(amount), signed=True) == text


@pytest.mark.parametrize("formatter", FORMATTERS)
def test_no_amount_is_a_dash(formatter):
    assert FORMATTERS[formatter](None) == "-"


def test_amounts_with_more_places_than_the_api_are_rounded_to_its_six_first():
    # 0.0099949999 is 0.009995 at the API's precision, which is $0.01 to two significant digits.
    assert money(Decimal("0.0099949999")) == money_text(Decimal("0.0099949999")) == "$0.01"
    # 12.3449999 is 12.345 in JSON, so $12.35 everywhere (the page only ever sees 12.345).
    assert money(Decimal("12.3449999")) == money_text(Decimal("12.3449999")) == "$12.35"


@pytest.mark.parametrize(("amount", "text"), [
    ("0.00283", "$0.00283"), ("33.800577", "$33.800577"), ("2.5", "$2.50"), ("1234", "$1,234.00"),
    ("-0.1", "-$0.10"), ("0.0000004", "$0.00"),
])
def test_exact_keeps_every_place_the_api_sends(amount, text):
    assert exact(Decimal(amount)) == text
    assert exact(None) == "-"
