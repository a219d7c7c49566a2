import { useId, useState, type FormEvent } from "react";
import { useAuth } from "../auth/AuthContext";
import { joinWaitlist } from "./api";
import { describeBookingError, type Audience } from "./booking";
import { useSubmit } from "./hooks";
import { addDays, DEFAULT_ZONE, todayInZone } from "./time";
import type { WaitlistCreate, WaitlistEntry } from "./types";

/** Ask to be offered a slot of this type when one frees up between two dates. */
export function WaitlistForm({
  audience,
  patientId = null,
  typeId,
  typeName,
  staffId = null,
  staffName = null,
  departmentId = null,
  zone = DEFAULT_ZONE,
  onJoined,
  onClose,
}: {
  audience: Audience;
  patientId?: string | null;
  typeId: string;
  typeName: string;
  staffId?: string | null;
  staffName?: string | null;
  departmentId?: string | null;
  zone?: string;
  onJoined: (entry: WaitlistEntry) => void;
  onClose: () => void;
}) {
  const { api } = useAuth();
  const id = useId();
  const today = todayInZone(zone);
  const [earliest, setEarliest] = useState(today);
  const [latest, setLatest] = useState(addDays(today, 14));
  const [note, setNote] = useState("");
  const [error, setError] = useState<string | null>(null);
  const { busy, run } = useSubmit();
  const patient = audience === "patient";

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!earliest || !latest || latest < earliest) {
      setError("The last date must be on or after the first date.");
      return;
    }
    void run(async () => {
      setError(null);
      const body: WaitlistCreate = { type_id: typeId, earliest, latest };
      if (patientId) body.patient_id = patientId;
      if (staffId) body.staff_id = staffId;
      if (departmentId) body.department_id = departmentId;
      if (note.trim()) body.note = note.trim();
      try {
        onJoined(await joinWaitlist(api, body));
      } catch (err) {
        setError(describeBookingError(err, audience));
      }
    });
  };

  return (
    <form className="appt-subpanel waitlist-form" onSubmit={submit} aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`} className="subsection-title">
        {patient ? "Join the waitlist" : "Add to the waitlist"}
      </h3>
      <p className="small muted">
        {patient ? "We will offer you" : "The patient is offered"} the first {typeName.toLowerCase()} that frees up
        {staffName ? ` with ${staffName}` : ""} between these dates{patient ? ", and let you know." : "."}
      </p>
      <div className="form-grid">
        <div className="field">
          <label htmlFor={`${id}-earliest`}>From</label>
          <input
            id={`${id}-earliest`}
            type="date"
            required
            min={today}
            value={earliest}
            onChange={(e) => setEarliest(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor={`${id}-latest`}>Until</label>
          <input
            id={`${id}-latest`}
            type="date"
            required
            min={earliest || today}
            value={latest}
            onChange={(e) => setLatest(e.target.value)}
          />
        </div>
        <div className="field span-2">
          <label htmlFor={`${id}-note`}>Note (optional)</label>
          <textarea id={`${id}-note`} rows={2} maxLength={500} value={note} onChange={(e) => setNote(e.target.value)} />
        </div>
      </div>
      {error && (
        <div className="form-error" role="alert">
          {error}
        </div>
      )}
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? "Adding…" : patient ? "Join the waitlist" : "Add to waitlist"}
        </button>
        <button type="button" className="button button-quiet" onClick={onClose} disabled={busy}>
          Not now
        </button>
      </div>
    </form>
  );
}
