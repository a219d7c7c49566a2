// The one list of modules: drives the sidebar, the home page's shortcuts and the routes' guards.
import type { Permission } from "./auth/permissions";
import type { IconName } from "./components/Icon";

export interface NavItem {
  id: string;
  label: string;
  path: string;
  icon: IconName;
  /** Shown when the user holds ANY of these; empty means every signed-in user. */
  anyOf: readonly Permission[];
  summary: string;
  /** What the placeholder page promises, until the module lands. */
  planned: readonly string[];
  children?: readonly NavItem[];
}

export const STAFF_NAV: readonly NavItem[] = [
  {
    id: "home",
    label: "Home",
    path: "/",
    icon: "home",
    anyOf: [],
    summary: "Your day at a glance.",
    planned: [],
  },
  {
    id: "patients",
    label: "Patients",
    path: "/patients",
    icon: "users",
    anyOf: ["patients:read"],
    summary: "Search, register and review patient records.",
    planned: ["Patient search and registration", "Demographics, allergies and problems", "Clinical notes"],
  },
  {
    id: "appointments",
    label: "Appointments",
    path: "/appointments",
    icon: "calendar",
    anyOf: ["appointments:read"],
    summary: "Schedules, bookings and check-in.",
    planned: [],
    children: [
      {
        id: "appointments-calendar",
        label: "Calendar",
        path: "/appointments/calendar",
        icon: "calendar",
        anyOf: ["appointments:read"],
        summary: "A clinician's day or week: who is booked, checked in or missed.",
        planned: [],
      },
      {
        id: "appointments-desk",
        label: "Booking desk",
        path: "/appointments/desk",
        icon: "users",
        anyOf: ["appointments:write"],
        summary: "Find a patient; book, move, cancel or check in; the waitlist.",
        planned: [],
      },
    ],
  },
  {
    id: "telehealth",
    label: "Telehealth",
    path: "/telehealth",
    icon: "video",
    anyOf: ["telehealth:join"],
    summary: "Video visits with patients.",
    planned: ["Virtual waiting room", "Video visits in the browser", "Live vitals during a visit"],
  },
  {
    id: "monitoring",
    label: "Monitoring",
    path: "/monitoring",
    icon: "activity",
    anyOf: ["monitoring:read"],
    summary: "Live vitals, NEWS2 and alarms from wards and homes.",
    planned: [],
  },
  {
    id: "staff",
    label: "Staff",
    path: "/staff",
    icon: "badge",
    anyOf: ["staff:read"],
    summary: "Directory, departments and rosters.",
    planned: [],
    children: [
      {
        id: "staff-directory",
        label: "Directory",
        path: "/staff/directory",
        icon: "users",
        anyOf: ["staff:read"],
        summary: "Find a colleague; posts held and licences.",
        planned: [],
      },
      {
        id: "staff-rota",
        label: "Rota",
        path: "/staff/rota",
        icon: "calendar",
        anyOf: ["staff:read"],
        summary: "Who works when, per department; shifts and leave.",
        planned: [],
      },
      {
        id: "staff-licences",
        label: "Expiring licences",
        path: "/staff/licences",
        icon: "shield",
        anyOf: ["staff:read"],
        summary: "Licences ending soon and clinicians who cannot be rostered.",
        planned: [],
      },
    ],
  },
  {
    id: "inventory",
    label: "Inventory",
    path: "/inventory",
    icon: "box",
    anyOf: ["inventory:read"],
    summary: "Stock levels, batches and reorders.",
    planned: ["Stock by location", "Batches and expiry dates", "Reorder alerts"],
  },
  {
    id: "pharmacy",
    label: "Pharmacy",
    path: "/pharmacy",
    icon: "pill",
    anyOf: ["pharmacy:dispense"],
    summary: "Prescription queue and dispensing.",
    planned: ["Prescription queue", "Dispensing against stock", "Interaction checks"],
  },
  {
    id: "billing",
    label: "Billing",
    path: "/billing",
    icon: "receipt",
    anyOf: ["billing:read"],
    summary: "Invoices, payments and balances.",
    planned: ["Invoices and line items", "Payments and refunds", "Patient balances"],
  },
  {
    id: "insurance",
    label: "Insurance",
    path: "/insurance",
    icon: "shield",
    anyOf: ["insurance:read"],
    summary: "Coverage, claims and remittances.",
    planned: ["Coverage verification", "Claims submission", "Remittance tracking"],
  },
  {
    id: "admin",
    label: "Admin",
    path: "/admin",
    icon: "settings",
    anyOf: ["admin:users", "admin:audit"],
    summary: "Users, roles and the audit trail.",
    planned: [],
    children: [
      {
        id: "admin-users",
        label: "Users",
        path: "/admin/users",
        icon: "users",
        anyOf: ["admin:users"],
        summary: "Accounts, roles and access.",
        planned: ["Create and disable accounts", "Assign roles", "Reset passwords and sessions"],
      },
      {
        id: "admin-audit",
        label: "Audit log",
        path: "/admin/audit",
        icon: "list",
        anyOf: ["admin:audit"],
        summary: "Who read or changed which record, and when.",
        planned: ["Search the audit trail", "Verify the hash chain", "Export for compliance"],
      },
    ],
  },
];

/** Patients (portal:self) get their own, smaller world. */
export const PORTAL_NAV: readonly NavItem[] = [
  {
    id: "my-health",
    label: "My health",
    path: "/",
    icon: "heart",
    anyOf: ["portal:self"],
    summary: "Your health summary.",
    planned: [],
  },
  {
    id: "my-appointments",
    label: "My appointments",
    path: "/my/appointments",
    icon: "calendar",
    anyOf: ["portal:self"],
    summary: "Upcoming and past visits; book a new one.",
    planned: ["Upcoming and past visits", "Book, move or cancel a visit", "Reminders"],
  },
  {
    id: "my-readings",
    label: "My readings",
    path: "/my/readings",
    icon: "heart",
    anyOf: ["portal:self"],
    summary: "Enter blood pressure from your home cuff.",
    planned: [],
  },
  {
    id: "my-visits",
    label: "Video visits",
    path: "/my/visits",
    icon: "video",
    anyOf: ["telehealth:join"],
    summary: "Join a video visit with your care team.",
    planned: ["Device check before the visit", "Join from the waiting room", "Share readings from home devices"],
  },
  {
    id: "my-billing",
    label: "Billing",
    path: "/my/billing",
    icon: "receipt",
    anyOf: ["portal:self"],
    summary: "Your invoices and payments.",
    planned: ["Your invoices", "Pay online", "Insurance on file"],
  },
];

export function hasAny(permissions: ReadonlySet<string>, anyOf: readonly string[]): boolean {
  return anyOf.length === 0 || anyOf.some((p) => permissions.has(p));
}

export function isPortalUser(permissions: ReadonlySet<string>): boolean {
  return permissions.has("portal:self");
}

/** The items this user may see, children filtered too; parents with no visible child are dropped. */
export function navFor(permissions: Iterable<string>): NavItem[] {
  const perms = new Set(permissions);
  const source = isPortalUser(perms) ? PORTAL_NAV : STAFF_NAV;
  const visible: NavItem[] = [];
  for (const item of source) {
    if (!hasAny(perms, item.anyOf)) continue;
    if (item.children) {
      const children = item.children.filter((c) => hasAny(perms, c.anyOf));
      if (children.length === 0) continue;
      visible.push({ ...item, children });
    } else {
      visible.push(item);
    }
  }
  return visible;
}

/** Every routable page (parents and children, both worlds), for building routes. */
export function allPages(): NavItem[] {
  const pages: NavItem[] = [];
  for (const item of [...STAFF_NAV, ...PORTAL_NAV]) {
    pages.push(item);
    for (const child of item.children ?? []) pages.push(child);
  }
  return pages;
}
