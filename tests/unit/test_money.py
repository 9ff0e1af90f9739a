"""Money is exact: Decimal sums, rounded once, half-up to 6 places, printed without float noise."""

import json
from decimal import Decimal

import pytest

from shared.money import MAX_PLACES, InexactAmount, decimal_places, decimal_text, exact_amount, round_usd, usd


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


def test_sums_are_exact_beyond_the_28_digits_of_the_default_context():
    # A $12,345.67 total plus a 24-place amount needs 29 digits; Python's default context would round it.
    total = Decimal("12345.67") + Decimal("0.000000000000000000000001")
    assert total == Decimal("12345.670000000000000000000001")
    assert sum([Decimal("99999999999999.99")] + [Decimal("1E-24")] * 3, Decimal(0)) == Decimal(
        "99999999999999.990000000000000000000003")


def test_sums_in_a_new_thread_are_exact_too():
    import threading

    seen = []
    thread = threading.Thread(target=lambda: seen.append(Decimal("12345.67") + Decimal("1E-24")))
    thread.start()
    thread.join()
    assert seen == [Decimal("12345.670000000000000000000001")]


def test_rounded_once_not_twice():
    # Cut to 12 places first, 0.0000004999999999999 became 0.000000500000 and then rounded up to 0.000001.
    assert round_usd(Decimal("0.0000004999999999999")) == Decimal("0.000000")


def test_decimal_places_ignore_trailing_zeros():
    assert [decimal_places(Decimal(v)) for v in ("0.50", "1E+2", "3.0000000000000004E-7", "12")] == [1, 0, 23, 0]


def test_exact_amounts_pass_unchanged_and_too_precise_ones_are_refused():
    assert exact_amount(Decimal("0.6571631500000001")) == Decimal("0.6571631500000001")
    assert exact_amount(Decimal("1E-24")) == Decimal("1E-24")
    assert exact_amount(None) is None
    with pytest.raises(InexactAmount):
        exact_amount(Decimal("1.0000000000000000000000001"))


def test_no_genai_prices_price_can_make_an_amount_longer_than_stored_amounts_allow():
    """Per million tokens (6 places more), halved for batch (1 more): a price of at most 17 places stays exact."""
    from genai_prices import data
    from genai_prices.types import ModelPrice, TieredPrices

    from shared.models import PRICE_PLACES
    from shared.pricing import GENAI_PRICES_PROVIDER, HALF_PRICE_SERVICES

    halved = {GENAI_PRICES_PROVIDER[s] for s in HALF_PRICE_SERVICES}
    for provider in data.providers:
        for model in provider.models:
            prices = [model.prices] if isinstance(model.prices, ModelPrice) else [c.prices for c in model.prices]
            prices += [v.prices for v in model.price_variants or ()]
            for price in prices:
                for value in vars(price).values():
                    values = (
                        [value.base, *(t.price for t in value.tiers)] if isinstance(value, TieredPrices) else [value]
                    )
                    for v in (v for v in values if isinstance(v, Decimal)):
                        places = decimal_places(v) + 6 + (1 if provider.id in halved else 0)
                        assert places <= MAX_PLACES, (provider.id, model.id, v)
    assert PRICE_PLACES + 6 + 1 <= MAX_PLACES  # override prices


def test_a_stored_amount_is_written_in_a_text_every_dynamodb_reader_parses():
    # moto (the local stack and the tests) cannot ADD "8E-8", the text boto3 writes for Decimal("8E-8").
    for text, written in (("8E-8", "8.0E-8"), ("1E+2", "100"), ("0E-12", "0"), ("0.0019725", "0.0019725")):
        amount = exact_amount(Decimal(text))
        assert (amount, str(amount)) == (Decimal(text), written)
