import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { ApiError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { cancelAppointment, declineOffer, rescheduleAppointment, transition, type Transition } from "./api";
import { AttemptKeys, describeBookingError, isStaleSlot, type Audience } from "./booking";
import { ConfirmSlot } from "./ConfirmSlot";
import { useSubmit } from "./hooks";
import { PATIENT_ACTION_LABELS, STAFF_ACTION_LABELS } from "./present";
import { SlotPicker } from "./SlotPicker";
import { formatVisit } from "./time";
import type { Appointment, AppointmentAction, Slot } from "./types";

const TRANSITIONS: Partial<Record<AppointmentAction, Transition>> = {
  check_in: "check-in",
  complete: "complete",
  no_show: "no-show",
  accept: "accept",
};

type Mode = "idle" | "reschedule" | "cancel";

/**
 * What may be done next with one appointment (the server lists it in `actions`): check in, mark
 * completed or no-show, reschedule to another free slot, cancel with a reason, accept or decline
 * a waitlist offer. Writes a client may retry carry an Idempotency-Key per attempt.
 */
export function AppointmentActions({
  appointment,
  audience,
  onChanged,
  onStale,
}: {
  appointment: Appointment;
  audience: Audience;
  onChanged: (updated: Appointment, message: string) => void;
  /** The appointment changed under us: reload it. */
  onStale?: () => void;
}) {
  const { api } = useAuth();
  const id = useId();
  const staff = audience === "staff";
  const labels = staff ? STAFF_ACTION_LABELS : PATIENT_ACTION_LABELS;
  const [mode, setMode] = useState<Mode>("idle");
  const [error, setError] = useState<string | null>(null);
  const { busy, run } = useSubmit();
  const keys = useRef(new AttemptKeys());
  const errorRef = useRef<HTMLDivElement>(null);

  // Reschedule state
  const [anyClinician, setAnyClinician] = useState(false);
  const [slot, setSlot] = useState<Slot | null>(null);
  const [refresh, setRefresh] = useState(0);
  const [reasonNeeded, setReasonNeeded] = useState(false);
  const [zone, setZone] = useState(appointment.timezone);

  // Cancel state
  const [cancelReason, setCancelReason] = useState("");
  const [cancelMissing, setCancelMissing] = useState(false);

  useEffect(() => {
    setMode("idle");
    setSlot(null);
    setReasonNeeded(false);
  }, [appointment.id, appointment.status, appointment.sequence]);

  const fail = (err: unknown) => {
    setError(describeBookingError(err, audience));
    if (err instanceof ApiError && err.code === "reason_required") setReasonNeeded(true);
    if (err instanceof ApiError && err.code === "invalid_transition") onStale?.();
    requestAnimationFrame(() => errorRef.current?.focus());
  };

  const doTransition = (action: AppointmentAction) =>
    run(async () => {
      setError(null);
      try {
        if (action === "decline") {
          const updated = await declineOffer(api, appointment.id, false);
          onChanged(updated, "Offer declined.");
          return;
        }
        const to = TRANSITIONS[action];
        if (!to) return;
        const updated = await transition(api, appointment.id, to);
        const said: Record<Transition, string> = {
          "check-in": `${appointment.patient.display_name} is checked in.`,
          complete: "Marked as completed.",
          "no-show": "Marked as a no-show.",
          accept: "The offered time is booked.",
        };
        onChanged(updated, said[to]);
      } catch (err) {
        fail(err);
      }
    });

  const doReschedule = (reason: string) =>
    run(async () => {
      if (!slot) return;
      setError(null);
      const body: { start: string; staff_id?: string; reason?: string } = { start: slot.start };
      if (slot.staff_id !== appointment.staff.id) body.staff_id = slot.staff_id;
      if (reason) body.reason = reason;
      try {
        const updated = await rescheduleAppointment(api, appointment.id, body, keys.current.keyFor(body));
        keys.current.settle(null);
        onChanged(updated, `Moved to ${formatVisit(updated.local_start, updated.local_end)} with ${updated.staff.display_name}.`);
      } catch (err) {
        keys.current.settle(err);
        fail(err);
        if (isStaleSlot(err) || (err instanceof ApiError && err.code === "patient_busy")) {
          setSlot(null);
          setRefresh((r) => r + 1);
        }
      }
    });

  const doCancel = (event: FormEvent) => {
    event.preventDefault();
    const reason = cancelReason.trim();
    if (staff && !reason) {
      setCancelMissing(true);
      return;
    }
    void run(async () => {
      setError(null);
      const body = reason ? { reason } : {};
      try {
        const updated = await cancelAppointment(api, appointment.id, body, keys.current.keyFor(body));
        keys.current.settle(null);
        onChanged(updated, staff ? "The appointment is cancelled." : "Your visit is cancelled.");
      } catch (err) {
        keys.current.settle(err);
        fail(err);
      }
    });
  };

  const actions = appointment.actions;
  const buttons = actions.filter((a) => a !== "reschedule" && a !== "cancel");
  const name = `${appointment.type.name}, ${formatVisit(appointment.local_start, appointment.local_end)}`;

  return (
    <div className="appt-actions">
      {actions.length > 0 && (
        <div className="appt-action-bar" role="group" aria-label={`Actions for ${name}`}>
          {buttons.map((a) => (
            <button
              key={a}
              type="button"
              className={`button button-small ${a === "accept" || a === "check_in" ? "button-primary" : "button-quiet"}`}
              disabled={busy}
              onClick={() => void doTransition(a)}
            >
              {labels[a]}
            </button>
          ))}
          {actions.includes("reschedule") && (
            <button
              type="button"
              className="button button-quiet button-small"
              aria-expanded={mode === "reschedule"}
              aria-controls={`${id}-reschedule`}
              disabled={busy}
              onClick={() => {
                setError(null);
                setSlot(null);
                setMode(mode === "reschedule" ? "idle" : "reschedule");
              }}
            >
              {labels.reschedule}
            </button>
          )}
          {actions.includes("cancel") && (
            <button
              type="button"
              className="button button-quiet button-small text-danger"
              aria-expanded={mode === "cancel"}
              aria-controls={`${id}-cancel`}
              disabled={busy}
              onClick={() => {
                setError(null);
                setMode(mode === "cancel" ? "idle" : "cancel");
              }}
            >
              {labels.cancel}
            </button>
          )}
        </div>
      )}

      <div ref={errorRef} tabIndex={-1} className="focus-target" role="alert">
        {error && <div className="form-error">{error}</div>}
      </div>

      {mode === "reschedule" && (
        <div id={`${id}-reschedule`} className="appt-subpanel">
          <h3 className="subsection-title">{staff ? "Move to another free slot" : "Choose a new time"}</h3>
          {staff && (
            <label className="check">
              <input
                type="checkbox"
                checked={anyClinician}
                onChange={(e) => {
                  setAnyClinician(e.target.checked);
                  setSlot(null);
                }}
              />{" "}
              Show every clinician who offers {appointment.type.name.toLowerCase()}
            </label>
          )}
          <SlotPicker
            typeId={appointment.type.id}
            staffId={anyClinician ? null : appointment.staff.id}
            selected={slot}
            onSelect={(s) => {
              setSlot(s);
              if (s) setError(null);
            }}
            refreshKey={refresh}
            onLoaded={(_, tz) => setZone(tz)}
            label="Free times to move to"
          />
          {slot && (
            <ConfirmSlot
              slot={slot}
              typeName={appointment.type.name}
              mode={appointment.mode}
              zone={zone}
              title={staff ? "Move the appointment here?" : "Move your visit to this time?"}
              confirmLabel={staff ? "Confirm new time" : "Move my visit"}
              busyLabel="Moving…"
              reasonLabel={staff ? "Reason (needed within the cancellation cut-off)" : null}
              reasonRequired={reasonNeeded}
              busy={busy}
              audience={staff ? "staff" : "patient"}
              onConfirm={(reason) => void doReschedule(reason)}
              onBack={() => setSlot(null)}
            />
          )}
        </div>
      )}

      {mode === "cancel" && (
        <form id={`${id}-cancel`} className="appt-subpanel" onSubmit={doCancel}>
          <h3 className="subsection-title">{staff ? "Cancel this appointment" : "Cancel this visit?"}</h3>
          <div className="field">
            <label htmlFor={`${id}-cancel-reason`}>{staff ? "Reason" : "Reason (optional)"}</label>
            <textarea
              id={`${id}-cancel-reason`}
              rows={2}
              maxLength={500}
              value={cancelReason}
              aria-invalid={cancelMissing && !cancelReason.trim() ? true : undefined}
              onChange={(e) => {
                setCancelReason(e.target.value);
                setCancelMissing(false);
              }}
            />
            {cancelMissing && !cancelReason.trim() && <span className="field-error">Give a reason for the cancellation.</span>}
          </div>
          <div className="form-actions">
            <button type="submit" className="button button-danger" disabled={busy}>
              {busy ? "Cancelling…" : staff ? "Cancel appointment" : "Yes, cancel my visit"}
            </button>
            <button type="button" className="button button-quiet" disabled={busy} onClick={() => setMode("idle")}>
              {staff ? "Keep it" : "Keep my visit"}
            </button>
          </div>
        </form>
      )}
    </div>
  );
}
