"""Money: Decimal end to end, stored and summed exactly, rounded once at the edge (half-up, 6 places).

What "exact" means here (README, "What exact means"):
- an amount is stored exactly as reported or computed, never rounded first.
  It has at most `MAX_PLACES` decimal places: a reported amount with more is
  refused (400), and computed ones cannot have more (prices have at most 18
  places per million tokens; tests/unit/test_money.py holds the pinned
  genai-prices to that);
- sums are exact Decimal sums: every thread's Decimal context has
  `EXACT_DIGITS` digits, enough for any sum of such amounts (the default 28
  would round a sum of a $10,000 total and a 24-place amount, silently);
- each number shown is its own exact sum, rounded once, half-up, to 6
  places, so rounded parts may differ from a rounded total by their rounding.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import overload

MICRO = Decimal("0.000001")
ZERO = Decimal(0)
MILLION = Decimal(1_000_000)
# DynamoDB numbers have 38 significant digits. Amounts of at most 24 places keep every total below
# $10^14 exact in an aggregate cell; a cell once given a 30-place amount could take no later ADD at all.
MAX_PLACES = 24
EXACT_DIGITS = 80
_ROUNDING = Context(prec=EXACT_DIGITS, rounding=ROUND_HALF_UP)

# Every Decimal sum in the process is exact: the current thread's context and the one each new thread
# copies get EXACT_DIGITS digits (the money of one request is summed in many modules: rollups, budgets,
# reports, queries; one context for all of them is the only way none of them rounds a total by accident).
decimal.DefaultContext.prec = EXACT_DIGITS
decimal.getcontext().prec = EXACT_DIGITS


def round_usd(amount: Decimal) -> Decimal:
    """The exact sum rounded half-up to 6 places (`0.0000025` -> `0.000003`)."""
    return amount.quantize(MICRO, context=_ROUNDING)


def decimal_places(amount: Decimal) -> int:
    """Decimal places an amount really has (trailing zeros do not count): `Decimal("0.50")` has 1."""
    exponent = amount.normalize(_ROUNDING).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class InexactAmount(ValueError):
    """An amount that cannot be stored exactly (more than MAX_PLACES decimal places)."""


def exact_amount(amount: Decimal | None) -> Decimal | None:
    """An amount as stored and summed: unchanged, or an error when it could not be stored exactly.

    Never rounds: inputs with more places are refused where they arrive, and
    prices cannot produce more, so reaching the error is a bug to see, not a
    cent to lose quietly.
    """
    if amount is None:
        return None
    if decimal_places(amount) > MAX_PLACES:
        raise InexactAmount(f"{amount} has more than {MAX_PLACES} decimal places")
    return _readable(amount)


def _readable(amount: Decimal) -> Decimal:
    """The same number, in a text every DynamoDB reader parses.

    boto3 writes a number as `str(amount)`: an exact tiny cost such as
    `Decimal("8E-8")` goes out as "8E-8", which DynamoDB takes but moto (the
    local stack and the tests) cannot ADD to a counter. "8.0E-8" is the same
    number and reads everywhere; so is "100" for "1E+2".
    """
    if not amount:
        return ZERO
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: checked where amounts come in
    if exponent > 0:
        return amount.quantize(Decimal(1), context=_ROUNDING)
    text = str(amount)
    if "E" in text and "." not in text:
        return amount.quantize(Decimal((0, (1,), exponent - 1)), context=_ROUNDING)
    return amount


@overload
def usd(amount: Decimal) -> float: ...
@overload
def usd(amount: None) -> None: ...
@overload
def usd(amount: Decimal | None) -> float | None: ...
def usd(amount: Decimal | None) -> float | None:
    """A JSON number for an amount: rounded, then the shortest float that prints the same.

    Python prints a float with the shortest digits that read back to it, so a
    value with at most 6 decimals and 15 significant digits (any amount below
    $10^9) prints exactly as the rounded Decimal does (`0.00125`, never
    `0.0012500000000000002`).
    """
    if amount is None:
        return None
    return float(round_usd(amount))


def decimal_text(amount: Decimal) -> str:
    """Canonical text of a Decimal (no exponent, no trailing zeros) for hashing and CSV."""
    text = format(amount.normalize(_ROUNDING), "f")
    return text if text != "-0" else "0"
