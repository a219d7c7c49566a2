import { useCallback, useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { Link } from "react-router";
import type { ApiClient } from "../api/client";
import { ApiError, describeError } from "../api/errors";
import type {
  Allergy,
  Condition,
  MedicationRequest,
  MedicationRequestCreated,
  Observation,
  Patient,
  PatientChart,
} from "../api/types";
import { useAuth } from "../auth/AuthContext";
import { getChart, getPatient, stopMedication } from "./api";
import {
  ageOf,
  codingCode,
  codingText,
  formatDate,
  formatDateTime,
  formatDay,
  fullName,
  quantity,
  sexLabel,
} from "./format";
import { HistoryTabs } from "./HistoryTabs";
import { useLoad } from "./hooks";
import { PrescribePanel } from "./PrescribePanel";
import { IDENTIFIER_SYSTEMS } from "./registration";
import { observationLabel, observationValue } from "./vitals";

// --- header ----------------------------------------------------------------------------

function criticalityLabel(c: string | null | undefined): string | null {
  if (c === "high") return "High";
  if (c === "low") return "Low";
  if (c === "unable-to-assess") return "Unassessed";
  return null;
}

export function AllergyBadges({ allergies }: { allergies: readonly Allergy[] }) {
  if (allergies.length === 0) {
    return (
      <p className="allergy-strip">
        <span className="allergy-strip-label">Allergies</span>
        <span className="allergy-badge allergy-none">None recorded</span>
      </p>
    );
  }
  return (
    <div className="allergy-strip">
      <span className="allergy-strip-label" id="allergy-strip-label">
        Allergies
      </span>
      <ul aria-labelledby="allergy-strip-label">
        {allergies.map((a) => {
          const crit = criticalityLabel(a.criticality);
          const high = a.criticality === "high";
          const reactions = a.reactions.map((r) => codingText(r.manifestation)).join(", ");
          return (
            <li
              key={a.id}
              className={`allergy-badge${high ? " allergy-high" : ""}`}
              title={[codingCode(a.code), reactions && `Reaction: ${reactions}`].filter(Boolean).join(" · ") || undefined}
            >
              <span aria-hidden="true">{high ? "⚠ " : ""}</span>
              {codingText(a.code)}
              {crit && <span className="allergy-crit"> · {high ? "HIGH" : crit}</span>}
              {high && <span className="visually-hidden"> criticality</span>}
            </li>
          );
        })}
      </ul>
    </div>
  );
}

function PatientHeader({
  patient,
  allergies,
  level,
}: {
  patient: Patient;
  allergies: readonly Allergy[] | null;
  level: 1 | 2;
}) {
  const age = ageOf(patient.birth_date);
  const Title = level === 1 ? "h1" : "h2";
  return (
    <header className="patient-header">
      <div className="patient-id">
        <Title id="patient-title" className="patient-name">
          {fullName(patient)}
        </Title>
        <dl className="patient-facts">
          <div>
            <dt>MRN</dt>
            <dd className="mono">{patient.mrn}</dd>
          </div>
          <div>
            <dt>Born</dt>
            <dd>
              {formatDate(patient.birth_date)}
              {age && ` (${age})`}
            </dd>
          </div>
          <div>
            <dt>Sex</dt>
            <dd>{sexLabel(patient.gender)}</dd>
          </div>
          {patient.deceased && (
            <div>
              <dt>Status</dt>
              <dd className="text-danger">Deceased{patient.deceased_at ? ` ${formatDay(patient.deceased_at)}` : ""}</dd>
            </div>
          )}
          {!patient.active && (
            <div>
              <dt>Record</dt>
              <dd>Inactive</dd>
            </div>
          )}
        </dl>
      </div>
      {allergies && <AllergyBadges allergies={allergies} />}
    </header>
  );
}

// --- summary ---------------------------------------------------------------------------

function Card({ title, children, action }: { title: string; children: ReactNode; action?: ReactNode }) {
  const id = `card-${title.toLowerCase().replace(/\W+/g, "-")}`;
  return (
    <section className="summary-card" aria-labelledby={id}>
      <div className="summary-card-head">
        <h2 id={id}>{title}</h2>
        {action}
      </div>
      {children}
    </section>
  );
}

function ProblemList({ problems }: { problems: Condition[] }) {
  if (problems.length === 0) return <p className="muted">No active problems.</p>;
  return (
    <ul className="plain-list">
      {problems.map((c) => (
        <li key={c.id}>
          {codingText(c.code)} {codingCode(c.code) && <span className="code">{codingCode(c.code)}</span>}
          {c.onset_at && <div className="muted small">Since {formatDay(c.onset_at)}</div>}
        </li>
      ))}
    </ul>
  );
}

function AllergyList({ allergies }: { allergies: Allergy[] }) {
  if (allergies.length === 0) return <p className="muted">No allergies recorded.</p>;
  return (
    <ul className="plain-list">
      {allergies.map((a) => (
        <li key={a.id}>
          <strong>{codingText(a.code)}</strong>
          {a.criticality === "high" && <span className="tag tag-danger">High criticality</span>}
          {a.criticality === "low" && <span className="tag">Low criticality</span>}
          <div className="muted small">
            {[a.category, a.type, codingCode(a.code)].filter(Boolean).join(" · ")}
            {a.reactions.length > 0 &&
              ` · ${a.reactions.map((r) => `${codingText(r.manifestation)}${r.severity ? ` (${r.severity})` : ""}`).join(", ")}`}
          </div>
        </li>
      ))}
    </ul>
  );
}

function medicationLine(m: MedicationRequest): string {
  const parts = [
    m.dose_value ? quantity(m.dose_value, m.dose_unit) : null,
    m.route ? codingText(m.route).toLowerCase() : null,
    m.frequency,
    m.duration_value ? `for ${quantity(m.duration_value, DURATION[m.duration_unit ?? ""] ?? m.duration_unit)}` : null,
  ];
  return parts.filter(Boolean).join(" · ");
}

const DURATION: Record<string, string> = { h: "hours", d: "days", wk: "weeks", mo: "months", a: "years" };

function StopForm({
  api,
  patientId,
  med,
  onDone,
  onCancel,
}: {
  api: ApiClient;
  patientId: string;
  med: MedicationRequest;
  onDone: (med: MedicationRequest) => void;
  onCancel: () => void;
}) {
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => ref.current?.focus(), []);
  const fieldId = `stop-${med.id}`;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!reason.trim()) {
      setError("Give the reason for stopping.");
      ref.current?.focus();
      return;
    }
    setSending(true);
    try {
      onDone(await stopMedication(api, patientId, med.id, reason.trim()));
    } catch (err) {
      setError(describeError(err));
      setSending(false);
    }
  };

  return (
    <form className="stop-form" onSubmit={submit} noValidate>
      <label htmlFor={fieldId}>Reason for stopping {codingText(med.medication)}</label>
      <textarea
        id={fieldId}
        ref={ref}
        rows={2}
        value={reason}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${fieldId}-error` : undefined}
        onChange={(e) => {
          setReason(e.target.value);
          setError(null);
        }}
      />
      {error && (
        <span className="field-error" id={`${fieldId}-error`} role="alert">
          {error}
        </span>
      )}
      <div className="form-actions">
        <button type="submit" className="button button-danger button-small" disabled={sending}>
          {sending ? "Stopping…" : "Stop medication"}
        </button>
        <button type="button" className="button button-quiet button-small" onClick={onCancel} disabled={sending}>
          Keep it
        </button>
      </div>
    </form>
  );
}

function MedicationList({
  api,
  patientId,
  meds,
  canPrescribe,
  onStopped,
}: {
  api: ApiClient;
  patientId: string;
  meds: MedicationRequest[];
  canPrescribe: boolean;
  onStopped: (med: MedicationRequest) => void;
}) {
  const [stopping, setStopping] = useState<string | null>(null);
  if (meds.length === 0) return <p className="muted">No active medications.</p>;
  return (
    <ul className="plain-list" aria-label="Active medications">
      {meds.map((m) => (
        <li key={m.id}>
          <div className="med-row">
            <div>
              <strong>{codingText(m.medication)}</strong>{" "}
              {codingCode(m.medication) && <span className="code">{codingCode(m.medication)}</span>}
              <div className="small">{medicationLine(m)}</div>
              <div className="muted small">
                {m.prescriber_display ?? "Unknown prescriber"} · {formatDay(m.authored_at)}
                {m.refills > 0 && ` · ${m.refills} refill${m.refills === 1 ? "" : "s"}`}
              </div>
              {m.allergy_override_reason && (
                <div className="override-note small">
                  <strong>Allergy overridden:</strong> {m.allergy_override_reason}
                </div>
              )}
            </div>
            {canPrescribe && stopping !== m.id && (
              <button
                type="button"
                className="button button-quiet button-small"
                onClick={() => setStopping(m.id)}
                aria-label={`Stop ${codingText(m.medication)}`}
              >
                Stop
              </button>
            )}
          </div>
          {stopping === m.id && (
            <StopForm
              api={api}
              patientId={patientId}
              med={m}
              onCancel={() => setStopping(null)}
              onDone={(stopped) => {
                setStopping(null);
                onStopped(stopped);
              }}
            />
          )}
        </li>
      ))}
    </ul>
  );
}

function VitalsList({ vitals }: { vitals: Observation[] }) {
  if (vitals.length === 0) return <p className="muted">No vital signs recorded.</p>;
  return (
    <dl className="vitals-list">
      {vitals.map((o) => (
        <div key={o.id}>
          <dt>{observationLabel(o)}</dt>
          <dd>
            <strong>{observationValue(o)}</strong>
            {o.interpretation && <span className="tag">{codingText(o.interpretation)}</span>}
            <span className="muted small"> {formatDateTime(o.effective_at)}</span>
          </dd>
        </div>
      ))}
    </dl>
  );
}

function more(list: unknown[], limit: number) {
  return list.length >= limit ? <p className="muted small">Showing the first {limit}; see the history below.</p> : null;
}

// --- demographics ----------------------------------------------------------------------

function Demographics({ patient }: { patient: Patient }) {
  const phone = patient.telecoms.filter((t) => t.system === "phone" || t.system === "sms");
  const email = patient.telecoms.filter((t) => t.system === "email");
  const address = patient.addresses[0];
  const emergency = patient.contacts[0];
  const identifiers = patient.identifiers;
  return (
    <section className="summary-card demographics" aria-labelledby="demographics-title">
      <div className="summary-card-head">
        <h2 id="demographics-title">Demographics</h2>
      </div>
      <dl className="facts-grid">
        <div>
          <dt>Phone</dt>
          <dd>{phone.length ? phone.map((t) => `${t.value}${t.use ? ` (${t.use})` : ""}`).join(", ") : "—"}</dd>
        </div>
        <div>
          <dt>Email</dt>
          <dd>{email.length ? email.map((t) => t.value).join(", ") : "—"}</dd>
        </div>
        <div>
          <dt>Address</dt>
          <dd>
            {address
              ? address.text ||
                [address.line.join(", "), address.city, address.state, address.postal_code, address.country]
                  .filter(Boolean)
                  .join(", ")
              : "—"}
          </dd>
        </div>
        <div>
          <dt>Preferred language</dt>
          <dd>{patient.preferred_language ?? "—"}</dd>
        </div>
        <div>
          <dt>Emergency contact</dt>
          <dd>
            {emergency
              ? [emergency.name, emergency.relationship ? codingText(emergency.relationship) : null, emergency.phone, emergency.email]
                  .filter(Boolean)
                  .join(" · ")
              : "—"}
          </dd>
        </div>
        <div>
          <dt>Identifiers</dt>
          <dd>
            {identifiers.length === 0
              ? "—"
              : identifiers.map((i) => (
                  <div key={`${i.system}|${i.value}`}>
                    <span className="mono">{i.value}</span>{" "}
                    <span className="muted small">
                      {i.type ? codingText(i.type) : (IDENTIFIER_SYSTEMS.find((s) => s.system === i.system)?.label ?? i.system)}
                    </span>
                  </div>
                ))}
          </dd>
        </div>
      </dl>
    </section>
  );
}

// --- the record ------------------------------------------------------------------------

function LoadError({ error, onRetry }: { error: unknown; onRetry: () => void }) {
  const notFound = error instanceof ApiError && error.status === 404;
  return (
    <section className="page" aria-labelledby="record-error">
      <h1 id="record-error">{notFound ? "Patient not found" : "The record could not be loaded"}</h1>
      <div className="form-error" role="alert">
        {notFound ? "There is no patient record at this address, or you may not open it." : describeError(error)}{" "}
        {!notFound && (
          <button type="button" className="link-button" onClick={onRetry}>
            Try again
          </button>
        )}
      </div>
    </section>
  );
}

/**
 * One patient's record. `clinical` decides what is even requested: without it only demographics
 * are fetched (a receptionist's chart request would be refused). `readOnly` (the portal) hides
 * every write action whatever the permissions say.
 */
export function PatientRecord({
  patientId,
  clinical,
  canPrescribe,
  readOnly = false,
  embedded = false,
  encounterId = null,
}: {
  patientId: string;
  clinical: boolean;
  canPrescribe: boolean;
  readOnly?: boolean;
  /** Prescriptions written here belong to this encounter (the video visit beside the chart). */
  encounterId?: string | null;
  /** Inside another page (the portal's home): no back link, the name is an h2. */
  embedded?: boolean;
}) {
  const { api } = useAuth();
  const chart = useLoad<PatientChart>((signal) => getChart(api, patientId, signal), [api, patientId], clinical);
  const demographics = useLoad<Patient>((signal) => getPatient(api, patientId, signal), [api, patientId], !clinical);
  const [prescribing, setPrescribing] = useState(false);
  const [announcement, setAnnouncement] = useState("");
  const [allergyNotice, setAllergyNotice] = useState<string | null>(null);
  const prescribeButton = useRef<HTMLButtonElement>(null);
  const medsRef = useRef<HTMLDivElement>(null);
  const reloadChart = chart.reload;

  const onPrescribed = useCallback(
    (med: MedicationRequestCreated) => {
      setPrescribing(false);
      // The check could compare some allergies by name only: say so where it cannot be missed.
      const check = med.allergy_check;
      setAllergyNotice(check?.status === "names_only" ? check.message : null);
      setAnnouncement(`Prescribed ${codingText(med.medication)}.`);
      reloadChart();
      // Back to the medications, where the new one is: the panel that closed was long (an
      // override especially), and focus alone leaves the page where it was when the target
      // counts as visible under the sticky patient header.
      requestAnimationFrame(() => {
        medsRef.current?.focus({ preventScroll: true });
        medsRef.current?.closest("section")?.scrollIntoView({ block: "center" });
      });
    },
    [reloadChart],
  );

  const state = clinical ? chart : demographics;
  const patient: Patient | null = clinical ? (chart.data?.patient ?? null) : demographics.data;
  if (state.status === "error" && !patient) return <LoadError error={state.error} onRetry={state.reload} />;
  if (!patient) {
    return (
      <p className="page-loading" role="status">
        <span className="spinner" aria-hidden="true" /> Loading the record…
      </p>
    );
  }
  const data = chart.data;
  const mayPrescribe = canPrescribe && !readOnly;

  return (
    <section className={embedded ? "chart" : "page page-wide chart"} aria-labelledby="patient-title">
      {!embedded && (
        <p className="breadcrumb">
          <Link to="/patients">← Patients</Link>
        </p>
      )}
      <PatientHeader patient={patient} allergies={clinical && data ? data.allergies : null} level={embedded ? 2 : 1} />
      {allergyNotice && (
        <div className="allergy-hint" role="note" aria-label="Allergy check">
          <strong>⚠ Allergy check by name only:</strong> {allergyNotice}
        </div>
      )}
      {state.status === "error" && (
        <div className="form-error" role="alert">
          Could not refresh the chart: {describeError(state.error)}
        </div>
      )}

      {clinical && data ? (
        <>
          {mayPrescribe && !prescribing && (
            <div className="chart-actions">
              <button
                ref={prescribeButton}
                type="button"
                className="button button-primary"
                onClick={() => {
                  setAnnouncement("");
                  setAllergyNotice(null);
                  setPrescribing(true);
                }}
              >
                Prescribe…
              </button>
            </div>
          )}
          {mayPrescribe && prescribing && (
            <PrescribePanel
              api={api}
              patientId={patientId}
              patientName={fullName(patient)}
              allergies={data.allergies}
              encounterId={encounterId}
              onPrescribed={onPrescribed}
              onCancel={() => {
                setPrescribing(false);
                requestAnimationFrame(() => prescribeButton.current?.focus());
              }}
            />
          )}
          <div className="summary-grid">
            <Card title="Active problems">
              <ProblemList problems={data.active_problems} />
              {more(data.active_problems, data.summary_limit)}
            </Card>
            <Card title="Allergies">
              <AllergyList allergies={data.allergies} />
            </Card>
            <Card title="Active medications">
              {/* What was just prescribed or stopped: said (a live region) and shown, here. */}
              <p className={announcement ? "notice notice-done" : "visually-hidden"} role="status" aria-live="polite">
                {announcement}
              </p>
              <div ref={medsRef} tabIndex={-1} className="focus-target">
                <MedicationList
                  api={api}
                  patientId={patientId}
                  meds={data.active_medications}
                  canPrescribe={mayPrescribe}
                  onStopped={(m) => {
                    setAnnouncement(`Stopped ${codingText(m.medication)}.`);
                    reloadChart();
                  }}
                />
                {more(data.active_medications, data.summary_limit)}
              </div>
            </Card>
            <Card title="Latest vitals">
              <VitalsList vitals={data.latest_vitals} />
            </Card>
          </div>
          <HistoryTabs api={api} patientId={patientId} counts={data.counts} />
          <Demographics patient={patient} />
        </>
      ) : (
        <>
          <p className="notice">Clinical information is not shown for your role; this view has demographics only.</p>
          <Demographics patient={patient} />
        </>
      )}
    </section>
  );
}
