import { useEffect, useId, useRef, useState } from "react";
import { Link, useNavigate } from "react-router";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { Icon } from "../components/Icon";
import { bookAppointment, listTypes } from "../appointments/api";
import { AttemptKeys, describeBookingError, isStaleSlot } from "../appointments/booking";
import { ConfirmSlot } from "../appointments/ConfirmSlot";
import { useSubmit } from "../appointments/hooks";
import { SlotPicker } from "../appointments/SlotPicker";
import { DEFAULT_ZONE } from "../appointments/time";
import type { AppointmentCreate, Mode, Slot } from "../appointments/types";
import { WaitlistForm } from "../appointments/WaitlistForm";
import { useLoad } from "../patients/hooks";
import "../appointments/appointments.css";

const MODES: readonly { mode: Mode; title: string; text: string }[] = [
  { mode: "video", title: "Video visit", text: "From home, on your phone or computer." },
  { mode: "in_person", title: "In person", text: "At the clinic." },
];

/** The portal's "Book a visit": kind of visit, clinician (or anyone), a free time, confirm. */
export function BookVisitPage() {
  const { api } = useAuth();
  const navigate = useNavigate();
  const id = useId();
  const [mode, setMode] = useState<Mode | null>(null);
  const [typeId, setTypeId] = useState<string | null>(null);
  const [staffId, setStaffId] = useState<string>("");
  const [known, setKnown] = useState<Map<string, string>>(new Map());
  const [slot, setSlot] = useState<Slot | null>(null);
  const [zone, setZone] = useState(DEFAULT_ZONE);
  const [refresh, setRefresh] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [waitlist, setWaitlist] = useState(false);
  const [waitlisted, setWaitlisted] = useState(false);
  const keys = useRef(new AttemptKeys());
  const errorRef = useRef<HTMLDivElement>(null);
  const { busy, run } = useSubmit();

  const types = useLoad((signal) => listTypes(api, undefined, signal), [api]);
  const ofMode = (types.data ?? []).filter((t) => t.mode === mode);
  const type = ofMode.find((t) => t.id === typeId) ?? (ofMode.length === 1 ? ofMode[0]! : null);

  useEffect(() => {
    setSlot(null);
    setWaitlist(false);
    setWaitlisted(false);
  }, [mode, type?.id, staffId]);

  const book = (reason: string) =>
    run(async () => {
      if (!slot || !type) return;
      setError(null);
      const body: AppointmentCreate = { type_id: type.id, staff_id: slot.staff_id, start: slot.start };
      if (reason) body.reason = reason;
      try {
        const appointment = await bookAppointment(api, body, keys.current.keyFor(body));
        keys.current.settle(null);
        navigate("/my/appointments", { state: { booked: appointment } });
      } catch (err) {
        keys.current.settle(err);
        setError(describeBookingError(err, "patient"));
        if (isStaleSlot(err)) {
          setSlot(null);
          setRefresh((r) => r + 1);
        }
        requestAnimationFrame(() => errorRef.current?.focus());
      }
    });

  const clinicianName = staffId ? (known.get(staffId) ?? null) : null;

  return (
    <section className="page" aria-labelledby="book-title">
      <p className="breadcrumb">
        <Link to="/my/appointments">← My appointments</Link>
      </p>
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name="calendar" size={26} />
        </span>
        <div>
          <h1 id="book-title">Book a visit</h1>
          <p className="lead">Choose how you would like to be seen, then pick a time that suits you.</p>
        </div>
      </header>

      <fieldset className="book-step">
        <legend>
          <span className="step-no">1</span> How would you like to be seen?
        </legend>
        <div className="mode-cards">
          {MODES.map((m) => (
            <label key={m.mode} className={`mode-card${mode === m.mode ? " mode-card-on" : ""}`}>
              <input
                type="radio"
                name={`${id}-mode`}
                value={m.mode}
                checked={mode === m.mode}
                onChange={() => {
                  setMode(m.mode);
                  setTypeId(null);
                }}
              />
              <span className="mode-card-icon" aria-hidden="true">
                <Icon name={m.mode === "video" ? "video" : "home"} size={22} />
              </span>
              <span className="mode-card-title">{m.title}</span>
              <span className="mode-card-text">{m.text}</span>
            </label>
          ))}
        </div>
        {types.status === "error" && (
          <div className="form-error" role="alert">
            {describeError(types.error)}{" "}
            <button type="button" className="link-button" onClick={types.reload}>
              Try again
            </button>
          </div>
        )}
        {mode && types.status === "ready" && ofMode.length === 0 && (
          <p className="empty">No {mode === "video" ? "video" : "in-person"} visits can be booked online at the moment.</p>
        )}
        {mode && ofMode.length > 1 && (
          <div className="field">
            <label htmlFor={`${id}-type`}>Kind of visit</label>
            <select id={`${id}-type`} value={type?.id ?? ""} onChange={(e) => setTypeId(e.target.value || null)}>
              <option value="">Choose…</option>
              {ofMode.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name} ({t.duration_minutes} minutes)
                </option>
              ))}
            </select>
          </div>
        )}
        {type && ofMode.length === 1 && (
          <p className="muted small">
            {type.name}, {type.duration_minutes} minutes.
          </p>
        )}
      </fieldset>

      {type && (
        <fieldset className="book-step">
          <legend>
            <span className="step-no">2</span> Who would you like to see?
          </legend>
          <div className="field">
            <label htmlFor={`${id}-staff`}>Clinician</label>
            <select id={`${id}-staff`} value={staffId} onChange={(e) => setStaffId(e.target.value)}>
              <option value="">Anyone available</option>
              {[...known.entries()].map(([sid, name]) => (
                <option key={sid} value={sid}>
                  {name}
                </option>
              ))}
            </select>
            <span className="hint">Clinicians appear here as their free times are found.</span>
          </div>
        </fieldset>
      )}

      {type && (
        <div className="book-step">
          <h2 className="book-step-title">
            <span className="step-no">3</span> Pick a time
          </h2>
          <SlotPicker
            typeId={type.id}
            staffId={staffId || null}
            selected={slot}
            onSelect={(s) => {
              setSlot(s);
              if (s) setError(null);
            }}
            refreshKey={refresh}
            onLoaded={(slots, tz) => {
              setZone(tz);
              setKnown((before) => {
                const next = new Map(before);
                for (const s of slots) if (!next.has(s.staff_id)) next.set(s.staff_id, s.staff_name);
                return next.size === before.size ? before : next;
              });
            }}
            label="Free times"
          />
          <div ref={errorRef} tabIndex={-1} className="focus-target" role="alert">
            {error && <div className="form-error">{error}</div>}
          </div>
          {slot && (
            <ConfirmSlot
              slot={slot}
              typeName={type.name}
              mode={type.mode}
              zone={zone}
              title="Confirm your visit"
              confirmLabel="Confirm booking"
              busyLabel="Booking…"
              reasonLabel="What would you like to discuss? (optional)"
              busy={busy}
              audience="patient"
              onConfirm={(reason) => void book(reason)}
              onBack={() => setSlot(null)}
            />
          )}
          {!slot && !waitlist && !waitlisted && (
            <p className="small book-waitlist">
              No time that suits you?{" "}
              <button type="button" className="link-button" onClick={() => setWaitlist(true)}>
                Join the waitlist
              </button>{" "}
              and we will offer you an earlier time if one frees up.
            </p>
          )}
          {waitlisted && (
            <div className="notice-ok" role="status">
              You are on the waitlist. We will let you know as soon as a time frees up; you can see it under{" "}
              <Link to="/my/appointments">My appointments</Link>.
            </div>
          )}
          {waitlist && (
            <WaitlistForm
              audience="patient"
              typeId={type.id}
              typeName={type.name}
              staffId={staffId || null}
              staffName={clinicianName}
              zone={zone}
              onJoined={() => {
                setWaitlist(false);
                setWaitlisted(true);
              }}
              onClose={() => setWaitlist(false)}
            />
          )}
        </div>
      )}
    </section>
  );
}
