"""Money is Decimal with two places and an ISO 4217 currency code beside it; never float."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer

CENT = Decimal("0.01")


def quantize(amount: Decimal | int | str) -> Decimal:
    if isinstance(amount, float):
        raise TypeError("money must not be a float")
    value = Decimal(amount)
    if not value.is_finite():
        raise ValueError("money must be a finite number")
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _validate(value: Decimal) -> Decimal:
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("money has at most two decimal places")
    return quantize(value)


# In JSON, amounts travel as strings ("12.30") so no client parses them into binary floats.
Money = Annotated[Decimal, AfterValidator(_validate), PlainSerializer(lambda v: f"{v:.2f}", return_type=str)]
