"""Money is exact: Decimal sums, rounded once, half-up to 6 places, printed without float noise."""

import json
from decimal import Decimal

from shared.money import decimal_text, round_usd, usd


def test_round_half_up_to_micro_dollars():
    assert round_usd(Decimal("0.0000025")) == Decimal("0.000003")
    assert round_usd(Decimal("0.0000024999")) == Decimal("0.000002")
    assert round_usd(Decimal("1.2345675")) == Decimal("1.234568")


def test_json_number_has_no_float_noise():
    total = sum([Decimal("0.001"), Decimal("0.00025")], Decimal(0))
    assert json.dumps(usd(total)) == "0.00125"
    assert json.dumps(usd(sum([Decimal("0.1")] * 10, Decimal(0)))) == "1.0"
    assert json.dumps(usd(Decimal("123456789.123456"))) == "123456789.123456"


def test_decimal_text_is_canonical():
    assert decimal_text(Decimal("0.50")) == decimal_text(Decimal("0.5")) == "0.5"
    assert decimal_text(Decimal("1E+2")) == "100"
