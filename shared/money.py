"""Money: Decimal end to end, rounded once at the edge (half-up, 6 places)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

MICRO = Decimal("0.000001")
STORED = Decimal("0.000000000001")
ZERO = Decimal(0)
# Rounding must not depend on the default 28-digit context: a large (valid) amount quantized to 6 or 12
# places needs more digits than that, and would raise InvalidOperation instead of rounding.
_ROUNDING = Context(prec=80, rounding=ROUND_HALF_UP)
MILLION = Decimal(1_000_000)


def round_usd(amount: Decimal) -> Decimal:
    """The exact sum rounded half-up to 6 places (`0.0000025` -> `0.000003`)."""
    return amount.quantize(MICRO, context=_ROUNDING)


def stored_amount(amount: Decimal | None) -> Decimal | None:
    """An amount as stored and summed: at most 12 decimal places (half-up).

    Aggregate cells ADD every event's amount; DynamoDB refuses a number over 38
    significant digits, so one event with 30 decimal places would make every
    later ADD to its cell fail. 12 places keep sums exact far beyond any real total.
    """
    return None if amount is None else amount.quantize(STORED, context=_ROUNDING)


def usd(amount: Decimal | None) -> float | None:
    """A JSON number for an amount: rounded, then the shortest float that prints the same.

    Python prints a float with the shortest digits that read back to it, so a
    value with at most 6 decimals and 15 significant digits prints exactly as the
    rounded Decimal does (`0.00125`, never `0.0012500000000000002`).
    """
    if amount is None:
        return None
    return float(round_usd(amount))


def decimal_text(amount: Decimal) -> str:
    """Canonical text of a Decimal (no exponent, no trailing zeros) for hashing and CSV."""
    text = format(amount.normalize(), "f")
    return text if text != "-0" else "0"
