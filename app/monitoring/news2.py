"""NEWS2, exactly per the Royal College of Physicians' National Early Warning Score 2 (2017).

Parameters are scored on the chart's resolution: respiration rate, SpO2, systolic BP and pulse
in whole numbers, temperature to one decimal place; a measured value is rounded half-up to it
first (20.4/min scores as 20, 20.5 as 21; 38.05 °C as 38.1).

Clinical response (the RCP's thresholds and triggers):
- aggregate 0-4 with no single parameter scoring 3: low;
- a single parameter scoring 3 (aggregate below 5): low-medium, an *urgent* ward-based response;
- aggregate 5-6: medium, *urgent*;
- aggregate 7 or more: high, *emergency*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

Consciousness = Literal["A", "C", "V", "P", "U"]
Response = Literal["low", "urgent", "emergency"]
PARAMETERS = (
    "respiration_rate",
    "spo2",
    "air_or_oxygen",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)


def _whole(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def respiration_rate(rate: Decimal) -> int:
    r = _whole(rate)
    if r <= 8:
        return 3
    if r <= 11:
        return 1
    if r <= 20:
        return 0
    if r <= 24:
        return 2
    return 3


def spo2_scale1(spo2: Decimal) -> int:
    s = _whole(spo2)
    if s <= 91:
        return 3
    if s <= 93:
        return 2
    if s <= 95:
        return 1
    return 0


def spo2_scale2(spo2: Decimal, on_oxygen: bool) -> int:
    """Scale 2, for patients with hypercapnic respiratory failure (target 88-92%): above 92%
    scores only on oxygen; on air it scores 0."""
    s = _whole(spo2)
    if s <= 83:
        return 3
    if s <= 85:
        return 2
    if s <= 87:
        return 1
    if s <= 92 or not on_oxygen:
        return 0
    if s <= 94:
        return 1
    if s <= 96:
        return 2
    return 3


def air_or_oxygen(on_oxygen: bool) -> int:
    return 2 if on_oxygen else 0


def systolic_bp(systolic: Decimal) -> int:
    s = _whole(systolic)
    if s <= 90:
        return 3
    if s <= 100:
        return 2
    if s <= 110:
        return 1
    if s <= 219:
        return 0
    return 3


def pulse(rate: Decimal) -> int:
    p = _whole(rate)
    if p <= 40:
        return 3
    if p <= 50:
        return 1
    if p <= 90:
        return 0
    if p <= 110:
        return 1
    if p <= 130:
        return 2
    return 3


def consciousness(level: Consciousness) -> int:
    """Alert 0; new Confusion, Voice, Pain, Unresponsive: 3."""
    return 0 if level == "A" else 3


def temperature(celsius: Decimal) -> int:
    t = celsius.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if t <= Decimal("35.0"):
        return 3
    if t <= Decimal("36.0"):
        return 1
    if t <= Decimal("38.0"):
        return 0
    if t <= Decimal("39.0"):
        return 1
    return 2


@dataclass(frozen=True)
class Inputs:
    respiration_rate: Decimal | None = None
    spo2: Decimal | None = None
    hypercapnic: bool = False  # SpO2 scale 2
    on_oxygen: bool | None = None  # None: not recorded
    systolic_bp: Decimal | None = None
    pulse: Decimal | None = None
    consciousness: Consciousness | None = None
    temperature: Decimal | None = None


@dataclass(frozen=True)
class Score:
    total: int
    parameters: dict[str, int]
    missing: tuple[str, ...]
    scale: int
    response: Response
    any_three: bool = field(default=False)

    @property
    def complete(self) -> bool:
        return not self.missing


def response_for(total: int, any_three: bool) -> Response:
    if total >= 7:
        return "emergency"
    if total >= 5 or any_three:
        return "urgent"
    return "low"


def score(inputs: Inputs) -> Score:
    """The score of what is known; ``missing`` names the parameters without a value (a partial
    score can only grow when they arrive, so its response is already a lower bound)."""
    parts: dict[str, int] = {}
    if inputs.respiration_rate is not None:
        parts["respiration_rate"] = respiration_rate(inputs.respiration_rate)
    if inputs.spo2 is not None:
        on_oxygen = bool(inputs.on_oxygen)
        parts["spo2"] = (
            spo2_scale2(inputs.spo2, on_oxygen) if inputs.hypercapnic else spo2_scale1(inputs.spo2)
        )
    if inputs.on_oxygen is not None:
        parts["air_or_oxygen"] = air_or_oxygen(inputs.on_oxygen)
    if inputs.systolic_bp is not None:
        parts["systolic_bp"] = systolic_bp(inputs.systolic_bp)
    if inputs.pulse is not None:
        parts["pulse"] = pulse(inputs.pulse)
    if inputs.consciousness is not None:
        parts["consciousness"] = consciousness(inputs.consciousness)
    if inputs.temperature is not None:
        parts["temperature"] = temperature(inputs.temperature)
    total = sum(parts.values())
    any_three = any(p == 3 for p in parts.values())
    missing = tuple(p for p in PARAMETERS if p not in parts)
    return Score(
        total=total,
        parameters=parts,
        missing=missing,
        scale=2 if inputs.hypercapnic else 1,
        response=response_for(total, any_three),
        any_three=any_three,
    )
