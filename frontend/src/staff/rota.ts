// The rota grid's logic, free of React: rows of people, a cell per day, the shifts and leave in
// each cell, weekly hours, the rule violations the API answers with, and "copy last week".
import { ApiError } from "../api/errors";
import { addDays, dayLabel, daysBetween, wallClock, wallDay, zonedLabel, zonedParts } from "./dates";
import type { AppointmentsWarning, Leave, LeaveKind, Rota, RotaShift, RotaStaff, RotaWarning, Shift } from "./types";

export interface RotaCell {
  staffId: string;
  day: string;
  shifts: Shift[];
  leave: Leave[];
}

export interface RotaRow {
  person: RotaStaff;
  cells: RotaCell[];
  /** Hours rostered in the week of the grid's first day (every department counts). */
  hours: number;
  overLimit: boolean;
}

export interface RotaGridModel {
  days: string[];
  rows: RotaRow[];
  timezone: string;
  limit: number;
}

export function cellKey(staffId: string, day: string): string {
  return `${staffId}|${day}`;
}

/** Rows in the API's order (by name), one cell per day, shifts in each cell by start time. */
export function buildGrid(rota: Rota): RotaGridModel {
  const days = rota.days.map((d) => d.date);
  const cells = new Map<string, RotaCell>();
  for (const person of rota.staff) {
    for (const day of days) cells.set(cellKey(person.id, day), { staffId: person.id, day, shifts: [], leave: [] });
  }
  for (const day of rota.days) {
    for (const shift of day.shifts) cells.get(cellKey(shift.staff_id, day.date))?.shifts.push(shift);
    for (const leave of day.leave) cells.get(cellKey(leave.staff_id, day.date))?.leave.push(leave);
  }
  for (const cell of cells.values()) cell.shifts.sort((a, b) => a.starts_at.localeCompare(b.starts_at));
  const week = days[0] ?? rota.start;
  const rows = rota.staff.map((person) => {
    const hours = person.weekly_hours[week] ?? 0;
    return {
      person,
      cells: days.map((day) => cells.get(cellKey(person.id, day))!),
      hours,
      overLimit: hours > rota.weekly_hours_warning,
    };
  });
  return { days, rows, timezone: rota.timezone, limit: rota.weekly_hours_warning };
}

/** "07:00–15:00", "22:00–07:30 (+1)" for a shift ending on a later facility-local day. */
export function shiftTimes(shift: Pick<Shift, "local_start" | "local_end">): string {
  const start = wallClock(shift.local_start);
  const end = wallClock(shift.local_end);
  const over = daysBetween(wallDay(shift.local_start), wallDay(shift.local_end));
  return `${start}–${end}${over > 0 ? ` (+${over})` : ""}`;
}

export function shiftTitle(shift: Pick<Shift, "definition_name">): string {
  return shift.definition_name ?? "Shift";
}

const LEAVE_LABELS: Record<LeaveKind, string> = {
  annual: "Annual leave",
  sick: "Sick leave",
  training: "Training",
  unavailable: "Unavailable",
};

export const LEAVE_KINDS = Object.keys(LEAVE_LABELS) as LeaveKind[];

export function leaveLabel(kind: string): string {
  return LEAVE_LABELS[kind as LeaveKind] ?? kind;
}

/** What a leave entry means for one day of the grid: all day, or from/until a time. */
export function leaveOnDay(leave: Leave, day: string, timezone: string): string {
  const label = leaveLabel(leave.kind);
  if (leave.all_day) return label;
  const from = zonedParts(leave.starts_at, timezone);
  const until = zonedParts(leave.ends_at, timezone);
  const startsToday = from.day === day;
  const endsToday = until.day === day && until.time !== "00:00";
  if (startsToday && endsToday) return `${label} ${from.time}–${until.time}`;
  if (startsToday) return `${label} from ${from.time}`;
  if (endsToday) return `${label} until ${until.time}`;
  return label;
}

// --- rule violations ----------------------------------------------------------------------------

export interface ConflictRef {
  kind: string;
  start: string;
  end: string;
  label?: string;
  id?: string;
}

export interface Violation {
  code: string;
  message: string;
  conflictsWith: ConflictRef[];
  minRestHours?: number;
  days?: string[];
}

/** The rules the API enforces on every rota change, as a person reads them. */
const VIOLATION_TITLES: Record<string, string> = {
  shift_overlap: "Overlapping shift",
  insufficient_rest: "Not enough rest between shifts",
  on_leave: "On leave or unavailable",
  licence_expired: "No valid licence",
  staff_inactive: "Not an active staff member",
  invalid_shift: "Invalid shift times",
  staff_not_found: "Staff member not found",
  definition_not_found: "Shift definition not found",
  definition_inactive: "Shift definition no longer in use",
  outside_week: "Outside the week",
  department_inactive: "Department not active",
  shift_during_leave: "Shifts during the leave",
  concurrent_change: "Changed by someone else at the same time",
  nonexistent_local_time: "Time skipped by the clock change",
};

export const RULE_CODES = ["shift_overlap", "insufficient_rest", "on_leave", "licence_expired"] as const;

export function violationTitle(code: string): string {
  return VIOLATION_TITLES[code] ?? code.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function parseViolation(value: unknown): Violation | null {
  const v = asRecord(value);
  if (!v || typeof v.code !== "string") return null;
  const refs = Array.isArray(v.conflicts_with) ? v.conflicts_with : [];
  return {
    code: v.code,
    message: typeof v.message === "string" ? v.message : violationTitle(v.code),
    conflictsWith: refs
      .map(asRecord)
      .filter((r): r is Record<string, unknown> => r !== null && typeof r.start === "string" && typeof r.end === "string")
      .map((r) => ({
        kind: typeof r.kind === "string" ? r.kind : "shift",
        start: r.start as string,
        end: r.end as string,
        label: typeof r.label === "string" ? r.label : undefined,
        id: typeof r.id === "string" ? r.id : undefined,
      })),
    minRestHours: typeof v.min_rest_hours === "number" ? v.min_rest_hours : undefined,
    days: Array.isArray(v.days) ? v.days.filter((d): d is string => typeof d === "string") : undefined,
  };
}

/**
 * The rules a refused shift (create, move, change: 409) broke, or null when the error is not a
 * rule refusal. The API sends every broken rule in `details.violations`, the first one's code as
 * the error's code.
 */
export function violationsOf(err: unknown): Violation[] | null {
  if (!(err instanceof ApiError) || err.status !== 409) return null;
  const details = asRecord(err.details);
  const list = details && Array.isArray(details.violations) ? details.violations : null;
  if (list) {
    const parsed = list.map(parseViolation).filter((v): v is Violation => v !== null);
    if (parsed.length > 0) return parsed;
  }
  if (err.code in VIOLATION_TITLES && err.code !== "shift_during_leave") {
    return [{ code: err.code, message: err.message, conflictsWith: [] }];
  }
  return null;
}

/** The violations of a rota check (POST .../check: 200 with the rules a write would break). */
export function checkedViolations(check: { ok: boolean; violations: unknown[] }): Violation[] {
  if (check.ok) return [];
  return check.violations.map(parseViolation).filter((v): v is Violation => v !== null);
}

export interface WeekItemProblem {
  index: number;
  staffId: string;
  day: string;
  violations: Violation[];
}

/** A bulk week refused with 409 rota_violations: the broken rules per shift of the request. */
export function weekProblemsOf(err: unknown): WeekItemProblem[] | null {
  if (!(err instanceof ApiError) || err.status !== 409 || err.code !== "rota_violations") return null;
  const details = asRecord(err.details);
  if (!details || !Array.isArray(details.items)) return null;
  return details.items
    .map(asRecord)
    .filter((i): i is Record<string, unknown> => i !== null)
    .map((i) => ({
      index: typeof i.index === "number" ? i.index : -1,
      staffId: typeof i.staff_id === "string" ? i.staff_id : "",
      day: typeof i.date === "string" ? i.date : "",
      violations: (Array.isArray(i.violations) ? i.violations : [])
        .map(parseViolation)
        .filter((v): v is Violation => v !== null),
    }));
}

/** "Early · Mon 2 Mar 07:00 – Mon 2 Mar 15:00", in the facility's zone. */
export function describeConflict(ref: ConflictRef, timezone: string): string {
  const what = ref.kind === "shift" ? (ref.label ?? "Shift") : leaveLabel(ref.kind);
  const start = zonedParts(ref.start, timezone);
  const end = zonedParts(ref.end, timezone);
  const until = start.day === end.day ? end.time : zonedLabel(ref.end, timezone);
  return `${what}: ${zonedLabel(ref.start, timezone)}–${until}`;
}

export interface ShiftDuringLeave {
  id: string;
  day: string;
}

/** Leave refused because the person works shifts in it (409 shift_during_leave). */
export function shiftsDuringLeaveOf(err: unknown): ShiftDuringLeave[] | null {
  if (!(err instanceof ApiError) || err.status !== 409 || err.code !== "shift_during_leave") return null;
  const details = asRecord(err.details);
  const shifts = details && Array.isArray(details.shifts) ? details.shifts : [];
  return shifts
    .map(asRecord)
    .filter((s): s is Record<string, unknown> => s !== null)
    .map((s) => ({ id: String(s.id ?? ""), day: typeof s.date === "string" ? s.date : "" }));
}

// --- booked appointments a leave or licence change would strand ---------------------------------

export type StrandingCode = "appointments_during_leave" | "appointments_without_licence";

export interface BookedAppointment {
  id: string;
  /** Facility-local ISO datetime with its offset, as the API sends it. */
  localStart: string;
  type: string | null;
}

export interface StrandedAppointments {
  total: number;
  appointments: BookedAppointment[];
}

function parseBooked(list: unknown, total: unknown): StrandedAppointments {
  const appointments = (Array.isArray(list) ? list : [])
    .map(asRecord)
    .filter((a): a is Record<string, unknown> => a !== null && typeof a.id === "string" && typeof a.local_start === "string")
    .map((a) => ({ id: a.id as string, localStart: a.local_start as string, type: typeof a.type === "string" ? a.type : null }));
  return { total: typeof total === "number" ? total : appointments.length, appointments };
}

/**
 * A change refused because booked appointments would be left without their clinician (409
 * appointments_during_leave / appointments_without_licence): what is booked, or null for any
 * other error. Repeating the request with `acknowledge_appointments: true` saves it anyway.
 */
export function strandedAppointmentsOf(err: unknown, code: StrandingCode): StrandedAppointments | null {
  if (!(err instanceof ApiError) || err.status !== 409 || err.code !== code) return null;
  const details = asRecord(err.details);
  return parseBooked(details?.appointments, details?.total);
}

/** The appointments a saved (acknowledged) change lists under its warnings, to be rescheduled. */
export function strandedInWarnings(warnings: readonly AppointmentsWarning[] | undefined): StrandedAppointments | null {
  const found = warnings ?? [];
  if (found.length === 0) return null;
  return {
    total: found.reduce((n, w) => n + w.total, 0),
    appointments: found.flatMap((w) => parseBooked(w.appointments, w.total).appointments),
  };
}

/** "Mon 5 Jan 10:00 · GP consultation", read on the facility's clock as the API wrote it. */
export function bookedLabel(a: BookedAppointment): string {
  const when = `${dayLabel(wallDay(a.localStart))} ${wallClock(a.localStart)}`;
  return a.type ? `${when} · ${a.type}` : when;
}

export function appointmentsCount(n: number): string {
  return `${n} appointment${n === 1 ? "" : "s"}`;
}

// --- warnings -----------------------------------------------------------------------------------

/** Only the warnings about weeks shown (the API may add those of a neighbouring week). */
export function warningsFor(warnings: readonly RotaWarning[], weekStart: string): RotaWarning[] {
  return warnings.filter((w) => w.week_start === weekStart);
}

export function warningText(w: RotaWarning, names: ReadonlyMap<string, string>): string {
  const who = names.get(w.staff_id) ?? "This person";
  return `${who} is rostered ${Math.round(w.hours * 100) / 100} hours in the week of ${dayLabel(w.week_start)}, above the ${w.limit}-hour limit.`;
}

// --- copy last week -----------------------------------------------------------------------------

/**
 * Last week's shifts of the department moved seven days on, as a bulk week: shifts from a
 * definition keep the definition; hand-timed ones keep their facility-local wall-clock times.
 */
export function copyWeek(previous: Rota, targetMonday: string): RotaShift[] {
  const out: RotaShift[] = [];
  for (const day of previous.days) {
    const offset = daysBetween(previous.start, day.date);
    if (offset < 0 || offset > 6) continue;
    const date = addDays(targetMonday, offset);
    for (const s of [...day.shifts].sort((a, b) => a.starts_at.localeCompare(b.starts_at))) {
      const item: RotaShift = { staff_id: s.staff_id, date, clinical: s.clinical, note: s.note ?? null };
      if (s.definition_id) item.definition_id = s.definition_id;
      else {
        item.start_time = `${wallClock(s.local_start)}:00`;
        item.end_time = `${wallClock(s.local_end)}:00`;
      }
      out.push(item);
    }
  }
  return out;
}

/** Count shifts of a rota (for "this week already has N shifts"). */
export function shiftCount(rota: Rota): number {
  return rota.days.reduce((n, d) => n + d.shifts.length, 0);
}
