import { useEffect, useRef, useState, type CSSProperties } from "react";
import { Link, useSearchParams } from "react-router";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { Icon } from "../components/Icon";
import { formatDateTime } from "../patients/format";
import { useLoad } from "../patients/hooks";
import { getStaff } from "../staff/api";
import { allAppointments, listClinicians, myStaffRecord } from "./api";
import { AppointmentActions } from "./AppointmentActions";
import { AppointmentSummary } from "./AppointmentSummary";
import { ClinicianPicker, type PickedClinician } from "./ClinicianPicker";
import { STATUS_ORDER, statusLabel } from "./present";
import {
  addDays,
  daysFrom,
  dayWindow,
  DEFAULT_ZONE,
  formatDayLong,
  formatDayShort,
  localDate,
  localTime,
  minutesOfDay,
  todayInZone,
  weekStart,
  zoneLabel,
} from "./time";
import type { Appointment } from "./types";
import "./appointments.css";

export type CalendarView = "day" | "week";

/** Height of one hour on the grid, in pixels: at least this, ... */
export const HOUR_PX = 80;
/** ... more when the shortest visit needs it to show two lines (time, then the patient's name), ... */
export const TWO_LINES_PX = 40;
/** ... but no more than this (shorter visits show one line, with the full text as a tooltip). */
export const MAX_HOUR_PX = 180;
/** Space kept free below each block, so back-to-back visits never touch. */
const GAP_PX = 3;
const DEFAULT_FIRST_HOUR = 8;
const DEFAULT_LAST_HOUR = 18;

export interface Placed {
  appointment: Appointment;
  top: number;
  height: number;
  lane: number;
  lanes: number;
}

/**
 * Blocks of one day column: minutes from the top of the grid, and side-by-side lanes for
 * appointments that overlap (a cancelled visit and the booking that took its place, say).
 */
export function placeDay(items: readonly Appointment[], firstHour: number, hourPx: number = HOUR_PX): Placed[] {
  const sorted = [...items].sort((a, b) => a.start.localeCompare(b.start));
  const placed: Placed[] = [];
  let cluster: Placed[] = [];
  let laneEnds: number[] = [];
  let clusterEnd = 0;
  const closeCluster = () => {
    const lanes = laneEnds.length;
    for (const p of cluster) p.lanes = lanes;
    cluster = [];
    laneEnds = [];
  };
  for (const appointment of sorted) {
    const start = minutesOfDay(appointment.local_start);
    const sameDay = localDate(appointment.local_end) === localDate(appointment.local_start);
    const end = sameDay ? Math.max(start + 5, minutesOfDay(appointment.local_end)) : 24 * 60;
    if (cluster.length > 0 && start >= clusterEnd) closeCluster();
    let lane = laneEnds.findIndex((e) => e <= start);
    if (lane < 0) {
      lane = laneEnds.length;
      laneEnds.push(end);
    } else {
      laneEnds[lane] = end;
    }
    const p: Placed = {
      appointment,
      top: ((start - firstHour * 60) / 60) * hourPx,
      height: Math.max(22, ((end - start) / 60) * hourPx - GAP_PX),
      lane,
      lanes: 1,
    };
    clusterEnd = cluster.length === 0 ? end : Math.max(clusterEnd, end);
    cluster.push(p);
    placed.push(p);
  }
  if (cluster.length > 0) closeCluster();
  return placed;
}

/**
 * The height of an hour for these appointments: enough for the shortest to show its time and
 * patient on two lines (a 15-minute visit at 80 px an hour was a 20 px sliver), within bounds.
 */
export function hourHeight(items: readonly Appointment[]): number {
  let shortest = Infinity;
  for (const a of items) {
    if (localDate(a.local_end) !== localDate(a.local_start)) continue;
    const minutes = minutesOfDay(a.local_end) - minutesOfDay(a.local_start);
    if (minutes > 0) shortest = Math.min(shortest, minutes);
  }
  if (!Number.isFinite(shortest)) return HOUR_PX;
  const needed = Math.ceil(((TWO_LINES_PX + GAP_PX) * 60) / shortest);
  return Math.min(MAX_HOUR_PX, Math.max(HOUR_PX, needed));
}

/** The hours the grid shows: office hours, stretched to fit every appointment. */
export function hourRange(items: readonly Appointment[]): [number, number] {
  let first = DEFAULT_FIRST_HOUR;
  let last = DEFAULT_LAST_HOUR;
  for (const a of items) {
    first = Math.min(first, Math.floor(minutesOfDay(a.local_start) / 60));
    const sameDay = localDate(a.local_end) === localDate(a.local_start);
    last = Math.max(last, sameDay ? Math.ceil(minutesOfDay(a.local_end) / 60) : 24);
  }
  return [first, last];
}

/** Day and week calendar of one clinician: the signed-in one's own, or any for reception. */
export function CalendarPage() {
  const { api, permissions } = useAuth();
  const [params, setParams] = useSearchParams();
  const view: CalendarView = params.get("view") === "day" ? "day" : "week";
  const [zone, setZone] = useState(DEFAULT_ZONE);
  const today = todayInZone(zone);
  const date = /^\d{4}-\d{2}-\d{2}$/.test(params.get("date") ?? "") ? params.get("date")! : today;
  const [showCancelled, setShowCancelled] = useState(false);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const canBrowse = permissions.has("staff:read");
  const canWrite = permissions.has("appointments:write");

  const [picked, setPicked] = useState<PickedClinician | null>(null);

  const own = useLoad((signal) => myStaffRecord(api, signal), [api]);
  const ownKnown = own.status === "ready" || own.status === "error";
  const asked = params.get("staff");
  // Without a clinician asked for or one's own calendar: the first bookable clinician's.
  const firstClinician = useLoad(
    (signal) => listClinicians(api, { limit: 1 }, signal),
    [api],
    canBrowse && asked === null && ownKnown && !own.data,
  );
  // Whose calendar: the one asked for, else the user's own, else (reception) the first clinician.
  const staffId = asked ?? own.data?.id ?? (ownKnown ? (firstClinician.data?.items[0]?.id ?? null) : null);
  const knownName =
    [picked, own.data, firstClinician.data?.items[0]].find((c) => c != null && c.id === staffId)?.display_name ?? null;
  // A calendar opened by its link (?staff=...): its clinician's name from the directory.
  const named = useLoad(
    (signal) => getStaff(api, staffId!, signal),
    [api, staffId],
    canBrowse && staffId !== null && knownName === null,
  );
  const staffName = knownName ?? (named.data?.id === staffId ? named.data.display_name : null);

  const first = view === "week" ? weekStart(date) : date;
  const days = daysFrom(first, view === "week" ? 7 : 1);
  const last = days[days.length - 1]!;
  const result = useLoad(
    (signal) => {
      const { start, end } = dayWindow(first, last, zone);
      return allAppointments(api, { staffId, start, end }, signal);
    },
    [api, staffId, first, last, zone],
    staffId !== null,
  );
  const all = result.data ?? [];
  useEffect(() => {
    const tz = result.data?.[0]?.timezone;
    if (tz && tz !== zone) setZone(tz);
  }, [result.data, zone]);

  const shown = all.filter((a) => showCancelled || a.status !== "cancelled");
  const selected = all.find((a) => a.id === selectedId) ?? null;
  const [firstHour, lastHour] = hourRange(shown);
  const hourPx = hourHeight(shown);
  const detailsRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (selectedId) detailsRef.current?.focus();
  }, [selectedId]);

  const set = (changes: Record<string, string | null>) =>
    setParams((p) => {
      const next = new URLSearchParams(p);
      for (const [k, v] of Object.entries(changes)) {
        if (v === null) next.delete(k);
        else next.set(k, v);
      }
      return next;
    });
  const step = view === "week" ? 7 : 1;

  const counts = new Map<string, number>();
  for (const a of all) counts.set(a.status, (counts.get(a.status) ?? 0) + 1);

  return (
    <section className="page page-wide" aria-labelledby="calendar-title">
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name="calendar" size={26} />
        </span>
        <div className="page-header-text">
          <h1 id="calendar-title">Calendar</h1>
          <p className="lead">
            {staffName ? `${staffName}'s appointments` : "A clinician's appointments"}, by day or week.
          </p>
        </div>
        {canWrite && (
          <Link className="button button-primary page-header-action" to="/appointments/desk">
            Booking desk
          </Link>
        )}
      </header>

      <div className="cal-toolbar">
        {canBrowse && (
          <ClinicianPicker
            className="field cal-clinician"
            value={staffId ?? ""}
            selected={staffId && staffName ? { id: staffId, display_name: staffName } : null}
            ownId={own.data?.id ?? null}
            allowNone={false}
            onChange={(c) => {
              setSelectedId(null);
              setPicked(c);
              set({ staff: c?.id ?? null });
            }}
          />
        )}
        <div className="segmented" role="group" aria-label="View">
          <button type="button" aria-pressed={view === "day"} onClick={() => set({ view: "day" })}>
            Day
          </button>
          <button type="button" aria-pressed={view === "week"} onClick={() => set({ view: null })}>
            Week
          </button>
        </div>
        <div className="cal-nav" role="group" aria-label="Dates">
          <button type="button" className="button button-quiet button-small" onClick={() => set({ date: addDays(date, -step) })}>
            ‹ <span className="visually-hidden">Previous {view}</span>
          </button>
          <button type="button" className="button button-quiet button-small" onClick={() => set({ date: null })} disabled={date === today}>
            Today
          </button>
          <button type="button" className="button button-quiet button-small" onClick={() => set({ date: addDays(date, step) })}>
            › <span className="visually-hidden">Next {view}</span>
          </button>
          <label className="visually-hidden" htmlFor="cal-date">
            Go to date
          </label>
          <input id="cal-date" type="date" value={date} onChange={(e) => e.target.value && set({ date: e.target.value })} />
        </div>
        <label className="check small">
          <input type="checkbox" checked={showCancelled} onChange={(e) => setShowCancelled(e.target.checked)} /> Show cancelled
        </label>
      </div>

      <h2 className="cal-range">
        {view === "week" ? `${formatDayShort(first)} – ${formatDayShort(last)}` : formatDayLong(first)}
        <span className="zone-note">
          Times in <strong>{zoneLabel(zone)}</strong>
        </span>
      </h2>

      <p className="search-status" role="status" aria-live="polite">
        {result.status === "loading" && <span className="spinner spinner-small" aria-hidden="true" />}
        {staffId === null
          ? own.status === "loading"
            ? "Loading…"
            : canBrowse
              ? "Choose a clinician to see their calendar."
              : "Your account is not linked to a staff record, so there is no calendar to show."
          : result.status === "loading"
            ? "Loading appointments…"
            : result.status === "ready"
              ? `${shown.length} appointment${shown.length === 1 ? "" : "s"}${
                  counts.get("cancelled") && !showCancelled ? ` (${counts.get("cancelled")} cancelled hidden)` : ""
                }.`
              : ""}
      </p>
      <div role="status" aria-live="polite">
        {notice && <div className="notice-ok">{notice}</div>}
      </div>
      {result.status === "error" && (
        <div className="form-error" role="alert">
          {describeError(result.error)}{" "}
          <button type="button" className="link-button" onClick={result.reload}>
            Try again
          </button>
        </div>
      )}

      <ul className="cal-legend" aria-label="Status colours">
        {STATUS_ORDER.map((s) => (
          <li key={s}>
            <span className={`cal-swatch appt-block-${s.replace("_", "-")}`} aria-hidden="true" />
            {statusLabel(s)}
          </li>
        ))}
        <li>
          <Icon name="video" size={14} /> Video visit
        </li>
      </ul>

      <div className={`cal-layout${selected ? " cal-layout-details" : ""}`}>
        <div className={`cal cal-view-${view}`} aria-busy={result.status === "loading"}>
          <div className="cal-head" aria-hidden="true">
            <span />
            {days.map((d) => (
              <span key={d} className={d === today ? "cal-today" : undefined}>
                {formatDayShort(d)}
              </span>
            ))}
          </div>
          <div className="cal-body" style={{ "--cal-hours": lastHour - firstHour, "--hour-px": `${hourPx}px` } as CSSProperties}>
            <div className="cal-hours" aria-hidden="true">
              {Array.from({ length: lastHour - firstHour }, (_, i) => (
                <span key={i}>{String(firstHour + i).padStart(2, "0")}:00</span>
              ))}
            </div>
            {days.map((d) => {
              const dayItems = shown.filter((a) => localDate(a.local_start) === d);
              return (
                <section
                  key={d}
                  className={`cal-day${d === today ? " cal-day-today" : ""}`}
                  aria-label={`${formatDayLong(d)}: ${dayItems.length} appointment${dayItems.length === 1 ? "" : "s"}`}
                >
                  <ol>
                    {placeDay(dayItems, firstHour, hourPx).map((p) => {
                      const a = p.appointment;
                      const label = `${localTime(a.local_start)}–${localTime(a.local_end)} ${a.patient.display_name}, ${a.type.name}${
                        a.mode === "video" ? ", video" : ""
                      }, ${statusLabel(a.status)}`;
                      const style = {
                        top: `${p.top}px`,
                        height: `${p.height}px`,
                        left: `calc(${(100 * p.lane) / p.lanes}% + 2px)`,
                        width: `calc(${100 / p.lanes}% - 4px)`,
                      } as CSSProperties;
                      return (
                        <li key={a.id} style={style} className="cal-slot">
                          <button
                            type="button"
                            className={`appt-block appt-block-${a.status.replace("_", "-")}${a.id === selectedId ? " appt-block-selected" : ""}${
                              p.height < TWO_LINES_PX ? " appt-block-one-line" : ""
                            }`}
                            aria-pressed={a.id === selectedId}
                            aria-label={label}
                            title={label}
                            onClick={() => setSelectedId(a.id === selectedId ? null : a.id)}
                          >
                            <span className="appt-block-time">
                              {localTime(a.local_start)}
                              {a.mode === "video" && <Icon name="video" size={13} />}
                            </span>
                            <span className="appt-block-name">{a.patient.display_name}</span>
                            {view === "day" && (
                              <span className="appt-block-type">
                                {a.type.name} · {statusLabel(a.status)}
                              </span>
                            )}
                          </button>
                        </li>
                      );
                    })}
                  </ol>
                </section>
              );
            })}
          </div>
        </div>

        {selected && (
          <aside className="panel cal-details" aria-labelledby="cal-details-title">
            <div className="cal-details-head">
              <h2 id="cal-details-title" ref={detailsRef} tabIndex={-1} className="panel-title focus-target">
                {selected.patient.display_name}
              </h2>
              <button type="button" className="icon-button" onClick={() => setSelectedId(null)}>
                <Icon name="close" size={18} />
                <span className="visually-hidden">Close details</span>
              </button>
            </div>
            <AppointmentSummary appointment={selected} />
            <dl className="facts-grid cal-facts">
              {selected.mode === "video" && (
                <div>
                  <dt>Video room</dt>
                  <dd>{selected.room_id ? "Ready: join from Telehealth at the start" : "Opens when the visit is booked"}</dd>
                </div>
              )}
              <div>
                <dt>Booked</dt>
                <dd>
                  {formatDateTime(selected.created_at)}
                  {selected.booked_online ? " (online by the patient)" : ""}
                </dd>
              </div>
              {selected.checked_in_at && (
                <div>
                  <dt>Checked in</dt>
                  <dd>{formatDateTime(selected.checked_in_at)}</dd>
                </div>
              )}
              {selected.completed_at && (
                <div>
                  <dt>Completed</dt>
                  <dd>{formatDateTime(selected.completed_at)}</dd>
                </div>
              )}
            </dl>
            {canWrite && (
              <AppointmentActions
                appointment={selected}
                audience="staff"
                onChanged={(_, message) => {
                  setNotice(message);
                  result.reload();
                }}
                onStale={result.reload}
              />
            )}
            {canWrite && permissions.has("patients:read") && (
              <p className="small">
                <Link to={`/appointments/desk?patient=${selected.patient.id}&appointment=${selected.id}`}>
                  Open at the booking desk
                </Link>
              </p>
            )}
          </aside>
        )}
      </div>
    </section>
  );
}
