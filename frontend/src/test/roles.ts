// The role -> permission map of app/auth/permissions.py, for tests that want real roles.
import type { Permission } from "../auth/permissions";

const CLINICIAN: Permission[] = [
  "patients:read",
  "patients:write",
  "clinical:read",
  "clinical:write",
  "appointments:read",
  "appointments:write",
  "telehealth:join",
  "monitoring:read",
  "monitoring:write",
  "staff:read",
  "inventory:read",
];

type Role = "admin" | "doctor" | "nurse" | "receptionist" | "pharmacist" | "billing" | "patient";

export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  admin: [
    "patients:read",
    "patients:write",
    "staff:read",
    "staff:write",
    "staff:rota",
    "appointments:read",
    "appointments:write",
    "inventory:read",
    "inventory:write",
    "billing:read",
    "insurance:read",
    "admin:users",
    "admin:audit",
    "admin:settings",
  ],
  doctor: [...CLINICIAN, "clinical:prescribe"],
  nurse: CLINICIAN,
  receptionist: [
    "patients:read",
    "patients:write",
    "appointments:read",
    "appointments:write",
    "staff:read",
    "staff:rota",
    "billing:read",
    "insurance:read",
  ],
  pharmacist: ["patients:read", "clinical:read", "pharmacy:dispense", "inventory:read", "inventory:write"],
  billing: [
    "patients:read",
    "billing:read",
    "billing:write",
    "insurance:read",
    "insurance:write",
    "appointments:read",
  ],
  patient: ["portal:self", "telehealth:join"],
};
