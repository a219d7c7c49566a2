// Calendar days as ISO strings ("2026-03-02") and wall-clock times in the facility's zone.
//
// Rota days are facility-local days, not instants: they are kept as strings and stepped with UTC
// arithmetic, so the viewer's own zone (and its clock changes) can never move a day.

/** Until the API has told us (the rota and schedules report it), the facility's default zone. */
export const DEFAULT_TIMEZONE = "Europe/London";

let knownTimezone: string | null = null;

/** Remember the zone an API answer named, for screens whose endpoints do not report it. */
export function rememberTimezone(timeZone: string | null | undefined): void {
  if (timeZone) knownTimezone = timeZone;
}

/** The facility's zone as last reported by the API, else the default. */
export function facilityTimezone(): string {
  return knownTimezone ?? DEFAULT_TIMEZONE;
}

const ISO_DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

function parse(day: string): Date {
  const m = ISO_DAY.exec(day.slice(0, 10));
  if (!m) throw new Error(`not an ISO day: ${day}`);
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
}

function iso(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function isIsoDay(value: string | null | undefined): value is string {
  if (!value || !ISO_DAY.test(value)) return false;
  return iso(parse(value)) === value; // rejects 2026-02-30
}

export function addDays(day: string, n: number): string {
  const d = parse(day);
  d.setUTCDate(d.getUTCDate() + n);
  return iso(d);
}

/** Whole days from `a` to `b` (negative when b is earlier). */
export function daysBetween(a: string, b: string): number {
  return Math.round((parse(b).getTime() - parse(a).getTime()) / 86_400_000);
}

/** Monday of the ISO week holding `day` (as the API's week_start). */
export function mondayOf(day: string): string {
  const weekday = (parse(day).getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  return addDays(day, -weekday);
}

export function weekDays(monday: string): string[] {
  return Array.from({ length: 7 }, (_, i) => addDays(monday, i));
}

/** Today's date in `timeZone` (the facility's), whatever the viewer's own zone. */
export function todayIn(timeZone: string = facilityTimezone(), now: Date = new Date()): string {
  try {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    }).formatToParts(now);
    const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
    return `${get("year")}-${get("month")}-${get("day")}`;
  } catch {
    return now.toISOString().slice(0, 10);
  }
}

// Labels are spelled out here rather than through toLocaleDateString: ICU builds differ in
// punctuation ("Saturday, 10 January" vs "Saturday 10 January"), and the rota reads the same
// everywhere.
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

function partsOf(day: string) {
  const d = parse(day);
  return { weekday: WEEKDAYS[d.getUTCDay()]!, day: d.getUTCDate(), month: MONTHS[d.getUTCMonth()]!, year: d.getUTCFullYear() };
}

/** "Mon 2 Mar" */
export function dayLabel(day: string): string {
  const p = partsOf(day);
  return `${p.weekday.slice(0, 3)} ${p.day} ${p.month.slice(0, 3)}`;
}

/** "Monday 2 March 2026" — for screen readers and choices. */
export function longDayLabel(day: string): string {
  const p = partsOf(day);
  return `${p.weekday} ${p.day} ${p.month} ${p.year}`;
}

/** "2 Mar – 8 Mar 2026" */
export function weekLabel(monday: string): string {
  const a = partsOf(monday);
  const b = partsOf(addDays(monday, 6));
  return `${a.day} ${a.month.slice(0, 3)} – ${b.day} ${b.month.slice(0, 3)} ${b.year}`;
}

/** "12 Mar 2026" */
export function shortDate(day: string | null | undefined): string {
  if (!day) return "—";
  if (!ISO_DAY.test(day.slice(0, 10))) return day;
  const p = partsOf(day);
  return `${p.day} ${p.month.slice(0, 3)} ${p.year}`;
}

/**
 * "07:00" from a facility-local ISO datetime the API sends with its offset
 * ("2026-03-29T07:00:00+01:00"): the wall-clock part is already the facility's, so it is read as
 * written, never through the viewer's zone.
 */
export function wallClock(localIso: string): string {
  const m = /T(\d{2}):(\d{2})/.exec(localIso);
  return m ? `${m[1]}:${m[2]}` : localIso;
}

/** The facility-local day part of such a datetime. */
export function wallDay(localIso: string): string {
  return localIso.slice(0, 10);
}

/** An instant (UTC ISO) as wall-clock time and day in `timeZone`. */
export function zonedParts(instant: string, timeZone: string): { day: string; time: string } {
  const date = new Date(instant);
  if (Number.isNaN(date.getTime())) return { day: instant.slice(0, 10), time: "" };
  try {
    const parts = new Intl.DateTimeFormat("en-GB", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).formatToParts(date);
    const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
    return { day: `${get("year")}-${get("month")}-${get("day")}`, time: `${get("hour")}:${get("minute")}` };
  } catch {
    return { day: instant.slice(0, 10), time: instant.slice(11, 16) };
  }
}

/** "Mon 2 Mar 07:00" for an instant, in the facility's zone. */
export function zonedLabel(instant: string, timeZone: string): string {
  const { day, time } = zonedParts(instant, timeZone);
  return isIsoDay(day) ? `${dayLabel(day)} ${time}` : instant;
}

/** "8 h" or "7.5 h" */
export function hoursLabel(hours: number): string {
  const rounded = Math.round(hours * 100) / 100;
  return `${rounded} h`;
}
