"""Money for people: how the CLI's tables and reports write an amount of US dollars.

Cents, and more digits only below a cent: `$33.80`, `$0.16`, `$50.00`, `$1,234.50`,
`$0.0032`. An amount is first taken at the API's precision (half-up to 6 places),
then shown to the cent (half-up); below a cent, to two significant digits with
trailing zeros dropped. Exact values stay in JSON (`--format json`).

The same rule, case for case, is `money_text` in shared/reports.py (the Markdown
reports; the Lambda asset does not ship this package) and `money` in
dashboard/src/format.ts; tests/fixtures/money-cases.json holds the cases all three
must give.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MICRO = Decimal("0.000001")
CENT_MICROS = 10_000


def money(amount: Decimal | float | int | str | None, *, signed: bool = False) -> str:
    """`$33.80`, `$0.0032`, `-$4.02` (`+$4.02` when `signed`); `-` for None."""
    if amount is None:
        return "-"
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    micros = int(value.quantize(MICRO, ROUND_HALF_UP).scaleb(6))
    sign = "-" if micros < 0 else ("+" if signed and micros > 0 else "")
    return sign + "$" + _magnitude(abs(micros))


def _magnitude(micros: int) -> str:
    if 0 < micros < CENT_MICROS:
        step = 10 ** max(0, len(str(micros)) - 2)  # two significant digits
        micros = (micros + step // 2) // step * step
        if micros < CENT_MICROS:
            return "0." + f"{micros:06d}".rstrip("0")
    cents = (micros + CENT_MICROS // 2) // CENT_MICROS
    return f"{cents // 100:,}.{cents % 100:02d}"


def exact(amount: Decimal | float | int | str | None) -> str:
    """The API's amount with nothing rounded away: `$0.00283`, `$33.800577`, `$2.50` (prices, hover text)."""
    if amount is None:
        return "-"
    value = (amount if isinstance(amount, Decimal) else Decimal(str(amount))).quantize(MICRO, ROUND_HALF_UP)
    whole, _, fraction = format(abs(value), "f").partition(".")
    return f"{'-' if value < 0 else ''}${int(whole):,}.{fraction.rstrip('0').ljust(2, '0')}"
