import { useState } from "react";
import { Link, useLocation } from "react-router";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { Icon } from "../components/Icon";
import { allAppointments, leaveWaitlist, listTypes, listWaitlist } from "../appointments/api";
import { AppointmentActions } from "../appointments/AppointmentActions";
import { ModeBadge, StatusBadge } from "../appointments/Badges";
import { describeBookingError } from "../appointments/booking";
import { useSubmit } from "../appointments/hooks";
import { formatDayLong, formatVisit, localDate, localTime, zoneAbbreviation, zoneLabel } from "../appointments/time";
import type { Appointment } from "../appointments/types";
import { formatDate, formatDateTime } from "../patients/format";
import { useLoad } from "../patients/hooks";
import "../appointments/appointments.css";

/** Upcoming and recent visits; change or cancel them (until the cut-off), offers, the waitlist. */
export function MyAppointmentsPage() {
  const { api } = useAuth();
  const location = useLocation();
  const justBooked = (location.state as { booked?: Appointment } | null)?.booked ?? null;
  const [tick, setTick] = useState(0);
  const [notice, setNotice] = useState<string | null>(null);
  const [since] = useState(() => new Date(Date.now() - 7 * 86_400_000).toISOString());

  const result = useLoad((signal) => allAppointments(api, { start: since }, signal, 3), [api, since, tick]);
  const now = Date.now();
  const all = result.data ?? [];
  const offers = all.filter((a) => a.status === "offered");
  const upcoming = all.filter((a) => a.status !== "offered" && new Date(a.end).getTime() > now);
  const recent = all.filter((a) => a.status !== "offered" && new Date(a.end).getTime() <= now).reverse();
  const zone = all[0]?.timezone ?? justBooked?.timezone ?? null;

  return (
    <section className="page" aria-labelledby="my-appts-title">
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name="calendar" size={26} />
        </span>
        <div className="page-header-text">
          <h1 id="my-appts-title">My appointments</h1>
          <p className="lead">
            Book, move or cancel your visits online.{zone ? <> Times are in {zoneLabel(zone)}.</> : null}
          </p>
        </div>
        <Link className="button button-primary page-header-action" to="/my/appointments/book">
          Book a visit
        </Link>
      </header>

      {justBooked && !notice && (
        <div className="notice-ok" role="status">
          <strong>Your visit is booked.</strong> {justBooked.type.name} with {justBooked.staff.display_name},{" "}
          {formatVisit(justBooked.local_start, justBooked.local_end)}. A confirmation with a calendar invitation is on its
          way.
          {justBooked.status === "booked" && !justBooked.actions.includes("cancel") && (
            <> It is too close to change online: to move or cancel it, please call reception.</>
          )}
        </div>
      )}
      {notice && (
        <div className="notice-ok" role="status">
          {notice}
        </div>
      )}
      {result.status === "error" && (
        <div className="form-error" role="alert">
          {describeError(result.error)}{" "}
          <button type="button" className="link-button" onClick={result.reload}>
            Try again
          </button>
        </div>
      )}
      {result.status === "loading" && !result.data && (
        <p className="page-loading">
          <span className="spinner spinner-small" aria-hidden="true" /> Loading your appointments…
        </p>
      )}

      {offers.length > 0 && (
        <section aria-labelledby="offers-title" className="my-section">
          <h2 id="offers-title" className="section-title">
            An earlier time is available
          </h2>
          <ul className="visit-list">
            {offers.map((a) => (
              <li key={a.id} className="visit-card visit-card-offer">
                <VisitHead appointment={a} />
                {a.offer_expires_at && (
                  <p className="small">Held for you until {formatDateTime(a.offer_expires_at)}.</p>
                )}
                <AppointmentActions
                  appointment={a}
                  audience="patient"
                  onChanged={(_, message) => {
                    setNotice(message);
                    setTick((t) => t + 1);
                  }}
                  onStale={result.reload}
                />
              </li>
            ))}
          </ul>
        </section>
      )}

      {result.status !== "error" && result.data && (
        <section aria-labelledby="upcoming-title" className="my-section">
          <h2 id="upcoming-title" className="section-title">
            Upcoming
          </h2>
          {upcoming.length === 0 ? (
            <div className="empty">
              <p>
                You have no upcoming visits. <Link to="/my/appointments/book">Book a visit</Link>.
              </p>
            </div>
          ) : (
            <ul className="visit-list">
              {upcoming.map((a) => (
                <li key={a.id} className={`visit-card${a.status === "cancelled" ? " visit-card-cancelled" : ""}`}>
                  <VisitHead appointment={a} />
                  {a.status === "booked" && a.mode === "video" && (
                    <p className="small visit-hint">
                      <Icon name="video" size={14} /> Join from <Link to="/my/visits">Video visits</Link> a few minutes
                      before the start.
                    </p>
                  )}
                  {a.status === "booked" && !a.actions.includes("cancel") && (
                    <p className="small visit-hint">
                      This visit is too close to change online. To move or cancel it, please call reception.
                    </p>
                  )}
                  <AppointmentActions
                    appointment={a}
                    audience="patient"
                    onChanged={(_, message) => {
                      setNotice(message);
                      setTick((t) => t + 1);
                    }}
                    onStale={result.reload}
                  />
                </li>
              ))}
            </ul>
          )}
        </section>
      )}

      <MyWaitlist refreshKey={tick} />

      {recent.length > 0 && (
        <section aria-labelledby="recent-title" className="my-section">
          <h2 id="recent-title" className="section-title">
            Recent
          </h2>
          <ul className="visit-list">
            {recent.map((a) => (
              <li key={a.id} className="visit-card visit-card-past">
                <VisitHead appointment={a} />
              </li>
            ))}
          </ul>
        </section>
      )}
    </section>
  );
}

function VisitHead({ appointment: a }: { appointment: Appointment }) {
  return (
    <div className="visit-head">
      <div className="visit-date" aria-hidden="true">
        <span className="visit-date-day">{localDate(a.local_start).slice(8)}</span>
        <span className="visit-date-month">
          {new Date(`${localDate(a.local_start)}T00:00:00Z`).toLocaleDateString(undefined, { month: "short", timeZone: "UTC" })}
        </span>
      </div>
      <div>
        <h3 className="visit-title">
          {formatDayLong(localDate(a.local_start))}, {localTime(a.local_start)}
          <span className="muted small"> {zoneAbbreviation(a.timezone, new Date(a.start))}</span>
        </h3>
        <p className="visit-what">
          {a.type.name} with {a.staff.display_name} <ModeBadge mode={a.mode} /> <StatusBadge status={a.status} />
        </p>
        {a.reason && <p className="small muted">“{a.reason}”</p>}
      </div>
    </div>
  );
}

function MyWaitlist({ refreshKey }: { refreshKey: number }) {
  const { api } = useAuth();
  const [tick, setTick] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const { busy, run } = useSubmit();
  const types = useLoad((signal) => listTypes(api, undefined, signal), [api]);
  const result = useLoad(
    (signal) => listWaitlist(api, { status: ["waiting", "offered"] }, signal),
    [api, refreshKey, tick],
  );
  const items = result.data?.items ?? [];
  if (items.length === 0) return null;
  const typeName = (id: string) => types.data?.find((t) => t.id === id)?.name ?? "A visit";
  return (
    <section aria-labelledby="waitlist-title" className="my-section">
      <h2 id="waitlist-title" className="section-title">
        On the waitlist
      </h2>
      {error && (
        <div className="form-error" role="alert">
          {error}
        </div>
      )}
      <ul className="visit-list">
        {items.map((w) => (
          <li key={w.id} className="visit-card">
            <p className="visit-what">
              <strong>{typeName(w.type_id)}</strong>, any time from {formatDate(w.earliest)} to {formatDate(w.latest)}
              {w.status === "offered" ? " — a time is on offer above." : "."}
            </p>
            <button
              type="button"
              className="button button-quiet button-small"
              disabled={busy}
              onClick={() =>
                void run(async () => {
                  setError(null);
                  try {
                    await leaveWaitlist(api, w.id);
                    setTick((t) => t + 1);
                  } catch (err) {
                    setError(describeBookingError(err, "patient"));
                  }
                })
              }
            >
              Leave the waitlist
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
