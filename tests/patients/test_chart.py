"""The chart summary: its content, and a cost that does not grow with the history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import event

from app.db import Base
from app.patients.models import Code, Condition, Encounter, Observation, ObservationComponent
from tests.patients.helpers import LOINC, RXNORM, SNOMED, assert_error, headers_for, register

T0 = datetime(2020, 1, 1, tzinfo=UTC)


async def _history(db, patient_id: str, encounters: int) -> None:
    """A long history straight through the ORM: encounters, each with vitals, plus problems."""
    pid = uuid.UUID(patient_id)
    async with db.sessionmaker() as s:
        for i in range(encounters):
            at = T0 + timedelta(days=i)
            enc = Encounter(
                patient_id=pid, status="finished", class_code="AMB", period_start=at, reasons=[], notes=[]
            )
            s.add(enc)
            await s.flush()
            s.add_all(
                [
                    Observation(
                        patient_id=pid, encounter_id=enc.id, status="final", category="vital-signs",
                        code=Code(LOINC, "8867-4", "Heart rate"), effective_at=at,
                        value_quantity=Decimal(60 + i % 40), value_unit="/min", components=[],
                    ),
                    Observation(
                        patient_id=pid, encounter_id=enc.id, status="final", category="vital-signs",
                        code=Code(LOINC, "85354-9", "Blood pressure panel"), effective_at=at,
                        components=[
                            ObservationComponent(
                                position=0, code=Code(LOINC, "8480-6", "Systolic"),
                                value_quantity=Decimal(110 + i % 30), value_unit="mm[Hg]",
                            ),
                            ObservationComponent(
                                position=1, code=Code(LOINC, "8462-4", "Diastolic"),
                                value_quantity=Decimal(70 + i % 20), value_unit="mm[Hg]",
                            ),
                        ],
                    ),
                    Condition(
                        patient_id=pid, encounter_id=enc.id, code=Code(SNOMED, f"{1000 + i}", f"Problem {i}"),
                        clinical_status="resolved" if i % 2 else "active", verification_status="confirmed",
                        category="encounter-diagnosis", onset_at=at,
                    ),
                ]
            )  # fmt: skip
        await s.commit()


class Counter:
    def __init__(self, engine):
        self.engine = engine.sync_engine
        self.statements = 0
        self.loaded = 0

    def _stmt(self, *args):
        self.statements += 1

    def _load(self, *args):
        self.loaded += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._stmt)
        event.listen(Base, "load", self._load, propagate=True)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._stmt)
        event.remove(Base, "load", self._load)


async def test_chart_summary_content(client, db):
    h = await headers_for(client, db, "doctor")
    p = await register(client, h)
    base = f"/api/patients/{p['id']}"
    await _history(db, p["id"], 3)
    await client.post(
        f"{base}/allergies",
        json={"code": {"system": RXNORM, "code": "7980", "display": "Penicillin G"}},
        headers=h,
    )
    await client.post(
        f"{base}/medication-requests",
        json={"medication": {"system": RXNORM, "code": "197361", "display": "Amlodipine 5 MG Oral Tablet"}},
        headers=h,
    )
    for code, value, unit in (("8310-5", "37.2", "Cel"), ("29463-7", "72.5", "kg"), ("59408-5", "97", "%")):
        r = await client.post(
            f"{base}/observations",
            json={
                "category": "vital-signs",
                "code": {"system": LOINC, "code": code},
                "effective_at": "2019-06-01T00:00:00Z",
                "value_quantity": value,
                "value_unit": unit,
            },
            headers=h,
        )
        assert r.status_code == 201
    r = await client.get(f"{base}/chart", headers=h)
    assert r.status_code == 200, r.text
    chart = r.json()
    assert chart["patient"]["id"] == p["id"]
    assert [c["code"]["code"] for c in chart["active_problems"]] == [
        "1002",
        "1000",
    ]  # active only, newest first
    assert [a["code"]["code"] for a in chart["allergies"]] == ["7980"]
    assert [m["medication"]["code"] for m in chart["active_medications"]] == ["197361"]
    vitals = {o["code"]["code"]: o for o in chart["latest_vitals"]}
    assert set(vitals) == {"8867-4", "85354-9", "8310-5", "29463-7", "59408-5"}
    assert vitals["8867-4"]["value_quantity"] == "62" and vitals["8867-4"]["effective_at"].startswith(
        "2020-01-03"
    )
    assert [c["value_quantity"] for c in vitals["85354-9"]["components"]] == ["112", "72"]
    assert vitals["8310-5"]["value_quantity"] == "37.2"
    assert chart["counts"] == {
        "encounters": 3, "conditions": 3, "allergies": 1, "immunizations": 0, "procedures": 0,
        "observations": 9, "care_plans": 0, "medication_requests": 1,
    }  # fmt: skip
    # The receptionist sees demographics, never the chart.
    recep = await headers_for(client, db, "receptionist")
    assert_error(await client.get(f"{base}/chart", headers=recep), 403, "forbidden")


async def test_chart_of_500_encounters_costs_what_the_chart_of_5_does(client, db, engine):
    h = await headers_for(client, db, "doctor")
    small = await register(client, h, family="Small")
    large = await register(client, h, family="Large")
    await _history(db, small["id"], 5)
    await _history(db, large["id"], 500)

    async def measure(patient):
        with Counter(engine) as counter:
            r = await client.get(f"/api/patients/{patient['id']}/chart", headers=h)
        assert r.status_code == 200, r.text
        return counter, r.json()

    await measure(small)  # warm caches (compiled statements) before comparing
    small_cost, _ = await measure(small)
    large_cost, large_chart = await measure(large)
    assert large_chart["counts"]["encounters"] == 500 and large_chart["counts"]["observations"] == 1000
    assert small_cost.statements == large_cost.statements, (small_cost.statements, large_cost.statements)
    # Rows loaded are bounded by the summary limit (active problems) plus a handful, not by the
    # history: 250 active problems exist, 1000 observations, 500 encounters.
    summary_limit = large_chart["summary_limit"]
    assert len(large_chart["active_problems"]) == summary_limit
    assert large_cost.loaded <= summary_limit + 30, large_cost.loaded
    assert small_cost.loaded <= 30
    assert large_chart["latest_vitals"][0]["effective_at"].startswith(
        (T0 + timedelta(days=499)).date().isoformat()
    )
