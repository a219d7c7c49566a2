// The rota's forms: assign a shift (the accessible path to everything drag and drop does), change
// or remove a selected shift, record leave, and a selected leave entry's details.
import { useId, useState, type FormEvent, type RefObject } from "react";
import type { ApiClient } from "../api/client";
import { describeError } from "../api/errors";
import { createLeave } from "./api";
import { BookedWarning } from "./BookedWarning";
import { dayLabel, longDayLabel, shortDate, zonedLabel } from "./dates";
import {
  LEAVE_KINDS,
  leaveLabel,
  shiftTimes,
  shiftTitle,
  shiftsDuringLeaveOf,
  strandedAppointmentsOf,
  type StrandedAppointments,
  type Violation,
} from "./rota";
import type { Leave, LeaveKind, LeaveResult, RotaStaff, Shift, ShiftDefinition } from "./types";
import { ViolationList } from "./Violations";

export interface AssignValues {
  staffId: string;
  day: string;
  definitionId: string;
  note: string;
}

export const EMPTY_ASSIGN: AssignValues = { staffId: "", day: "", definitionId: "", note: "" };

export function definitionLabel(d: Pick<ShiftDefinition, "name" | "start_time" | "end_time" | "crosses_midnight">): string {
  const t = (v: string) => v.slice(0, 5);
  return `${d.name} (${t(d.start_time)}–${t(d.end_time)}${d.crosses_midnight ? " +1" : ""})`;
}

type AssignErrors = Partial<Record<"staffId" | "day" | "definitionId", string>>;

export function validateAssign(v: AssignValues): AssignErrors {
  const errors: AssignErrors = {};
  if (!v.staffId) errors.staffId = "Choose who works the shift.";
  if (!v.day) errors.day = "Choose the day.";
  if (!v.definitionId) errors.definitionId = "Choose a shift.";
  return errors;
}

export function AssignShiftForm({
  values,
  onChange,
  people,
  days,
  definitions,
  busy,
  violations,
  error,
  timezone,
  firstFieldRef,
  shiftFieldRef,
  onSubmit,
}: {
  values: AssignValues;
  onChange: (v: AssignValues) => void;
  people: readonly RotaStaff[];
  days: readonly string[];
  definitions: readonly ShiftDefinition[];
  busy: boolean;
  violations: readonly Violation[] | null;
  error: string | null;
  timezone: string;
  firstFieldRef?: RefObject<HTMLSelectElement | null>;
  shiftFieldRef?: RefObject<HTMLSelectElement | null>;
  onSubmit: (v: AssignValues) => void;
}) {
  const id = useId();
  const [errors, setErrors] = useState<AssignErrors>({});
  const set = (key: keyof AssignValues) => (value: string) => {
    onChange({ ...values, [key]: value });
    setErrors((e) => ({ ...e, [key]: undefined }));
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errs = validateAssign(values);
    setErrors(errs);
    const first = (Object.keys(errs) as (keyof AssignErrors)[])[0];
    if (first) {
      document.getElementById(`${id}-${first}`)?.focus();
      return;
    }
    onSubmit(values);
  };
  const described = (key: keyof AssignErrors) =>
    errors[key] ? { "aria-invalid": true as const, "aria-describedby": `${id}-${key}-error` } : {};
  const fieldError = (key: keyof AssignErrors) =>
    errors[key] ? (
      <span className="field-error" id={`${id}-${key}-error`}>
        {errors[key]}
      </span>
    ) : null;
  const person = people.find((p) => p.id === values.staffId);

  return (
    <section className="panel rota-panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`} className="panel-title">
        Assign a shift
      </h2>
      <form onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor={`${id}-staffId`}>Staff member</label>
          <select
            id={`${id}-staffId`}
            ref={firstFieldRef}
            value={values.staffId}
            onChange={(e) => set("staffId")(e.target.value)}
            {...described("staffId")}
          >
            <option value="">Choose…</option>
            {people.map((p) => (
              <option key={p.id} value={p.id}>
                {p.display_name}
                {p.position ? ` — ${p.position}` : ""}
              </option>
            ))}
          </select>
          {fieldError("staffId")}
        </div>
        <div className="field">
          <label htmlFor={`${id}-day`}>Day</label>
          <select id={`${id}-day`} value={values.day} onChange={(e) => set("day")(e.target.value)} {...described("day")}>
            <option value="">Choose…</option>
            {days.map((d) => (
              <option key={d} value={d}>
                {longDayLabel(d)}
              </option>
            ))}
          </select>
          {fieldError("day")}
        </div>
        <div className="field">
          <label htmlFor={`${id}-definitionId`}>Shift</label>
          <select
            id={`${id}-definitionId`}
            ref={shiftFieldRef}
            value={values.definitionId}
            onChange={(e) => set("definitionId")(e.target.value)}
            {...described("definitionId")}
          >
            <option value="">Choose…</option>
            {definitions.map((d) => (
              <option key={d.id} value={d.id}>
                {definitionLabel(d)}
              </option>
            ))}
          </select>
          {fieldError("definitionId")}
        </div>
        <div className="field">
          <label htmlFor={`${id}-note`}>Note (optional)</label>
          <input id={`${id}-note`} value={values.note} maxLength={500} onChange={(e) => set("note")(e.target.value)} />
        </div>
        {violations && violations.length > 0 && (
          <ViolationList
            title={`Not saved${person ? ` — ${person.display_name}` : ""}${values.day ? `, ${dayLabel(values.day)}` : ""}: the rota rules refuse this shift.`}
            violations={violations}
            timezone={timezone}
          />
        )}
        {error && (
          <div className="form-error" role="alert">
            {error}
          </div>
        )}
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={busy}>
            {busy ? "Saving…" : "Assign shift"}
          </button>
        </div>
      </form>
    </section>
  );
}

/** The selected shift: move it (person, day), give it another definition, or take it off. */
export function ShiftEditor({
  shift,
  people,
  days,
  definitions,
  busy,
  violations,
  error,
  timezone,
  headingRef,
  onSave,
  onRemove,
  onClose,
}: {
  shift: Shift;
  people: readonly RotaStaff[];
  days: readonly string[];
  definitions: readonly ShiftDefinition[];
  busy: boolean;
  violations: readonly Violation[] | null;
  error: string | null;
  timezone: string;
  headingRef?: RefObject<HTMLHeadingElement | null>;
  onSave: (changes: { staff_id?: string; date?: string; definition_id?: string; note?: string | null }) => void;
  onRemove: () => void;
  onClose: () => void;
}) {
  const id = useId();
  const [staffId, setStaffId] = useState(shift.staff_id);
  const [day, setDay] = useState(shift.date);
  const [definitionId, setDefinitionId] = useState("");
  const [note, setNote] = useState(shift.note ?? "");
  const [confirming, setConfirming] = useState(false);
  const dayChoices = days.includes(shift.date) ? days : [shift.date, ...days];

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const changes: { staff_id?: string; date?: string; definition_id?: string; note?: string | null } = {};
    if (staffId !== shift.staff_id) changes.staff_id = staffId;
    if (day !== shift.date) changes.date = day;
    if (definitionId) changes.definition_id = definitionId;
    if (note.trim() !== (shift.note ?? "")) changes.note = note.trim() || null;
    if (Object.keys(changes).length === 0) {
      onClose();
      return;
    }
    onSave(changes);
  };

  return (
    <section className="panel rota-panel rota-editor" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`} className="panel-title focus-target" ref={headingRef} tabIndex={-1}>
        {shiftTitle(shift)} shift <span className="muted">{shiftTimes(shift)}</span>
      </h2>
      <p className="muted small">
        {shift.staff_name} · {longDayLabel(shift.date)} · {shift.clinical ? "clinical" : "non-clinical"}
      </p>
      <form onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor={`${id}-staff`}>Move to</label>
          <select id={`${id}-staff`} value={staffId} onChange={(e) => setStaffId(e.target.value)}>
            {!people.some((p) => p.id === shift.staff_id) && <option value={shift.staff_id}>{shift.staff_name}</option>}
            {people.map((p) => (
              <option key={p.id} value={p.id}>
                {p.display_name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-day`}>On</label>
          <select id={`${id}-day`} value={day} onChange={(e) => setDay(e.target.value)}>
            {dayChoices.map((d) => (
              <option key={d} value={d}>
                {longDayLabel(d)}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-definition`}>Shift</label>
          <select id={`${id}-definition`} value={definitionId} onChange={(e) => setDefinitionId(e.target.value)}>
            <option value="">Keep {shiftTimes(shift)}</option>
            {definitions.map((d) => (
              <option key={d.id} value={d.id}>
                {definitionLabel(d)}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-note`}>Note</label>
          <input id={`${id}-note`} value={note} maxLength={500} onChange={(e) => setNote(e.target.value)} />
        </div>
        {violations && violations.length > 0 && (
          <ViolationList title="Not saved: the rota rules refuse this change." violations={violations} timezone={timezone} />
        )}
        {error && (
          <div className="form-error" role="alert">
            {error}
          </div>
        )}
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={busy}>
            Save changes
          </button>
          {confirming ? (
            <>
              <button type="button" className="button button-danger" disabled={busy} onClick={onRemove}>
                Remove this shift
              </button>
              <button type="button" className="button button-quiet" onClick={() => setConfirming(false)}>
                Keep it
              </button>
            </>
          ) : (
            <button type="button" className="button button-quiet" onClick={() => setConfirming(true)}>
              Remove shift…
            </button>
          )}
          <button type="button" className="button button-quiet" onClick={onClose}>
            Close
          </button>
        </div>
      </form>
    </section>
  );
}

export function LeaveDetails({
  leave,
  timezone,
  busy,
  error,
  headingRef,
  onDelete,
  onClose,
}: {
  leave: Leave;
  timezone: string;
  busy: boolean;
  error: string | null;
  headingRef?: RefObject<HTMLHeadingElement | null>;
  onDelete: () => void;
  onClose: () => void;
}) {
  const id = useId();
  const [confirming, setConfirming] = useState(false);
  const when = leave.all_day
    ? leave.start_date === leave.end_date
      ? longDayLabel(leave.start_date)
      : `${shortDate(leave.start_date)} – ${shortDate(leave.end_date)}`
    : `${zonedLabel(leave.starts_at, timezone)} – ${zonedLabel(leave.ends_at, timezone)}`;
  return (
    <section className="panel rota-panel rota-editor" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`} className="panel-title focus-target" ref={headingRef} tabIndex={-1}>
        {leaveLabel(leave.kind)} <span className="muted">{leave.staff_name}</span>
      </h2>
      <p>{when}</p>
      {leave.note && <p className="muted">{leave.note}</p>}
      {error && (
        <div className="form-error" role="alert">
          {error}
        </div>
      )}
      <div className="form-actions">
        {confirming ? (
          <>
            <button type="button" className="button button-danger" disabled={busy} onClick={onDelete}>
              Delete this leave
            </button>
            <button type="button" className="button button-quiet" onClick={() => setConfirming(false)}>
              Keep it
            </button>
          </>
        ) : (
          <button type="button" className="button button-quiet" onClick={() => setConfirming(true)}>
            Delete leave…
          </button>
        )}
        <button type="button" className="button button-quiet" onClick={onClose}>
          Close
        </button>
      </div>
    </section>
  );
}

interface LeaveValues {
  staffId: string;
  kind: LeaveKind;
  startDate: string;
  endDate: string;
  note: string;
  cancelShifts: boolean;
}

type LeaveErrors = Partial<Record<"staffId" | "startDate" | "endDate", string>>;

export function validateLeave(v: Pick<LeaveValues, "staffId" | "startDate" | "endDate">): LeaveErrors {
  const errors: LeaveErrors = {};
  if (!v.staffId) errors.staffId = "Choose whose leave it is.";
  if (!v.startDate) errors.startDate = "Give the first day.";
  if (!v.endDate) errors.endDate = "Give the last day.";
  else if (v.startDate && v.endDate < v.startDate) errors.endDate = "The last day is before the first.";
  return errors;
}

export function LeaveForm({
  api,
  people,
  defaultDay,
  onSaved,
}: {
  api: ApiClient;
  people: readonly RotaStaff[];
  defaultDay: string;
  onSaved: (result: LeaveResult) => void;
}) {
  const id = useId();
  const [v, setV] = useState<LeaveValues>({
    staffId: "",
    kind: "annual",
    startDate: defaultDay,
    endDate: defaultDay,
    note: "",
    cancelShifts: false,
  });
  const [errors, setErrors] = useState<LeaveErrors>({});
  const [error, setError] = useState<string | null>(null);
  const [clashes, setClashes] = useState<string[] | null>(null);
  const [booked, setBooked] = useState<StrandedAppointments | null>(null);
  const [busy, setBusy] = useState(false);

  const set = <K extends keyof LeaveValues>(key: K, value: LeaveValues[K]) => {
    setV((old) => {
      const next = { ...old, [key]: value };
      // Moving the first day past the last drags the last day along.
      if (key === "startDate" && typeof value === "string" && value && (!old.endDate || old.endDate < value)) {
        next.endDate = value;
      }
      return next;
    });
    setErrors((e) => ({ ...e, [key]: undefined }));
    setError(null);
    if (key !== "cancelShifts" && key !== "note") setClashes(null);
    if (key !== "note") setBooked(null);
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void save(false);
  };

  /** `acknowledge`: record it although appointments are booked in the period (asked first). */
  const save = async (acknowledge: boolean) => {
    const errs = validateLeave(v);
    setErrors(errs);
    const first = (Object.keys(errs) as (keyof LeaveErrors)[])[0];
    if (first) {
      document.getElementById(`${id}-${first}`)?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const result = await createLeave(api, {
        staff_id: v.staffId,
        kind: v.kind,
        start_date: v.startDate,
        end_date: v.endDate,
        note: v.note.trim() || null,
        cancel_shifts: v.cancelShifts,
        acknowledge_appointments: acknowledge,
      });
      setClashes(null);
      setBooked(null);
      setV((old) => ({ ...old, note: "", cancelShifts: false }));
      onSaved(result);
    } catch (err) {
      const found = shiftsDuringLeaveOf(err);
      const appointments = strandedAppointmentsOf(err, "appointments_during_leave");
      if (found) {
        setClashes(found.map((s) => s.day).filter(Boolean));
      } else if (appointments) {
        setBooked(appointments);
      } else {
        setError(describeError(err));
      }
    } finally {
      setBusy(false);
    }
  };

  const described = (key: keyof LeaveErrors) =>
    errors[key] ? { "aria-invalid": true as const, "aria-describedby": `${id}-${key}-error` } : {};
  const fieldError = (key: keyof LeaveErrors) =>
    errors[key] ? (
      <span className="field-error" id={`${id}-${key}-error`}>
        {errors[key]}
      </span>
    ) : null;

  return (
    <section className="panel rota-panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`} className="panel-title">
        Record leave
      </h2>
      <form onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor={`${id}-staffId`}>Staff member</label>
          <select id={`${id}-staffId`} value={v.staffId} onChange={(e) => set("staffId", e.target.value)} {...described("staffId")}>
            <option value="">Choose…</option>
            {people.map((p) => (
              <option key={p.id} value={p.id}>
                {p.display_name}
              </option>
            ))}
          </select>
          {fieldError("staffId")}
        </div>
        <div className="field">
          <label htmlFor={`${id}-kind`}>Kind</label>
          <select id={`${id}-kind`} value={v.kind} onChange={(e) => set("kind", e.target.value as LeaveKind)}>
            {LEAVE_KINDS.map((k) => (
              <option key={k} value={k}>
                {leaveLabel(k)}
              </option>
            ))}
          </select>
        </div>
        <div className="field-pair field-pair-even">
          <div className="field">
            <label htmlFor={`${id}-startDate`}>First day</label>
            <input
              id={`${id}-startDate`}
              type="date"
              value={v.startDate}
              onChange={(e) => set("startDate", e.target.value)}
              {...described("startDate")}
            />
            {fieldError("startDate")}
          </div>
          <div className="field">
            <label htmlFor={`${id}-endDate`}>Last day</label>
            <input
              id={`${id}-endDate`}
              type="date"
              value={v.endDate}
              min={v.startDate || undefined}
              onChange={(e) => set("endDate", e.target.value)}
              {...described("endDate")}
            />
            {fieldError("endDate")}
          </div>
        </div>
        <div className="field">
          <label htmlFor={`${id}-note`}>Note (optional)</label>
          <input id={`${id}-note`} value={v.note} maxLength={500} onChange={(e) => set("note", e.target.value)} />
        </div>
        {clashes && (
          <div className="violation-panel" role="alert">
            <p className="violation-title">Not saved: there are shifts during this leave.</p>
            <p>
              {clashes.length > 0 ? `On ${clashes.map(dayLabel).join(", ")}. ` : ""}
              Remove them first, or tick “Also take their shifts in this period off the rota” and record the leave again.
            </p>
          </div>
        )}
        {booked && (

          <BookedWarning

            booked={booked}

            where="in this period — record anyway?"

            note="They stay booked: reschedule them with the patients once the leave is recorded."

            action="Record anyway"

            busy={busy}

            onConfirm={() => void save(true)}

          />

        )}
        <label className="check">
          <input type="checkbox" checked={v.cancelShifts} onChange={(e) => set("cancelShifts", e.target.checked)} />
          Also take their shifts in this period off the rota
        </label>
        {error && (
          <div className="form-error" role="alert">
            {error}
          </div>
        )}
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={busy}>
            {busy ? "Saving…" : "Record leave"}
          </button>
        </div>
      </form>
    </section>
  );
}
