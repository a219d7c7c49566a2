// A staff member's licence state, from the licences on their record, the way the rota and the
// booking checks read them: a licence covers the days from valid_from to valid_to (both inclusive,
// either open); a clinician needs one that covers the day.
import { daysBetween } from "./dates";
import type { Qualification } from "./types";

/** Licences ending within this many days are flagged in the directory and on the record. */
export const EXPIRING_WARN_DAYS = 30;

export type LicenceState =
  | { kind: "valid"; validTo: string | null; daysLeft: number | null }
  | { kind: "expiring"; validTo: string; daysLeft: number }
  | { kind: "expired"; validTo: string | null; daysAgo: number | null }
  | { kind: "none" };

type Period = Pick<Qualification, "valid_from" | "valid_to">;

export function covers(q: Period, day: string): boolean {
  return (!q.valid_from || q.valid_from <= day) && (!q.valid_to || day <= q.valid_to);
}

export function licencesOf(qualifications: readonly Qualification[]): Qualification[] {
  return qualifications.filter((q) => q.kind === "licence");
}

/**
 * The state on `today` (the facility's date). With several licences, the one that reaches
 * furthest counts; chained licences (one starts the day after another ends) count as one.
 */
export function licenceState(
  qualifications: readonly Qualification[],
  today: string,
  warnDays: number = EXPIRING_WARN_DAYS,
): LicenceState {
  const licences = licencesOf(qualifications);
  if (licences.length === 0) return { kind: "none" };
  if (!licences.some((q) => covers(q, today))) {
    const ended = licences
      .map((q) => q.valid_to)
      .filter((d): d is string => !!d && d < today)
      .sort();
    const last = ended.length > 0 ? ended[ended.length - 1]! : null;
    return { kind: "expired", validTo: last, daysAgo: last ? daysBetween(last, today) : null };
  }
  // Follow the chain from today: each step jumps to the furthest end among licences covering it.
  let day = today;
  for (let guard = 0; guard < licences.length + 1; guard += 1) {
    const covering = licences.filter((q) => covers(q, day));
    if (covering.some((q) => !q.valid_to)) return { kind: "valid", validTo: null, daysLeft: null };
    const end = covering.map((q) => q.valid_to!).sort()[covering.length - 1]!;
    const next = addOne(end);
    if (!licences.some((q) => covers(q, next))) {
      const daysLeft = daysBetween(today, end);
      return daysLeft <= warnDays ? { kind: "expiring", validTo: end, daysLeft } : { kind: "valid", validTo: end, daysLeft };
    }
    day = next;
  }
  return { kind: "valid", validTo: null, daysLeft: null };
}

function addOne(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

/** The words on a badge: "Licence expired", "Licence expires in 12 days", … */
export function licenceBadgeText(state: LicenceState): string {
  switch (state.kind) {
    case "expired":
      return state.validTo ? "Licence expired" : "No valid licence";
    case "expiring":
      if (state.daysLeft === 0) return "Licence expires today";
      return `Licence expires in ${state.daysLeft} day${state.daysLeft === 1 ? "" : "s"}`;
    case "valid":
      return "Licence valid";
    case "none":
      return "No licence";
  }
}

/** "Expired 3 days ago" / "Expires in 12 days" / "Expires today", for the report. */
export function daysLeftText(daysLeft: number): string {
  if (daysLeft < 0) return `Expired ${-daysLeft} day${daysLeft === -1 ? "" : "s"} ago`;
  if (daysLeft === 0) return "Expires today";
  return `Expires in ${daysLeft} day${daysLeft === 1 ? "" : "s"}`;
}

/** "GMC registration · GMC-7012345" */
export function licenceTitle(q: Pick<Qualification, "code" | "number">): string {
  const type = q.code?.display || q.code?.code || null;
  return [type, q.number].filter(Boolean).join(" · ") || "Licence";
}
