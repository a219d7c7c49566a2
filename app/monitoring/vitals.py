"""The vital signs we monitor: LOINC codes, UCUM units, what is physically possible.

One stored reading per Observation. The blood-pressure panel (85354-9) keeps systolic in
``value`` and diastolic in ``value2``; charts and thresholds see them as ``sbp`` and ``dbp``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
SYSTOLIC: Final = "8480-6"
DIASTOLIC: Final = "8462-4"
BP_PANEL: Final = "85354-9"

Metric = Literal["hr", "rr", "spo2", "bp", "temp"]
Series = Literal["hr", "rr", "spo2", "sbp", "dbp", "temp"]
SERIES: Final[tuple[Series, ...]] = ("hr", "rr", "spo2", "sbp", "dbp", "temp")
Quality = Literal["valid", "signal_loss", "artefact"]


@dataclass(frozen=True)
class VitalSpec:
    metric: Metric
    label: str
    unit: str  # the UCUM code we store
    units: frozenset[str]  # UCUM codes accepted
    # Outside [low, high] the value cannot be a measurement of a living patient: an artefact.
    low: Decimal
    high: Decimal


VITALS: Final[dict[str, VitalSpec]] = {
    "8867-4": VitalSpec(
        "hr", "Heart rate", "/min", frozenset({"/min", "{beats}/min"}), Decimal(1), Decimal(300)
    ),
    "9279-1": VitalSpec(
        "rr", "Respiratory rate", "/min", frozenset({"/min", "{breaths}/min"}), Decimal(1), Decimal(80)
    ),
    "59408-5": VitalSpec("spo2", "SpO2", "%", frozenset({"%"}), Decimal(30), Decimal(100)),
    "2708-6": VitalSpec("spo2", "SpO2 (arterial)", "%", frozenset({"%"}), Decimal(30), Decimal(100)),
    "8310-5": VitalSpec("temp", "Body temperature", "Cel", frozenset({"Cel"}), Decimal(25), Decimal(45)),
    BP_PANEL: VitalSpec("bp", "Blood pressure", "mm[Hg]", frozenset({"mm[Hg]"}), Decimal(20), Decimal(300)),
}
# Diastolic bounds (the panel's spec above is the systolic's).
DIASTOLIC_LOW: Final = Decimal(10)
DIASTOLIC_HIGH: Final = Decimal(250)

SERIES_LABEL: Final[dict[str, str]] = {
    "hr": "Heart rate",
    "rr": "Respiratory rate",
    "spo2": "SpO2",
    "sbp": "Systolic BP",
    "dbp": "Diastolic BP",
    "temp": "Temperature",
}
SERIES_UNIT: Final[dict[str, str]] = {
    "hr": "/min",
    "rr": "/min",
    "spo2": "%",
    "sbp": "mm[Hg]",
    "dbp": "mm[Hg]",
    "temp": "Cel",
}
METRIC_CODE: Final[dict[str, str]] = {
    "hr": "8867-4",
    "rr": "9279-1",
    "spo2": "59408-5",
    "bp": BP_PANEL,
    "temp": "8310-5",
}


def series_of(metric: str) -> tuple[str, ...]:
    return ("sbp", "dbp") if metric == "bp" else (metric,)
