"""Roles and named permissions.

Roles are fixed by the product; each grants a set of named permissions. Endpoints depend on
permissions, never on role names, so a hospital can later remap roles without touching routes.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    DOCTOR = "doctor"
    NURSE = "nurse"
    RECEPTIONIST = "receptionist"
    PHARMACIST = "pharmacist"
    BILLING = "billing"
    PATIENT = "patient"


class Perm(StrEnum):
    PATIENTS_READ = "patients:read"  # demographics
    PATIENTS_WRITE = "patients:write"
    CLINICAL_READ = "clinical:read"  # problems, meds, notes, observations
    CLINICAL_WRITE = "clinical:write"
    PRESCRIBE = "clinical:prescribe"
    DISPENSE = "pharmacy:dispense"
    STAFF_READ = "staff:read"
    STAFF_WRITE = "staff:write"
    ROTA_WRITE = "staff:rota"  # shifts, leave and rotas (reception and admins build rotas)
    APPOINTMENTS_READ = "appointments:read"
    APPOINTMENTS_WRITE = "appointments:write"
    TELEHEALTH_JOIN = "telehealth:join"
    MONITORING_READ = "monitoring:read"
    MONITORING_WRITE = "monitoring:write"
    INVENTORY_READ = "inventory:read"
    INVENTORY_WRITE = "inventory:write"
    BILLING_READ = "billing:read"
    BILLING_WRITE = "billing:write"
    INSURANCE_READ = "insurance:read"
    INSURANCE_WRITE = "insurance:write"
    USERS_ADMIN = "admin:users"
    AUDIT_READ = "admin:audit"
    SETTINGS_ADMIN = "admin:settings"
    SELF_SERVICE = "portal:self"  # a patient acting on their own record only


_CLINICIAN = {
    Perm.PATIENTS_READ,
    Perm.PATIENTS_WRITE,
    Perm.CLINICAL_READ,
    Perm.CLINICAL_WRITE,
    Perm.APPOINTMENTS_READ,
    Perm.APPOINTMENTS_WRITE,
    Perm.TELEHEALTH_JOIN,
    Perm.MONITORING_READ,
    Perm.MONITORING_WRITE,
    Perm.STAFF_READ,
    Perm.INVENTORY_READ,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(
        {
            Perm.PATIENTS_READ,
            Perm.PATIENTS_WRITE,
            Perm.STAFF_READ,
            Perm.STAFF_WRITE,
            Perm.ROTA_WRITE,
            Perm.APPOINTMENTS_READ,
            Perm.APPOINTMENTS_WRITE,
            Perm.INVENTORY_READ,
            Perm.INVENTORY_WRITE,
            Perm.BILLING_READ,
            Perm.INSURANCE_READ,
            Perm.USERS_ADMIN,
            Perm.AUDIT_READ,
            Perm.SETTINGS_ADMIN,
        }
    ),
    Role.DOCTOR: frozenset(_CLINICIAN | {Perm.PRESCRIBE}),
    Role.NURSE: frozenset(_CLINICIAN),
    Role.RECEPTIONIST: frozenset(
        {
            Perm.PATIENTS_READ,
            Perm.PATIENTS_WRITE,
            Perm.APPOINTMENTS_READ,
            Perm.APPOINTMENTS_WRITE,
            Perm.STAFF_READ,
            Perm.ROTA_WRITE,
            Perm.BILLING_READ,
            Perm.INSURANCE_READ,
        }
    ),
    Role.PHARMACIST: frozenset(
        {Perm.PATIENTS_READ, Perm.CLINICAL_READ, Perm.DISPENSE, Perm.INVENTORY_READ, Perm.INVENTORY_WRITE}
    ),
    Role.BILLING: frozenset(
        {
            Perm.PATIENTS_READ,
            Perm.BILLING_READ,
            Perm.BILLING_WRITE,
            Perm.INSURANCE_READ,
            Perm.INSURANCE_WRITE,
            Perm.APPOINTMENTS_READ,
        }
    ),
    Role.PATIENT: frozenset({Perm.SELF_SERVICE, Perm.TELEHEALTH_JOIN}),
}


def permissions_for(roles: list[str] | list[Role]) -> frozenset[Perm]:
    perms: set[Perm] = set()
    for r in roles:
        perms |= ROLE_PERMISSIONS[Role(r)]
    return frozenset(perms)
