// Facility time, without a date library. The API answers every instant twice: in UTC (`start`)
// and on the facility's clock (`local_start`, ISO 8601 with its offset, e.g.
// "2026-03-29T09:00:00+01:00"). Screens show the wall-clock part of `local_start` as it is, so
// "09:00" is 09:00 in the facility whatever the viewer's own zone or the season; arithmetic on
// instants is only needed to turn a facility-local day into the UTC window of a query.
import type { Slot } from "./types";

/** app/config.py's default; every answer carries the real one (`timezone`). */
export const DEFAULT_ZONE = "Europe/London";

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function parts(iso: string): RegExpExecArray {
  const m = LOCAL.exec(iso);
  if (!m) throw new Error(`not a local ISO datetime: ${iso}`);
  return m;
}

/** "2026-12-04" — the facility-local day of a `local_start`. */
export function localDate(local: string): string {
  const m = parts(local);
  return `${m[1]}-${m[2]}-${m[3]}`;
}

/** "09:00" — the facility wall-clock time of a `local_start` (24-hour, as clinics write it). */
export function localTime(local: string): string {
  const m = parts(local);
  return `${m[4]}:${m[5]}`;
}

/** Minutes since the facility-local midnight, for placing a block on a calendar. */
export function minutesOfDay(local: string): number {
  const m = parts(local);
  return Number(m[4]) * 60 + Number(m[5]);
}

function dateParts(date: string): [number, number, number] {
  const m = DATE.exec(date);
  if (!m) throw new Error(`not an ISO date: ${date}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Calendar arithmetic on plain dates (no zone involved). */
export function addDays(date: string, days: number): string {
  const [y, m, d] = dateParts(date);
  return isoDate(Date.UTC(y, m - 1, d + days));
}

/** 0 Monday .. 6 Sunday, like the API's weekly hours. */
export function weekday(date: string): number {
  const [y, m, d] = dateParts(date);
  return (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7;
}

/** The Monday on or before `date`. */
export function weekStart(date: string): string {
  return addDays(date, -weekday(date));
}

export function daysFrom(start: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => addDays(start, i));
}

const wallClock = new Map<string, Intl.DateTimeFormat>();

function wallClockFormat(zone: string): Intl.DateTimeFormat {
  let fmt = wallClock.get(zone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    wallClock.set(zone, fmt);
  }
  return fmt;
}

/** The zone's offset from UTC at an instant, in minutes (60 for London in summer). */
export function offsetMinutes(instant: Date, zone: string): number {
  const got: Record<string, number> = {};
  for (const p of wallClockFormat(zone).formatToParts(instant)) {
    if (p.type !== "literal") got[p.type] = Number(p.value);
  }
  const asUtc = Date.UTC(got.year!, got.month! - 1, got.day!, got.hour! % 24, got.minute!, got.second!);
  return Math.round((asUtc - Math.floor(instant.getTime() / 1000) * 1000) / 60_000);
}

/** The facility-local day of an instant. */
export function dateInZone(instant: Date, zone: string): string {
  return isoDate(instant.getTime() + offsetMinutes(instant, zone) * 60_000);
}

export function todayInZone(zone: string, now: Date = new Date()): string {
  return dateInZone(now, zone);
}

/**
 * The UTC instant of a facility-local wall-clock time. Two passes settle the offset, so times on
 * the days the clocks change (23 or 25 hours long) come out right too.
 */
export function atLocal(date: string, time: string, zone: string): Date {
  const [y, m, d] = dateParts(date);
  const t = /^(\d{2}):(\d{2})$/.exec(time);
  if (!t) throw new Error(`not a wall-clock time: ${time}`);
  const wall = Date.UTC(y, m - 1, d, Number(t[1]), Number(t[2]));
  let at = wall - offsetMinutes(new Date(wall), zone) * 60_000;
  at = wall - offsetMinutes(new Date(at), zone) * 60_000;
  return new Date(at);
}

/** The UTC instant at which a facility-local day begins. */
export function startOfDay(date: string, zone: string): Date {
  return atLocal(date, "00:00", zone);
}

/** An instant as the API writes `local_start`: "2026-03-29T09:00:00+01:00". */
export function toLocalIso(instant: Date, zone: string): string {
  const offset = offsetMinutes(instant, zone);
  const wall = new Date(Math.floor(instant.getTime() / 1000) * 1000 + offset * 60_000).toISOString().slice(0, 19);
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return `${wall}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

/** [start of `first`, start of the day after `last`) as UTC ISO strings, for list/slot queries. */
export function dayWindow(first: string, last: string, zone: string): { start: string; end: string } {
  return {
    start: startOfDay(first, zone).toISOString(),
    end: startOfDay(addDays(last, 1), zone).toISOString(),
  };
}

/** "GMT", "BST", "CET" — the short name of the zone at an instant (en-GB names the UK's seasons). */
export function zoneAbbreviation(zone: string, instant: Date = new Date()): string {
  try {
    const part = new Intl.DateTimeFormat("en-GB", { timeZone: zone, timeZoneName: "short" })
      .formatToParts(instant)
      .find((p) => p.type === "timeZoneName");
    return part?.value ?? zone;
  } catch {
    return zone;
  }
}

/** "Europe/London (GMT)" — shown beside every list of times. */
export function zoneLabel(zone: string, instant: Date = new Date()): string {
  const short = zoneAbbreviation(zone, instant);
  return short && short !== zone ? `${zone} (${short})` : zone;
}

function plainDate(date: string): Date {
  const [y, m, d] = dateParts(date);
  return new Date(Date.UTC(y, m - 1, d));
}

/** "Friday 4 December" (the locale decides the order); the year is added when it is not `thisYear`. */
export function formatDayLong(date: string, locale?: string, thisYear?: number): string {
  const day = plainDate(date);
  return day.toLocaleDateString(locale, {
    weekday: "long",
    day: "numeric",
    month: "long",
    ...(thisYear !== undefined && day.getUTCFullYear() !== thisYear ? { year: "numeric" } : {}),
    timeZone: "UTC",
  });
}

/** "Fri 4 Dec" — for day tabs and calendar columns. */
export function formatDayShort(date: string, locale?: string): string {
  return plainDate(date).toLocaleDateString(locale, {
    weekday: "short",
    day: "numeric",
    month: "short",
    timeZone: "UTC",
  });
}

/** "Fri 4 Dec 2026, 09:00–09:15" from the facility-local start and end. */
export function formatVisit(localStart: string, localEnd: string, locale?: string): string {
  const day = plainDate(localDate(localStart)).toLocaleDateString(locale, {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    timeZone: "UTC",
  });
  return `${day}, ${localTime(localStart)}–${localTime(localEnd)}`;
}

export interface SlotDay {
  date: string;
  slots: Slot[];
}

/**
 * Free slots grouped by facility-local day, in the order the API sent them (start, then
 * clinician). `days`, when given, lists every day of the window, empty ones included.
 */
export function groupSlotsByDay(slots: readonly Slot[], days?: readonly string[]): SlotDay[] {
  const byDay = new Map<string, Slot[]>();
  for (const day of days ?? []) byDay.set(day, []);
  for (const slot of slots) {
    const day = localDate(slot.local_start);
    const list = byDay.get(day);
    if (list) list.push(slot);
    else if (!days) byDay.set(day, [slot]);
  }
  return [...byDay.entries()].map(([date, list]) => ({ date, slots: list }));
}

/** One day's slots by clinician (first-appearance order), for a day offered by several people. */
export function groupByClinician(slots: readonly Slot[]): { staffId: string; name: string; slots: Slot[] }[] {
  const groups = new Map<string, { staffId: string; name: string; slots: Slot[] }>();
  for (const slot of slots) {
    let group = groups.get(slot.staff_id);
    if (!group) {
      group = { staffId: slot.staff_id, name: slot.staff_name, slots: [] };
      groups.set(slot.staff_id, group);
    }
    group.slots.push(slot);
  }
  return [...groups.values()];
}

/** Slots of one page appended to the ones before, without repeats (a stable key per slot). */
export function slotKey(slot: Pick<Slot, "start" | "staff_id">): string {
  return `${slot.staff_id}|${new Date(slot.start).toISOString()}`;
}

export function mergeSlots(before: readonly Slot[], page: readonly Slot[]): Slot[] {
  const seen = new Set(before.map(slotKey));
  return [...before, ...page.filter((s) => !seen.has(slotKey(s)))];
}
