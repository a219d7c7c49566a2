import { useEffect, useId, useState, type ReactNode } from "react";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { useLoad } from "../patients/hooks";
import { searchSlots } from "./api";
import {
  addDays,
  daysFrom,
  dayWindow,
  DEFAULT_ZONE,
  formatDayLong,
  formatDayShort,
  groupByClinician,
  groupSlotsByDay,
  localTime,
  mergeSlots,
  slotKey,
  todayInZone,
  zoneLabel,
} from "./time";
import type { Slot } from "./types";
import "./appointments.css";

export const WINDOW_DAYS = 7;
/** The API's largest page; a clinician's week fits in one or two. */
export const SLOT_PAGE_SIZE = 200;
/** Pages fetched per week at most (a whole department's week of short visits). */
export const MAX_SLOT_PAGES = 5;
/** How far ahead the picker pages (weeks). */
export const MAX_WEEKS_AHEAD = 26;

export interface SlotPickerProps {
  typeId: string | null;
  staffId?: string | null;
  departmentId?: string | null;
  selected: Slot | null;
  onSelect: (slot: Slot | null) => void;
  /** Bump to reload (e.g. after a booking was refused because the time was taken). */
  refreshKey?: number;
  /** Every slot loaded so far, for callers that list the clinicians on offer. */
  onLoaded?: (slots: Slot[], timezone: string) => void;
  /** Shown under "No free times" (e.g. the waitlist). */
  whenEmpty?: ReactNode;
  label?: string;
}

interface Loaded {
  slots: Slot[];
  timezone: string;
  /** True when the week had more free times than MAX_SLOT_PAGES pages. */
  more: boolean;
}

/**
 * Free slots of one appointment type, a week at a time, by facility-local day. Each week is read
 * through the API's cursor pages; times are the facility's wall clock, with the zone shown.
 */
export function SlotPicker({
  typeId,
  staffId = null,
  departmentId = null,
  selected,
  onSelect,
  refreshKey = 0,
  onLoaded,
  whenEmpty,
  label = "Free times",
}: SlotPickerProps) {
  const { api } = useAuth();
  const id = useId();
  const [zone, setZone] = useState(DEFAULT_ZONE);
  const today = todayInZone(zone);
  const [windowStart, setWindowStart] = useState(today);
  const [day, setDay] = useState<string | null>(null);
  const last = addDays(windowStart, WINDOW_DAYS - 1);

  const result = useLoad<Loaded>(
    async (signal) => {
      const { start, end } = dayWindow(windowStart, last, zone);
      let slots: Slot[] = [];
      let cursor: string | null = null;
      let timezone = zone;
      for (let page = 0; page < MAX_SLOT_PAGES; page++) {
        const answer = await searchSlots(
          api,
          { typeId: typeId!, staffId, departmentId, start, end, limit: SLOT_PAGE_SIZE, cursor },
          signal,
        );
        slots = mergeSlots(slots, answer.items);
        timezone = answer.timezone;
        cursor = answer.next_cursor;
        if (!cursor) break;
      }
      return { slots, timezone, more: cursor !== null };
    },
    [api, typeId, staffId, departmentId, windowStart, zone, refreshKey],
    typeId !== null,
  );

  const data = result.status === "ready" ? result.data : null;
  useEffect(() => {
    if (!data) return;
    if (data.timezone !== zone) setZone(data.timezone);
    onLoaded?.(data.slots, data.timezone);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [data]);

  // A new search (other type or clinician) starts again this week, nothing chosen.
  useEffect(() => {
    setWindowStart(todayInZone(zone));
    setDay(null);
  }, [typeId, staffId, departmentId, zone]);

  if (typeId === null) return null;

  const days = daysFrom(windowStart, WINDOW_DAYS);
  const slots = result.data?.slots ?? [];
  const byDay = groupSlotsByDay(slots, days);
  const withSlots = byDay.filter((d) => d.slots.length > 0);
  const current =
    byDay.find((d) => d.date === day && d.slots.length > 0) ?? withSlots[0] ?? { date: windowStart, slots: [] };
  const clinicians = groupByClinician(current.slots);
  const loading = result.status === "loading";
  const thisYear = Number(today.slice(0, 4));
  const maxStart = addDays(today, MAX_WEEKS_AHEAD * 7);

  const move = (weeks: number) => {
    const next = addDays(windowStart, weeks * WINDOW_DAYS);
    setWindowStart(next < today ? today : next);
    setDay(null);
    onSelect(null);
  };

  let status: string;
  if (loading) status = "Finding free times…";
  else if (result.status === "error") status = "";
  else if (slots.length === 0) status = "No free times in these seven days.";
  else status = `${slots.length}${result.data?.more ? "+" : ""} free time${slots.length === 1 ? "" : "s"} in these seven days.`;

  return (
    <section className="slot-picker" aria-labelledby={`${id}-title`} aria-busy={loading}>
      <div className="slot-toolbar">
        <button
          type="button"
          className="button button-quiet button-small"
          onClick={() => move(-1)}
          disabled={windowStart <= today || loading}
        >
          ‹ Earlier
        </button>
        <h3 id={`${id}-title`} className="slot-range">
          <span className="visually-hidden">{label}: </span>
          {formatDayShort(windowStart)} – {formatDayShort(last)}
        </h3>
        <button
          type="button"
          className="button button-quiet button-small"
          onClick={() => move(1)}
          disabled={windowStart >= maxStart || loading}
        >
          Later ›
        </button>
        <span className="zone-note">
          Times in <strong>{zoneLabel(zone)}</strong>
        </span>
      </div>

      <p className="search-status" role="status" aria-live="polite">
        {loading && <span className="spinner spinner-small" aria-hidden="true" />}
        {status}
      </p>
      {result.status === "error" && (
        <div className="form-error" role="alert">
          {describeError(result.error)}{" "}
          <button type="button" className="link-button" onClick={result.reload}>
            Try again
          </button>
        </div>
      )}

      <div className="day-strip" role="group" aria-label="Days">
        {byDay.map((d) => {
          const count = d.slots.length;
          return (
            <button
              key={d.date}
              type="button"
              className="day-tab"
              aria-pressed={d.date === current.date && count > 0}
              aria-label={`${formatDayLong(d.date, undefined, thisYear)}: ${count === 0 ? "no free times" : `${count} free`}`}
              disabled={count === 0}
              onClick={() => {
                setDay(d.date);
                if (selected && !d.slots.some((s) => slotKey(s) === slotKey(selected))) onSelect(null);
              }}
            >
              <span className="day-tab-name">{formatDayShort(d.date)}</span>
              <span className="day-tab-count">{count === 0 ? "—" : `${count} free`}</span>
            </button>
          );
        })}
      </div>

      {current.slots.length > 0 ? (
        <div className="slot-day" role="group" aria-label={`Free times on ${formatDayLong(current.date, undefined, thisYear)}`}>
          <h4 className="slot-day-title">{formatDayLong(current.date, undefined, thisYear)}</h4>
          {clinicians.map((group) => (
            <div key={group.staffId} className="slot-group">
              {clinicians.length > 1 || !staffId ? <p className="slot-clinician">{group.name}</p> : null}
              <ul className="slot-grid">
                {group.slots.map((slot) => {
                  const chosen = selected !== null && slotKey(selected) === slotKey(slot);
                  return (
                    <li key={slotKey(slot)}>
                      <button
                        type="button"
                        className="slot"
                        aria-pressed={chosen}
                        aria-label={`${localTime(slot.local_start)} with ${slot.staff_name}, ${formatDayLong(current.date, undefined, thisYear)}`}
                        onClick={() => onSelect(chosen ? null : slot)}
                      >
                        {localTime(slot.local_start)}
                      </button>
                    </li>
                  );
                })}
              </ul>
            </div>
          ))}
          {result.data?.more && (
            <p className="hint">Showing the first {slots.length} free times of this week; narrow the search to see the rest.</p>
          )}
        </div>
      ) : (
        !loading &&
        result.status !== "error" && (
          <div className="empty slot-empty">
            <p>Nothing free in these seven days. Try later dates{whenEmpty ? ", or:" : "."}</p>
            {whenEmpty}
          </div>
        )
      )}
    </section>
  );
}
