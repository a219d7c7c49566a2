"""CarePlan <-> CarePlanCreate / CarePlanRead.

Kept: status, intent, category (the first), title, description, period, author (identifier +
display), goals as *contained* Goal resources (``goal`` references to ``#id``; Goals that live
elsewhere are not resolved here), activity.detail (code, status, description), encounter,
identifier/id as provenance. Ignored: careTeam, addresses, supportingInfo, activity.reference,
narrative text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.fhir.mappers import base as b
from app.patients import schemas as s

RESOURCE_TYPE = "CarePlan"
_STATUSES = ("draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown")
_INTENTS = ("proposal", "plan", "order", "option")
_GOAL_STATUSES = (
    "proposed",
    "planned",
    "accepted",
    "active",
    "on-hold",
    "completed",
    "cancelled",
    "rejected",
)
_ACTIVITY_STATUSES = (
    "not-started",
    "scheduled",
    "in-progress",
    "on-hold",
    "completed",
    "cancelled",
    "stopped",
    "unknown",
)


def _goals(resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    contained = {
        c.get("id"): c
        for c in resource.get("contained") or []
        if isinstance(c, Mapping) and c.get("resourceType") == "Goal"
    }
    out = []
    for ref in resource.get("goal") or []:
        target = str((ref or {}).get("reference") or "")
        goal = contained.get(target[1:]) if target.startswith("#") else None
        if goal is None:
            continue
        described = b.concept(goal.get("description"), "Goal.description", required=True)
        assert described is not None
        target_date = next(
            (
                t.get("dueDate")
                for t in goal.get("target") or []
                if isinstance(t, Mapping) and t.get("dueDate")
            ),
            None,
        )
        out.append(
            {
                "description": described.display or described.code,
                "code": described if described.code else None,
                "lifecycle_status": b.one_of(
                    goal.get("lifecycleStatus"), _GOAL_STATUSES, "Goal.lifecycleStatus", "active"
                ),
                "target_date": b.day(target_date, "Goal.target.dueDate"),
            }
        )
    return out[:50]


def _activities(resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for i, activity in enumerate(resource.get("activity") or []):
        detail = (activity or {}).get("detail")
        if not isinstance(detail, Mapping):
            continue  # activity.reference (a ServiceRequest, ...) is not kept
        code = b.concept(detail.get("code"))
        description = b._clip(detail.get("description"), 20_000)
        if code is None and description is None:
            continue
        out.append(
            {
                "code": code,
                "status": b.one_of(
                    detail.get("status"),
                    _ACTIVITY_STATUSES,
                    f"CarePlan.activity[{i}].detail.status",
                    "unknown",
                ),
                "description": description,
            }
        )
    return out[:100]


@b.reads_fhir
def from_fhir(resource: Mapping[str, Any], refs: b.ReferenceResolver) -> s.CarePlanCreate:
    b.check_type(resource, RESOURCE_TYPE)
    b.patient_of(resource, refs)
    period = resource.get("period") or {}
    author_identifier, author_display = (None, None)
    if isinstance(resource.get("author"), Mapping):
        author_identifier, author_display = refs.practitioner(resource["author"])
    data = {
        **b.provenance(resource, refs),
        "status": b.one_of(resource.get("status"), _STATUSES, "CarePlan.status", "active"),
        "intent": b.one_of(resource.get("intent"), _INTENTS, "CarePlan.intent", "plan"),
        "category": b.concept(b.first(resource.get("category"))),
        "title": b._clip(resource.get("title"), 255),
        "description": b._clip(resource.get("description"), 20_000),
        "period_start": b.when(period.get("start"), "CarePlan.period.start"),
        "period_end": b.when(period.get("end"), "CarePlan.period.end"),
        "author_identifier": b._clip(author_identifier, 190),
        "author_display": b._clip(author_display, 200),
        "goals": _goals(resource),
        "activities": _activities(resource),
        "encounter_id": b.encounter(resource, refs),
    }
    return b.build(s.CarePlanCreate, data, RESOURCE_TYPE)


def to_fhir(obj: Any) -> dict[str, Any]:
    c = b.as_read(s.CarePlanRead, obj)
    goals = [
        {
            "resourceType": "Goal",
            "id": f"goal-{i + 1}",
            "lifecycleStatus": g.lifecycle_status,
            "description": b.fhir_concept(g.code) if g.code else {"text": g.description},
            "subject": b.ref("Patient", c.patient_id),
            "target": [{"dueDate": g.target_date.isoformat()}] if g.target_date else None,
        }
        for i, g in enumerate(c.goals)
    ]
    resource = {
        "resourceType": RESOURCE_TYPE,
        "id": str(c.id),
        "meta": b.meta(c),
        "contained": goals,
        "identifier": b.source_identifier(c),
        "status": c.status,
        "intent": c.intent,
        "category": [b.fhir_concept(c.category)] if c.category else None,
        "title": c.title,
        "description": c.description,
        "subject": b.ref("Patient", c.patient_id),
        "encounter": b.ref("Encounter", c.encounter_id),
        "period": {"start": b.fhir_instant(c.period_start), "end": b.fhir_instant(c.period_end)},
        "author": b.practitioner_ref(c.author_identifier, c.author_display),
        "goal": [{"reference": f"#{g['id']}"} for g in goals],
        "activity": [
            {"detail": {"code": b.fhir_concept(a.code), "status": a.status, "description": a.description}}
            for a in c.activities
        ],
    }
    result: dict[str, Any] = b.clean(resource)
    return result
