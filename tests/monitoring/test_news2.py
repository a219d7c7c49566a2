"""NEWS2 against the Royal College of Physicians' chart (2017): every band edge of every
parameter, both SpO2 scales, and the clinical-response thresholds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.monitoring import news2

D = Decimal

RESPIRATION = [(1, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)]
SCALE1 = [(50, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
SYSTOLIC = [(60, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (280, 3)]
PULSE = [
    (30, 3),
    (40, 3),
    (41, 1),
    (50, 1),
    (51, 0),
    (90, 0),
    (91, 1),
    (110, 1),
    (111, 2),
    (130, 2),
    (131, 3),
]
TEMPERATURE = [
    ("34.0", 3),
    ("35.0", 3),
    ("35.1", 1),
    ("36.0", 1),
    ("36.1", 0),
    ("38.0", 0),
    ("38.1", 1),
    ("39.0", 1),
    ("39.1", 2),
    ("41.0", 2),
]
# Scale 2 (hypercapnic respiratory failure): (SpO2, on oxygen, points)
SCALE2 = [
    (80, False, 3),
    (83, False, 3),
    (84, False, 2),
    (85, True, 2),
    (86, False, 1),
    (87, True, 1),
    (88, False, 0),
    (92, True, 0),
    (93, False, 0),
    (97, False, 0),
    (100, False, 0),
    (93, True, 1),
    (94, True, 1),
    (95, True, 2),
    (96, True, 2),
    (97, True, 3),
    (100, True, 3),
]


@pytest.mark.parametrize(("value", "points"), RESPIRATION)
def test_respiration_rate(value, points):
    assert news2.respiration_rate(D(value)) == points


@pytest.mark.parametrize(("value", "points"), SCALE1)
def test_spo2_scale_1(value, points):
    assert news2.spo2_scale1(D(value)) == points


@pytest.mark.parametrize(("value", "oxygen", "points"), SCALE2)
def test_spo2_scale_2(value, oxygen, points):
    assert news2.spo2_scale2(D(value), oxygen) == points


@pytest.mark.parametrize(("value", "points"), SYSTOLIC)
def test_systolic_bp(value, points):
    assert news2.systolic_bp(D(value)) == points


@pytest.mark.parametrize(("value", "points"), PULSE)
def test_pulse(value, points):
    assert news2.pulse(D(value)) == points


@pytest.mark.parametrize(("value", "points"), TEMPERATURE)
def test_temperature(value, points):
    assert news2.temperature(D(value)) == points


@pytest.mark.parametrize(("level", "points"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness_acvpu(level, points):
    assert news2.consciousness(level) == points


def test_air_or_oxygen():
    assert news2.air_or_oxygen(True) == 2 and news2.air_or_oxygen(False) == 0


def test_measured_values_are_rounded_to_the_charts_resolution():
    assert news2.respiration_rate(D("20.4")) == 0 and news2.respiration_rate(D("20.5")) == 2
    assert (
        news2.pulse(D("90.5")) == 1
        and news2.temperature(D("38.04")) == 0
        and news2.temperature(D("38.05")) == 1
    )


NORMAL = dict(
    respiration_rate=D(16),
    spo2=D(97),
    on_oxygen=False,
    systolic_bp=D(120),
    pulse=D(70),
    consciousness="A",
    temperature=D("37.0"),
)


@pytest.mark.parametrize(
    ("changes", "total", "response"),
    [
        ({}, 0, "low"),
        ({"pulse": D(95), "temperature": D("38.5"), "respiration_rate": D(22)}, 4, "low"),
        ({"consciousness": "V"}, 3, "urgent"),  # a single 3: urgent although the total is 3
        ({"respiration_rate": D(24), "spo2": D(94), "pulse": D(95), "temperature": D("38.5")}, 5, "urgent"),
        ({"respiration_rate": D(22), "spo2": D(94), "on_oxygen": True, "pulse": D(95)}, 6, "urgent"),
        ({"respiration_rate": D(22), "spo2": D(93), "on_oxygen": True, "pulse": D(95)}, 7, "emergency"),
        (
            {
                "respiration_rate": D(30),
                "spo2": D(85),
                "on_oxygen": True,
                "systolic_bp": D(85),
                "pulse": D(140),
                "consciousness": "U",
                "temperature": D("34.5"),
            },
            20,
            "emergency",
        ),
    ],
)
def test_aggregate_and_clinical_response(changes, total, response):
    result = news2.score(news2.Inputs(**{**NORMAL, **changes}))
    assert (result.total, result.response) == (total, response)
    assert result.complete


def test_scale_2_for_hypercapnic_patients():
    on_air = news2.score(news2.Inputs(**{**NORMAL, "spo2": D(89)}, hypercapnic=True))
    assert on_air.parameters["spo2"] == 0 and on_air.scale == 2
    scale1 = news2.score(news2.Inputs(**{**NORMAL, "spo2": D(89)}))
    assert scale1.parameters["spo2"] == 3 and scale1.response == "urgent"
    oxygen = news2.score(news2.Inputs(**{**NORMAL, "spo2": D(97), "on_oxygen": True}, hypercapnic=True))
    assert oxygen.parameters == {**oxygen.parameters, "spo2": 3, "air_or_oxygen": 2} and oxygen.total == 5


def test_partial_scores_name_what_is_missing():
    result = news2.score(news2.Inputs(pulse=D(135)))
    assert result.total == 3 and result.response == "urgent"
    assert "consciousness" in result.missing and not result.complete
