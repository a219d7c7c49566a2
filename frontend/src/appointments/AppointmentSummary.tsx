import { ModeBadge, StatusBadge } from "./Badges";
import { formatVisit, zoneAbbreviation } from "./time";
import type { Appointment } from "./types";

/** When, what, with whom: one appointment in three short lines. */
export function AppointmentSummary({ appointment: a, showPatient = false }: { appointment: Appointment; showPatient?: boolean }) {
  return (
    <div className="appt-summary">
      <p className="appt-when">
        <strong>{formatVisit(a.local_start, a.local_end)}</strong>{" "}
        <span className="muted small">{zoneAbbreviation(a.timezone, new Date(a.start))}</span>
      </p>
      <p className="appt-what">
        {a.type.name} <ModeBadge mode={a.mode} /> <StatusBadge status={a.status} />
        {a.booked_online && <span className="tag">Booked online</span>}
      </p>
      <p className="appt-who muted small">
        {showPatient ? `${a.patient.display_name} · ` : ""}with {a.staff.display_name}
        {a.reason ? ` · “${a.reason}”` : ""}
        {a.cancel_reason ? ` · cancelled: ${a.cancel_reason}` : ""}
      </p>
    </div>
  );
}
