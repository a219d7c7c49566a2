"""Who may do what, on every endpoint of the patients router: the patient portal sees only its
own record (others' are 404, as if absent) and writes nothing; receptionists never reach clinical
data; every access is audited with the patient id."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.routing import APIRoute

from app.patients.router import router
from tests.patients.helpers import (
    CVX,
    LOINC,
    RXNORM,
    SNOMED,
    audit_events,
    headers_for,
    patient_body,
    register,
)

CODE = {"system": SNOMED, "code": "38341003", "display": "Hypertension"}
BODIES: dict[tuple[str, str], dict] = {
    ("POST", "/api/patients"): patient_body(family="Portal"),
    ("PATCH", "/api/patients/{patient_id}"): {"gender": "other"},
    ("POST", "/api/patients/{patient_id}/conditions"): {"code": CODE},
    ("PATCH", "/api/patients/{patient_id}/conditions/{condition_id}"): {"clinical_status": "resolved"},
    ("POST", "/api/patients/{patient_id}/allergies"): {
        "code": {"system": RXNORM, "code": "1", "display": "X"}
    },
    ("PATCH", "/api/patients/{patient_id}/allergies/{allergy_id}"): {"criticality": "low"},
    ("POST", "/api/patients/{patient_id}/immunizations"): {
        "vaccine": {"system": CVX, "code": "140"},
        "occurrence_at": "2024-01-01T00:00:00Z",
    },
    ("POST", "/api/patients/{patient_id}/procedures"): {"code": CODE},
    ("POST", "/api/patients/{patient_id}/encounters"): {"class_code": "VR"},
    ("PATCH", "/api/patients/{patient_id}/encounters/{encounter_id}"): {"status": "finished"},
    ("POST", "/api/patients/{patient_id}/encounters/{encounter_id}/notes"): {"text": "note"},
    ("POST", "/api/patients/{patient_id}/observations"): {
        "code": {"system": LOINC, "code": "8867-4"},
        "value_quantity": "70",
        "value_unit": "/min",
    },
    ("PATCH", "/api/patients/{patient_id}/observations/{observation_id}"): {
        "status": "amended",
        "value_quantity": "72",
        "value_unit": "/min",
    },
    ("POST", "/api/patients/{patient_id}/care-plans"): {},
    ("POST", "/api/patients/{patient_id}/medication-requests"): {
        "medication": {"system": RXNORM, "code": "197361", "display": "Amlodipine"}
    },
    ("PATCH", "/api/patients/{patient_id}/medication-requests/{request_id}"): {
        "status": "stopped",
        "reason": "x",
    },
}
CHILD_PARAMS = {
    "condition_id": "conditions",
    "allergy_id": "allergies",
    "immunization_id": "immunizations",
    "procedure_id": "procedures",
    "encounter_id": "encounters",
    "observation_id": "observations",
    "care_plan_id": "care-plans",
    "request_id": "medication-requests",
}
CLINICAL_SEGMENTS = set(CHILD_PARAMS.values()) | {"chart"}


def routes() -> list[tuple[str, str]]:
    found = []
    for route in router.routes:
        assert isinstance(route, APIRoute)
        for method in sorted(route.methods):
            found.append((method, route.path))
    return found


def test_every_write_route_has_a_sample_body():
    """A new endpoint must be added here, and so to the ownership checks below."""
    writes = {(m, p) for m, p in routes() if m in ("POST", "PATCH", "PUT", "DELETE")}
    assert writes == set(BODIES), writes ^ set(BODIES)


async def _record_with_children(client, h) -> dict[str, str]:
    """A patient with one resource of each kind; returns the path parameters to reach them."""
    p = await register(client, h, family="Owner")
    ids = {"patient_id": p["id"]}
    base = f"/api/patients/{p['id']}"
    for param, segment in CHILD_PARAMS.items():
        body = BODIES[("POST", f"/api/patients/{{patient_id}}/{segment}")]
        r = await client.post(f"{base}/{segment}", json=body, headers=h)
        assert r.status_code == 201, r.text
        ids[param] = r.json()["id"]
    return ids


def _url(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


async def _call(client, method, path, ids, h):
    body = BODIES.get((method, path))
    return await client.request(method, _url(path, ids), json=body, headers=h)


async def test_portal_user_reaches_only_their_own_record_on_every_endpoint(client, db):
    doctor = await headers_for(client, db, "doctor")
    mine = await _record_with_children(client, doctor)
    theirs = await _record_with_children(client, doctor)
    portal = await headers_for(client, db, "patient", patient_id=uuid.UUID(mine["patient_id"]))

    for method, path in routes():
        if "{patient_id}" not in path:
            continue
        # Someone else's record: 404 everywhere, reads and writes, as if it did not exist.
        r = await _call(client, method, path, theirs, portal)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        # Own record: reads succeed, writes are refused.
        r = await _call(client, method, path, mine, portal)
        expected = 200 if method == "GET" else 403
        assert r.status_code == expected, (method, path, r.status_code, r.text)
        # Own patient id with another patient's resource id: still 404.
        mixed = {**theirs, "patient_id": mine["patient_id"]}
        if path.count("{") > 1:
            r = await _call(client, method, path, mixed, portal)
            assert r.status_code in (403, 404) if method != "GET" else r.status_code == 404, (method, path)

    # Search shows only themselves; registration is refused.
    r = await client.get("/api/patients", params={"name": "owner"}, headers=portal)
    assert [p["id"] for p in r.json()["items"]] == [mine["patient_id"]] and r.json()["total"] == 1
    r = await client.post("/api/patients", json=BODIES[("POST", "/api/patients")], headers=portal)
    assert r.status_code == 403

    # The refused attempts on the other record are audited against that record (a 404 answer is
    # stored with the outcome "failure" by the unit of work; the action names the denial).
    denied = await audit_events(
        db, patient_id=uuid.UUID(theirs["patient_id"]), action="patient.access_denied"
    )
    assert len(denied) >= len([r for r in routes() if "{patient_id}" in r[1]])
    assert {e.outcome for e in denied} == {"failure"}
    own_writes = await audit_events(
        db, patient_id=uuid.UUID(mine["patient_id"]), action="patient.access_denied"
    )
    assert own_writes and {e.outcome for e in own_writes} == {"denied"}


async def test_a_portal_user_without_a_linked_record_sees_nothing(client, db):
    doctor = await headers_for(client, db, "doctor")
    p = await register(client, doctor)
    portal = await headers_for(client, db, "patient")
    assert (await client.get(f"/api/patients/{p['id']}", headers=portal)).status_code == 404
    assert (await client.get("/api/patients", headers=portal)).json()["total"] == 0


@pytest.mark.parametrize("role", ["receptionist", "billing"])
async def test_demographics_only_roles_get_403_on_every_clinical_endpoint(client, db, role):
    doctor = await headers_for(client, db, "doctor")
    ids = await _record_with_children(client, doctor)
    h = await headers_for(client, db, role)
    for method, path in routes():
        if "{patient_id}" not in path:
            continue
        clinical = bool(set(path.split("/")) & CLINICAL_SEGMENTS)
        r = await _call(client, method, path, ids, h)
        if clinical:
            assert r.status_code == 403, (method, path, r.status_code)
            assert r.json()["error"]["code"] == "forbidden"
        elif method == "GET":
            assert r.status_code == 200, (method, path, r.text)
    can_write = role == "receptionist"
    r = await client.patch(f"/api/patients/{ids['patient_id']}", json={"gender": "male"}, headers=h)
    assert r.status_code == (200 if can_write else 403)


async def test_every_read_and_write_is_audited_with_the_patient_id(client, db):
    doctor = await headers_for(client, db, "doctor")
    ids = await _record_with_children(client, doctor)
    pid = uuid.UUID(ids["patient_id"])
    before = len(await audit_events(db, patient_id=pid))
    for method, path in routes():
        if "{patient_id}" not in path:
            continue
        count = len(await audit_events(db, patient_id=pid))
        r = await _call(client, method, path, ids, doctor)
        assert r.status_code in (200, 201), (method, path, r.text)
        events = await audit_events(db, patient_id=pid)
        assert len(events) > count, f"{method} {path} wrote no audit event for the patient"
        assert events[-1].outcome == "success" and events[-1].actor_username.startswith("doctor")
    assert len(await audit_events(db, patient_id=pid)) > before
