import { useEffect, useId, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { Icon } from "../components/Icon";
import { getPatient, searchPatients } from "../patients/api";
import { ageOf, formatDate, fullName, sortableName } from "../patients/format";
import { useDebouncedValue, useLoad } from "../patients/hooks";
import { Pager } from "../patients/Pager";
import { bookAppointment, leaveWaitlist, listAppointments, listDepartments, listTypes, listWaitlist } from "./api";
import { AppointmentActions } from "./AppointmentActions";
import { AppointmentSummary } from "./AppointmentSummary";
import { AttemptKeys, describeBookingError, isStaleSlot } from "./booking";
import { ClinicianPicker, type PickedClinician } from "./ClinicianPicker";
import { ConfirmSlot } from "./ConfirmSlot";
import { useSubmit } from "./hooks";
import { SlotPicker } from "./SlotPicker";
import { DEFAULT_ZONE, formatVisit, startOfDay, todayInZone } from "./time";
import type { Appointment, AppointmentCreate, Slot } from "./types";
import { WaitlistForm } from "./WaitlistForm";
import "./appointments.css";

const FIND_DEBOUNCE_MS = 300;
const APPOINTMENTS_PAGE = 20;

/** Reception's desk: find the patient, see and change their appointments, book a free slot. */
export function BookingDeskPage() {
  const [params, setParams] = useSearchParams();
  const patientId = params.get("patient");
  const [refresh, setRefresh] = useState(0);

  const choose = (id: string | null) =>
    setParams((p) => {
      const next = new URLSearchParams(p);
      if (id) next.set("patient", id);
      else next.delete("patient");
      next.delete("appointment");
      return next;
    });

  return (
    <section className="page page-wide" aria-labelledby="desk-title">
      <p className="breadcrumb">
        <Link to="/appointments">← Appointments</Link>
      </p>
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name="calendar" size={26} />
        </span>
        <div className="page-header-text">
          <h1 id="desk-title">Booking desk</h1>
          <p className="lead">Find a patient, book a free slot, and check in, move or cancel their appointments.</p>
        </div>
        <Link className="button button-quiet page-header-action" to="/appointments/calendar">
          Calendars
        </Link>
      </header>

      {patientId ? (
        <>
          <SelectedPatient id={patientId} onChange={() => choose(null)} />
          <div className="desk-grid">
            <PatientAppointments
              patientId={patientId}
              focusId={params.get("appointment")}
              refreshKey={refresh}
              onChanged={() => setRefresh((r) => r + 1)}
            />
            <PatientWaitlist patientId={patientId} refreshKey={refresh} />
            <BookPanel patientId={patientId} onBooked={() => setRefresh((r) => r + 1)} />
          </div>
        </>
      ) : (
        <PatientFinder onPick={choose} />
      )}
    </section>
  );
}

function PatientFinder({ onPick }: { onPick: (id: string) => void }) {
  const { api, permissions } = useAuth();
  const [text, setText] = useState("");
  const settled = useDebouncedValue(text.trim(), FIND_DEBOUNCE_MS);
  const enabled = settled.length >= 2;
  const result = useLoad(
    (signal) => searchPatients(api, { text: settled, birthDate: "", limit: 10, offset: 0 }, signal),
    [api, settled],
    enabled,
  );
  const data = enabled ? result.data : null;
  let status = "";
  if (!enabled) status = text.trim().length === 1 ? "Type at least 2 characters." : "";
  else if (result.status === "loading") status = "Searching…";
  else if (data && data.total === 0) status = "No patients match this search.";
  else if (data) status = `${data.total}${data.total_is_lower_bound ? "+" : ""} patient${data.total === 1 ? "" : "s"} found.`;

  return (
    <div className="panel desk-finder">
      <h2 className="panel-title">Who is the appointment for?</h2>
      <form role="search" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="desk-patient-search">Find a patient</label>
          <input
            id="desk-patient-search"
            type="search"
            value={text}
            autoFocus
            autoComplete="off"
            spellCheck={false}
            placeholder="Name, MRN or identifier"
            onChange={(e) => setText(e.target.value)}
          />
        </div>
      </form>
      <p className="search-status" role="status" aria-live="polite">
        {result.status === "loading" && enabled && <span className="spinner spinner-small" aria-hidden="true" />}
        {status}
      </p>
      {result.status === "error" && enabled && (
        <div className="form-error" role="alert">
          {describeError(result.error)}
        </div>
      )}
      {data && data.items.length > 0 && (
        <ul className="pick-list" aria-label="Matching patients">
          {data.items.map((p) => {
            const age = ageOf(p.birth_date);
            return (
              <li key={p.id}>
                <button type="button" className="pick" onClick={() => onPick(p.id)}>
                  <span className="pick-title">{sortableName(p)}</span>
                  <span className="pick-meta">
                    MRN <span className="mono">{p.mrn}</span> · born {formatDate(p.birth_date)}
                    {age ? ` (${age})` : ""}
                    {!p.active && " · inactive"}
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {permissions.has("patients:write") && (
        <p className="small muted desk-register">
          New patient? <Link to="/patients/new">Register them first</Link>.
        </p>
      )}
    </div>
  );
}

function SelectedPatient({ id, onChange }: { id: string; onChange: () => void }) {
  const { api } = useAuth();
  const result = useLoad((signal) => getPatient(api, id, signal), [api, id]);
  const p = result.data;
  return (
    <div className="patient-header desk-patient" aria-live="polite">
      {result.status === "error" ? (
        <div className="form-error" role="alert">
          {describeError(result.error)}
        </div>
      ) : p ? (
        <div className="patient-id">
          <h2 className="patient-name">{fullName(p)}</h2>
          <dl className="patient-facts">
            <div>
              <dt>MRN</dt>
              <dd className="mono">{p.mrn}</dd>
            </div>
            <div>
              <dt>Born</dt>
              <dd>
                {formatDate(p.birth_date)}
                {ageOf(p.birth_date) ? ` (${ageOf(p.birth_date)})` : ""}
              </dd>
            </div>
            {p.telecoms[0] && (
              <div>
                <dt>{p.telecoms[0].system === "email" ? "Email" : "Phone"}</dt>
                <dd>{p.telecoms[0].value}</dd>
              </div>
            )}
          </dl>
        </div>
      ) : (
        <p className="page-loading">
          <span className="spinner spinner-small" aria-hidden="true" /> Loading the patient…
        </p>
      )}
      <div>
        <button type="button" className="button button-quiet button-small" onClick={onChange}>
          Change patient
        </button>
      </div>
    </div>
  );
}

function PatientAppointments({
  patientId,
  focusId,
  refreshKey,
  onChanged,
}: {
  patientId: string;
  focusId: string | null;
  refreshKey: number;
  onChanged: () => void;
}) {
  const { api } = useAuth();
  const [offset, setOffset] = useState(0);
  const [past, setPast] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  // "Today" in the facility's zone: the default until an answer names the configured one.
  const [zone, setZone] = useState(DEFAULT_ZONE);
  const from = startOfDay(todayInZone(zone), zone).toISOString();
  const result = useLoad(
    (signal) =>
      listAppointments(
        api,
        past
          ? { patientId, end: from, limit: APPOINTMENTS_PAGE, offset }
          : { patientId, start: from, limit: APPOINTMENTS_PAGE, offset },
        signal,
      ),
    [api, patientId, past, offset, refreshKey, from],
  );
  useEffect(() => {
    const tz = result.data?.items[0]?.timezone;
    if (tz && tz !== zone) setZone(tz);
  }, [result.data, zone]);
  useEffect(() => setOffset(0), [patientId, past]);
  const focusRef = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (focusId && result.status === "ready") focusRef.current?.scrollIntoView({ block: "center" });
  }, [focusId, result.status]);

  const items = result.data?.items ?? [];
  return (
    <section className="desk-section" aria-labelledby="desk-appts-title">
      <div className="section-head">
        <h2 id="desk-appts-title" className="section-title">
          Appointments
        </h2>
        <div className="segmented" role="group" aria-label="Which appointments">
          <button type="button" aria-pressed={!past} onClick={() => setPast(false)}>
            Today and later
          </button>
          <button type="button" aria-pressed={past} onClick={() => setPast(true)}>
            Earlier
          </button>
        </div>
      </div>
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
      {result.status === "loading" && items.length === 0 && (
        <p className="page-loading">
          <span className="spinner spinner-small" aria-hidden="true" /> Loading appointments…
        </p>
      )}
      {result.status === "ready" && items.length === 0 && (
        <div className="empty">
          <p>{past ? "No earlier appointments." : "No appointments from today on."}</p>
        </div>
      )}
      {items.length > 0 && (
        <ul className="appt-list" aria-busy={result.status === "loading"}>
          {items.map((a) => (
            <li
              key={a.id}
              ref={a.id === focusId ? focusRef : undefined}
              className={`appt-item${a.id === focusId ? " appt-item-focus" : ""}${a.status === "cancelled" ? " appt-item-cancelled" : ""}`}
            >
              <AppointmentSummary appointment={a} />
              <AppointmentActions
                appointment={a}
                audience="staff"
                onChanged={(_, message) => {
                  setNotice(message);
                  onChanged();
                }}
                onStale={result.reload}
              />
            </li>
          ))}
        </ul>
      )}
      {result.data && (
        <Pager
          label="Appointments"
          total={result.data.total}
          limit={APPOINTMENTS_PAGE}
          offset={offset}
          busy={result.status === "loading"}
          onChange={setOffset}
        />
      )}
    </section>
  );
}

type Who = "any" | "clinician" | "department";

function BookPanel({ patientId, onBooked }: { patientId: string; onBooked: () => void }) {
  const { api } = useAuth();
  const id = useId();
  const types = useLoad((signal) => listTypes(api, undefined, signal), [api]);
  const departments = useLoad((signal) => listDepartments(api, signal), [api]);
  const [typeId, setTypeId] = useState<string>("");
  const [who, setWho] = useState<Who>("any");
  const [clinician, setClinician] = useState<PickedClinician | null>(null);
  const staffId = clinician?.id ?? "";
  const [departmentId, setDepartmentId] = useState("");
  const [slot, setSlot] = useState<Slot | null>(null);
  const [zone, setZone] = useState(DEFAULT_ZONE);
  const [refresh, setRefresh] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [booked, setBooked] = useState<Appointment | null>(null);
  const [waitlist, setWaitlist] = useState(false);
  const [waitlisted, setWaitlisted] = useState<string | null>(null);
  const keys = useRef(new AttemptKeys());
  const { busy, run } = useSubmit();
  const errorRef = useRef<HTMLDivElement>(null);

  // A new patient starts a new booking.
  useEffect(() => {
    setSlot(null);
    setBooked(null);
    setError(null);
    setWaitlist(false);
    setWaitlisted(null);
  }, [patientId]);

  const type = types.data?.find((t) => t.id === typeId) ?? null;
  const chosenStaff = who === "clinician" && staffId ? staffId : null;
  const chosenDepartment = who === "department" && departmentId ? departmentId : null;
  const ready = type !== null && (who === "any" || chosenStaff !== null || chosenDepartment !== null);

  const book = (reason: string) =>
    run(async () => {
      if (!slot || !type) return;
      setError(null);
      const body: AppointmentCreate = { type_id: type.id, staff_id: slot.staff_id, patient_id: patientId, start: slot.start };
      if (reason) body.reason = reason;
      try {
        const appointment = await bookAppointment(api, body, keys.current.keyFor(body));
        keys.current.settle(null);
        setBooked(appointment);
        setSlot(null);
        setRefresh((r) => r + 1);
        onBooked();
      } catch (err) {
        keys.current.settle(err);
        setError(describeBookingError(err, "staff"));
        if (isStaleSlot(err)) {
          setSlot(null);
          setRefresh((r) => r + 1);
        }
        requestAnimationFrame(() => errorRef.current?.focus());
      }
    });

  const staffName = chosenStaff !== null ? (clinician?.display_name ?? null) : null;

  return (
    <section className="panel desk-book" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`} className="panel-title">
        Book an appointment
      </h2>
      {booked && (
        <div className="notice-ok" role="status">
          Booked: {booked.type.name} with {booked.staff.display_name},{" "}
          <strong>{formatVisit(booked.local_start, booked.local_end)}</strong>.
        </div>
      )}
      {types.status === "error" && (
        <div className="form-error" role="alert">
          {describeError(types.error)}
        </div>
      )}
      <div className="form-grid">
        <div className="field span-2">
          <label htmlFor={`${id}-type`}>Appointment type</label>
          <select
            id={`${id}-type`}
            value={typeId}
            onChange={(e) => {
              setTypeId(e.target.value);
              setSlot(null);
              setBooked(null);
            }}
          >
            <option value="">Choose a type…</option>
            {(types.data ?? []).map((t) => (
              <option key={t.id} value={t.id}>
                {t.name} ({t.duration_minutes} min, {t.mode === "video" ? "video" : "in person"})
              </option>
            ))}
          </select>
        </div>
        <fieldset className="span-2 choice-row">
          <legend>With</legend>
          {(
            [
              ["any", "Any clinician"],
              ["clinician", "A clinician"],
              ["department", "A department"],
            ] as const
          ).map(([value, text]) => (
            <label key={value} className="check">
              <input
                type="radio"
                name={`${id}-who`}
                value={value}
                checked={who === value}
                onChange={() => {
                  setWho(value);
                  setSlot(null);
                }}
              />{" "}
              {text}
            </label>
          ))}
        </fieldset>
        {who === "clinician" && (
          <ClinicianPicker
            className="field span-2"
            value={staffId}
            selected={clinician}
            typeId={typeId || null}
            onChange={(c) => {
              setClinician(c);
              setSlot(null);
            }}
          />
        )}
        {who === "department" && (
          <div className="field span-2">
            <label htmlFor={`${id}-dept`}>Department</label>
            <select
              id={`${id}-dept`}
              value={departmentId}
              onChange={(e) => {
                setDepartmentId(e.target.value);
                setSlot(null);
              }}
            >
              <option value="">Choose a department…</option>
              {(departments.data ?? []).map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name}
                </option>
              ))}
            </select>
            {departments.status === "error" && <span className="field-error">{describeError(departments.error)}</span>}
          </div>
        )}
      </div>

      {ready && type ? (
        <>
          <SlotPicker
            typeId={type.id}
            staffId={chosenStaff}
            departmentId={chosenDepartment}
            selected={slot}
            onSelect={(s) => {
              setSlot(s);
              if (s) {
                setError(null);
                setBooked(null);
              }
            }}
            refreshKey={refresh}
            onLoaded={(_, tz) => setZone(tz)}
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
              title="Book this appointment?"
              confirmLabel="Book appointment"
              busyLabel="Booking…"
              reasonLabel="Reason for the visit (optional)"
              busy={busy}
              audience="staff"
              onConfirm={(reason) => void book(reason)}
              onBack={() => setSlot(null)}
            />
          )}
          {!slot && !waitlist && (
            <p className="small desk-waitlist-link">
              Nothing suitable?{" "}
              <button type="button" className="link-button" onClick={() => setWaitlist(true)}>
                Add the patient to the waitlist
              </button>
            </p>
          )}
          {waitlisted && (
            <div className="notice-ok" role="status">
              {waitlisted}
            </div>
          )}
          {waitlist && (
            <WaitlistForm
              audience="staff"
              patientId={patientId}
              typeId={type.id}
              typeName={type.name}
              staffId={chosenStaff}
              staffName={staffName}
              departmentId={chosenDepartment}
              zone={zone}
              onJoined={(entry) => {
                setWaitlist(false);
                setWaitlisted(`On the waitlist for ${type.name.toLowerCase()} from ${formatDate(entry.earliest)} to ${formatDate(entry.latest)}.`);
                onBooked();
              }}
              onClose={() => setWaitlist(false)}
            />
          )}
        </>
      ) : (
        <p className="muted small">Choose a type{who !== "any" ? ` and a ${who}` : ""} to see the free slots.</p>
      )}
    </section>
  );
}

function PatientWaitlist({ patientId, refreshKey }: { patientId: string; refreshKey: number }) {
  const { api } = useAuth();
  const [tick, setTick] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const types = useLoad((signal) => listTypes(api, undefined, signal), [api]);
  const result = useLoad(
    (signal) => listWaitlist(api, { patientId, status: ["waiting", "offered"] }, signal),
    [api, patientId, refreshKey, tick],
  );
  const { busy, run } = useSubmit();
  const items = result.data?.items ?? [];
  if (items.length === 0 && !error) return null;
  const typeName = (id: string) => types.data?.find((t) => t.id === id)?.name ?? "Appointment";
  return (
    <section className="desk-section" aria-labelledby="desk-waitlist-title">
      <h2 id="desk-waitlist-title" className="section-title">
        Waitlist
      </h2>
      {error && (
        <div className="form-error" role="alert">
          {error}
        </div>
      )}
      <ul className="appt-list">
        {items.map((w) => (
          <li key={w.id} className="appt-item">
            <div className="appt-summary">
              <p className="appt-what">
                {typeName(w.type_id)} <span className="appt-status appt-status-offered">{w.status === "offered" ? "Offered a slot" : "Waiting"}</span>
              </p>
              <p className="muted small">
                Between {formatDate(w.earliest)} and {formatDate(w.latest)}
                {w.note ? ` · “${w.note}”` : ""}
              </p>
            </div>
            <div className="appt-action-bar">
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
                      setError(describeBookingError(err));
                    }
                  })
                }
              >
                Remove from waitlist
              </button>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
