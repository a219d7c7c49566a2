// Staff records, departments and a small in-memory rota shaped like the API's answers, with the
// overlap rule answered the way the API does (409, the rule's code, details.violations).
import type {
  Department,
  Leave,
  Rota,
  Shift,
  ShiftDefinition,
  StaffDetail,
  StaffMember,
} from "../staff/types";
import { err, json } from "./fakeApi";

export const GEN = "d0000000-0000-4000-8000-00000000000a";
export const ED = "d0000000-0000-4000-8000-00000000000b";
export const GRACE = "50000000-0000-4000-8000-000000000001";
export const MATEO = "50000000-0000-4000-8000-000000000002";
export const EARLY = "de000000-0000-4000-8000-000000000001";
export const LATE = "de000000-0000-4000-8000-000000000002";
export const NIGHT = "de000000-0000-4000-8000-000000000003";
/** A Monday in winter: London is on UTC, so local and UTC times read the same. */
export const WEEK = "2026-01-05";
const T = "2025-12-01T10:00:00Z";

export const DEPARTMENTS: Department[] = [
  { id: ED, code: "ED", name: "Emergency Department", active: true },
  { id: GEN, code: "GEN", name: "General Medicine", active: true },
];

export const DEFINITIONS: ShiftDefinition[] = [
  { id: EARLY, name: "Early", start_time: "07:00:00", end_time: "15:00:00", clinical: true, active: true, crosses_midnight: false, nominal_minutes: 480 },
  { id: LATE, name: "Late", start_time: "14:30:00", end_time: "22:30:00", clinical: true, active: true, crosses_midnight: false, nominal_minutes: 480 },
  { id: NIGHT, name: "Night", start_time: "22:00:00", end_time: "07:30:00", clinical: true, active: true, crosses_midnight: true, nominal_minutes: 570 },
];

export function makeStaff(overrides: Partial<StaffMember> = {}): StaffMember {
  return {
    id: GRACE,
    active: true,
    display_name: "Dr. Grace Okafor",
    family: "Okafor",
    given: ["Grace"],
    prefix: ["Dr."],
    suffix: [],
    gender: "female",
    birth_date: null,
    identifiers: [{ system: "urn:hospital-hub:demo", value: "staff-doctor", use: null }],
    telecoms: [{ system: "email", value: "doctor@hospital-hub.local", use: "work", rank: null }],
    addresses: [],
    qualifications: [
      {
        id: "q-grace",
        kind: "licence",
        code: { system: "urn:hospital-hub:licence", code: "GMC", display: "GMC registration" },
        number: "GMC-7012345",
        issuer: "General Medical Council",
        valid_from: "2015-08-01",
        valid_to: "2099-12-31",
      },
    ],
    user_id: "00000000-0000-4000-8000-000000000001",
    department_id: GEN,
    position: "Consultant physician",
    clinical: true,
    created_at: T,
    updated_at: T,
    ...overrides,
  };
}

export const MATEO_RECORD = makeStaff({
  id: MATEO,
  display_name: "Mateo Núñez",
  family: "Núñez",
  given: ["Mateo"],
  prefix: [],
  user_id: null,
  position: "Staff nurse",
  qualifications: [
    {
      id: "q-mateo",
      kind: "licence",
      code: { system: "urn:hospital-hub:licence", code: "NMC", display: "NMC registration" },
      number: "NMC-1",
      issuer: "Nursing and Midwifery Council",
      valid_from: "2015-08-01",
      valid_to: "2020-01-31",
    },
  ],
});

export function makeDetail(s: StaffMember = makeStaff(), overrides: Partial<StaffDetail> = {}): StaffDetail {
  return {
    ...s,
    department: DEPARTMENTS.find((d) => d.id === s.department_id) ?? null,
    positions: [
      {
        id: `p-${s.id}`,
        title: s.position ?? "Post",
        department_id: s.department_id,
        department_name: "General Medicine",
        start_date: "2020-02-01",
        end_date: null,
        current: true,
      },
    ],
    licence_valid_today: true,
    licence_valid_to: "2099-12-31",
    ...overrides,
  };
}

function addDays(day: string, n: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

let counter = 0;

/** A shift on `date` from a definition, in the UTC-equals-London winter. */
export function makeShift(staffId: string, date: string, definitionId: string, overrides: Partial<Shift> = {}): Shift {
  const def = DEFINITIONS.find((d) => d.id === definitionId)!;
  const endDay = def.crosses_midnight ? addDays(date, 1) : date;
  counter += 1;
  return {
    id: `shift-${counter}`,
    staff_id: staffId,
    staff_name: staffId === GRACE ? "Dr. Grace Okafor" : "Mateo Núñez",
    department_id: GEN,
    department_name: "General Medicine",
    definition_id: def.id,
    definition_name: def.name,
    date,
    starts_at: `${date}T${def.start_time}Z`,
    ends_at: `${endDay}T${def.end_time}Z`,
    local_start: `${date}T${def.start_time}+00:00`,
    local_end: `${endDay}T${def.end_time}+00:00`,
    minutes: def.nominal_minutes,
    clinical: true,
    note: null,
    ...overrides,
  };
}

export function makeLeave(staffId: string, start: string, end: string, overrides: Partial<Leave> = {}): Leave {
  return {
    id: `leave-${staffId}-${start}`,
    staff_id: staffId,
    staff_name: staffId === GRACE ? "Dr. Grace Okafor" : "Mateo Núñez",
    kind: "annual",
    starts_at: `${start}T00:00:00Z`,
    ends_at: `${addDays(end, 1)}T00:00:00Z`,
    all_day: true,
    start_date: start,
    end_date: end,
    note: null,
    ...overrides,
  };
}

export interface StaffCall {
  method: string;
  path: string;
  search: URLSearchParams;
  body: unknown;
}

export interface StaffState {
  shifts: Shift[];
  leave: Leave[];
  limit: number;
  staff: StaffMember[];
}

/** The rota of `state` for the days [start, end], as GET /api/staff/rota answers it. */
export function rotaOf(state: StaffState, departmentId: string, start: string, end: string): Rota {
  const days: string[] = [];
  for (let d = start; d <= end; d = addDays(d, 1)) days.push(d);
  const monday = start;
  const members = state.staff.filter((s) => s.department_id === departmentId);
  const hours = (id: string) =>
    state.shifts
      .filter((s) => s.staff_id === id && s.date >= monday && s.date <= addDays(monday, 6))
      .reduce((h, s) => h + s.minutes / 60, 0);
  const staff = members.map((s) => ({
    id: s.id,
    display_name: s.display_name,
    position: s.position,
    clinical: s.clinical,
    weekly_hours: { [monday]: hours(s.id) },
  }));
  return {
    department: DEPARTMENTS.find((d) => d.id === departmentId)!,
    start,
    end,
    timezone: "Europe/London",
    weekly_hours_warning: state.limit,
    staff,
    days: days.map((date) => ({
      date,
      shifts: state.shifts.filter((s) => s.department_id === departmentId && s.date === date),
      leave: state.leave.filter((l) => l.start_date <= date && date <= l.end_date),
    })),
    warnings: staff
      .filter((s) => (s.weekly_hours[monday] ?? 0) > state.limit)
      .map((s) => ({
        code: "weekly_hours" as const,
        message: `${s.display_name} is rostered ${s.weekly_hours[monday]} hours`,
        staff_id: s.id,
        week_start: monday,
        hours: s.weekly_hours[monday] ?? 0,
        limit: state.limit,
      })),
  };
}

function overlapping(state: StaffState, candidate: Shift, except?: string) {
  return state.shifts.filter(
    (s) =>
      s.id !== except &&
      s.staff_id === candidate.staff_id &&
      s.starts_at < candidate.ends_at &&
      candidate.starts_at < s.ends_at,
  );
}

function overlapViolations(candidate: Shift, clashes: Shift[]) {
  return [
    {
      code: "shift_overlap",
      message: `${candidate.staff_name} already works a shift at that time`,
      conflicts_with: clashes.map((c) => ({
        kind: "shift",
        id: c.id,
        start: c.starts_at,
        end: c.ends_at,
        label: c.definition_name,
      })),
    },
  ];
}

/** What POST /api/staff/shifts/check (or /{id}/check) answers: 200, the rules it would break. */
function overlapCheck(candidate: Shift, clashes: Shift[]): Response {
  return json(200, clashes.length > 0 ? { ok: false, violations: overlapViolations(candidate, clashes) } : { ok: true, violations: [] });
}

function overlapRefusal(candidate: Shift, clashes: Shift[]): Response {
  return json(409, {
    error: {
      code: "shift_overlap",
      message: `${candidate.staff_name} already works a shift at that time`,
      details: {
        shift: { start: candidate.starts_at, end: candidate.ends_at },
        violations: overlapViolations(candidate, clashes),
      },
    },
  });
}

/**
 * The staff endpoints over in-memory state. `answer` may pre-empt any request (e.g. a 409 for a
 * rule this fake does not model); everything requested is recorded for assertions.
 */
export function staffRoutes(
  options: {
    shifts?: Shift[];
    leave?: Leave[];
    limit?: number;
    staff?: StaffMember[];
    answer?: (method: string, path: string, body: unknown) => Response | null;
    feedActive?: boolean;
  } = {},
) {
  const calls: StaffCall[] = [];
  const state: StaffState = {
    shifts: [...(options.shifts ?? [])],
    leave: [...(options.leave ?? [])],
    limit: options.limit ?? 48,
    staff: (options.staff ?? [makeStaff(), MATEO_RECORD]).map((s) => ({ ...s })),
  };
  let feedActive = options.feedActive ?? false;

  const routes = async (req: Request, url: URL) => {
    const text = req.method === "GET" || req.method === "DELETE" ? "" : await req.text();
    const body: unknown = text ? JSON.parse(text) : null;
    const p = url.pathname;
    calls.push({ method: req.method, path: p, search: url.searchParams, body });
    const pre = options.answer?.(req.method, p, body);
    if (pre) return pre;
    const q = url.searchParams;

    if (req.method === "GET" && p === "/api/staff/departments") return json(200, DEPARTMENTS);
    if (req.method === "GET" && p === "/api/staff/shift-definitions") return json(200, DEFINITIONS);
    if (req.method === "GET" && p === "/api/staff/rota") {
      return json(200, rotaOf(state, q.get("department_id")!, q.get("start")!, q.get("end")!));
    }
    if (req.method === "GET" && p === "/api/staff") {
      const name = (q.get("name") ?? "").toLowerCase();
      const dept = q.get("department_id");
      const items = state.staff.filter(
        (s) => (!name || s.display_name.toLowerCase().includes(name)) && (!dept || s.department_id === dept),
      );
      return json(200, { items, total: items.length, limit: Number(q.get("limit") ?? 50), offset: 0 });
    }
    if (req.method === "POST" && p === "/api/staff/shifts/check") {
      const b = body as { staff_id: string; date: string; definition_id: string };
      const shift = makeShift(b.staff_id, b.date, b.definition_id);
      return overlapCheck(shift, overlapping(state, shift));
    }
    const checkOne = /^\/api\/staff\/shifts\/([^/]+)\/check$/.exec(p);
    if (req.method === "POST" && checkOne) {
      const old = state.shifts.find((s) => s.id === checkOne[1]);
      if (!old) return err(404, "shift_not_found", "Shift not found");
      const b = body as { staff_id?: string; date?: string; definition_id?: string };
      const moved = makeShift(b.staff_id ?? old.staff_id, b.date ?? old.date, b.definition_id ?? old.definition_id!, {
        id: old.id,
      });
      return overlapCheck(moved, overlapping(state, moved, old.id));
    }
    if (req.method === "POST" && p === "/api/staff/shifts") {
      const b = body as { staff_id: string; date: string; definition_id: string; note?: string | null };
      const shift = makeShift(b.staff_id, b.date, b.definition_id, { note: b.note ?? null });
      const clashes = overlapping(state, shift);
      if (clashes.length > 0) return overlapRefusal(shift, clashes);
      state.shifts.push(shift);
      const week = rotaOf(state, GEN, WEEK, addDays(WEEK, 6));
      return json(201, { shift, warnings: week.warnings.filter((w) => w.staff_id === b.staff_id) });
    }
    const one = /^\/api\/staff\/shifts\/([^/]+)$/.exec(p);
    if (one && req.method === "PATCH") {
      const old = state.shifts.find((s) => s.id === one[1]);
      if (!old) return err(404, "shift_not_found", "Shift not found");
      const b = body as { staff_id?: string; date?: string; definition_id?: string };
      const moved = makeShift(b.staff_id ?? old.staff_id, b.date ?? old.date, b.definition_id ?? old.definition_id!, {
        id: old.id,
      });
      const clashes = overlapping(state, moved, old.id);
      if (clashes.length > 0) return overlapRefusal(moved, clashes);
      state.shifts = state.shifts.map((s) => (s.id === old.id ? moved : s));
      return json(200, { shift: moved, warnings: [] });
    }
    if (one && req.method === "DELETE") {
      state.shifts = state.shifts.filter((s) => s.id !== one[1]);
      return new Response(null, { status: 204 });
    }
    if (req.method === "POST" && p === "/api/staff/rota/week") {
      const b = body as { shifts: { staff_id: string; date: string; definition_id: string }[]; replace: boolean; week_start: string };
      const created = b.shifts.map((s) => makeShift(s.staff_id, s.date, s.definition_id));
      const end = addDays(b.week_start, 6);
      const removed = b.replace ? state.shifts.filter((s) => s.date >= b.week_start && s.date <= end) : [];
      state.shifts = state.shifts.filter((s) => !removed.includes(s)).concat(created);
      return json(201, { created, removed: removed.map((s) => s.id), warnings: [] });
    }
    if (req.method === "POST" && p === "/api/staff/leave") {
      const b = body as { staff_id: string; start_date: string; end_date: string; kind: Leave["kind"] };
      const leave = makeLeave(b.staff_id, b.start_date, b.end_date, { kind: b.kind });
      state.leave.push(leave);
      return json(201, { leave, cancelled_shifts: [], warnings: [] });
    }
    if (req.method === "GET" && p === "/api/staff/licences/expiring") {
      return json(200, { as_of: "2026-01-05", days: Number(q.get("days")), items: [] });
    }
    const rec = /^\/api\/staff\/([^/]+)(\/.*)?$/.exec(p);
    if (rec) {
      const who = state.staff.find((s) => s.id === rec[1]);
      if (!who) return err(404, "staff_not_found", "Staff member not found");
      const rest = rec[2] ?? "";
      if (req.method === "GET" && rest === "") return json(200, makeDetail(who));
      if (req.method === "GET" && rest === "/schedule") {
        return json(200, { staff_id: who.id, start: q.get("start"), end: q.get("end"), timezone: "Europe/London", shifts: [], leave: [] });
      }
      if (rest === "/calendar-feed") {
        if (req.method === "GET") return json(200, { active: feedActive, created_at: feedActive ? T : null, last_read_at: null });
        if (req.method === "POST") {
          feedActive = true;
          return json(201, {
            url: "http://hub.test/api/staff/calendar-feeds/secret-token-1234567890.ics",
            path: "/api/staff/calendar-feeds/secret-token-1234567890.ics",
            token: "secret-token-1234567890",
            created_at: T,
          });
        }
        if (req.method === "DELETE") {
          feedActive = false;
          return new Response(null, { status: 204 });
        }
      }
      if (req.method === "POST" && rest === "/licences") {
        const q2 = { id: "q-new", ...(body as object) } as StaffMember["qualifications"][number];
        who.qualifications = [...who.qualifications, q2];
        return json(201, q2);
      }
    }
    return null;
  };
  return { routes, calls, state };
}
