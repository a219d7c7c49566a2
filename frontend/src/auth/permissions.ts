// Mirrors app/auth/permissions.py. The server decides; the web app only hides what would 403.
export const PERMISSIONS = [
  "patients:read",
  "patients:write",
  "clinical:read",
  "clinical:write",
  "clinical:prescribe",
  "pharmacy:dispense",
  "staff:read",
  "staff:write",
  "staff:rota",
  "appointments:read",
  "appointments:write",
  "telehealth:join",
  "monitoring:read",
  "monitoring:write",
  "inventory:read",
  "inventory:write",
  "billing:read",
  "billing:write",
  "insurance:read",
  "insurance:write",
  "admin:users",
  "admin:audit",
  "admin:settings",
  "portal:self",
] as const;

export type Permission = (typeof PERMISSIONS)[number];

export const ROLE_LABELS: Record<string, string> = {
  admin: "Administrator",
  doctor: "Doctor",
  nurse: "Nurse",
  receptionist: "Receptionist",
  pharmacist: "Pharmacist",
  billing: "Billing specialist",
  patient: "Patient",
};

export function roleLabel(role: string): string {
  return ROLE_LABELS[role] ?? role.charAt(0).toUpperCase() + role.slice(1);
}

export function rolesLabel(roles: readonly string[]): string {
  return roles.length === 0 ? "No role" : roles.map(roleLabel).join(", ");
}
