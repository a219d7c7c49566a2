import { useId, useState, type FormEvent } from "react";
import type { ApiClient } from "../api/client";
import { describeError } from "../api/errors";
import { addLicence, updateLicence } from "./api";
import { BookedWarning } from "./BookedWarning";
import { daysBetween, shortDate } from "./dates";
import { EXPIRING_WARN_DAYS, covers, licenceTitle } from "./licence";
import { appointmentsCount, strandedAppointmentsOf, strandedInWarnings, type StrandedAppointments } from "./rota";
import type { LicenceCreate, LicenceUpdate, Qualification } from "./types";

/** Licence types coded by the hub itself (the demo's GMC/NMC registrations use it too). */
export const LICENCE_SYSTEM = "urn:hospital-hub:licence";

export interface LicenceValues {
  kind: "licence" | "qualification";
  type: string;
  code: string;
  number: string;
  issuer: string;
  validFrom: string;
  validTo: string;
}

const EMPTY: LicenceValues = { kind: "licence", type: "", code: "", number: "", issuer: "", validFrom: "", validTo: "" };

function valuesOf(q: Qualification): LicenceValues {
  return {
    kind: q.kind,
    type: q.code?.display ?? "",
    code: q.code?.code ?? "",
    number: q.number ?? "",
    issuer: q.issuer ?? "",
    validFrom: q.valid_from ?? "",
    validTo: q.valid_to ?? "",
  };
}

type LicenceErrors = Partial<Record<"type" | "validTo", string>>;

export function validateLicence(v: LicenceValues): LicenceErrors {
  const errors: LicenceErrors = {};
  if (!v.type.trim() && !v.code.trim() && !v.number.trim()) errors.type = "Give the type or the number.";
  if (v.validFrom && v.validTo && v.validTo < v.validFrom) errors.validTo = "Ends before it starts.";
  return errors;
}

/** The request body; an existing coding keeps its system. */
export function licenceBody(v: LicenceValues, existing?: Qualification): LicenceCreate {
  const type = v.type.trim();
  const code = v.code.trim();
  const coding =
    type || code
      ? {
          system: code ? (existing?.code?.system ?? LICENCE_SYSTEM) : (existing?.code?.system ?? null),
          code: code || null,
          display: type || null,
        }
      : null;
  return {
    kind: v.kind,
    code: coding,
    number: v.number.trim() || null,
    issuer: v.issuer.trim() || null,
    valid_from: v.validFrom || null,
    valid_to: v.validTo || null,
  };
}

/** valid, expiring (within the warning window), expired, or not yet valid on `today`. */
export function periodStatus(q: Qualification, today: string): { text: string; tone: "ok" | "warn" | "bad" | "muted" } {
  if (q.valid_from && today < q.valid_from) return { text: `From ${shortDate(q.valid_from)}`, tone: "muted" };
  if (q.valid_to && q.valid_to < today) return { text: "Expired", tone: "bad" };
  if (covers(q, today) && q.valid_to) {
    const left = daysBetween(today, q.valid_to);
    if (left <= EXPIRING_WARN_DAYS) return { text: left === 0 ? "Expires today" : `Expires in ${left} d`, tone: "warn" };
  }
  return { text: "Valid", tone: "ok" };
}

function LicenceForm({
  title,
  initial,
  submitLabel,
  onSubmit,
  onCancel,
}: {
  title: string;
  initial: LicenceValues;
  submitLabel: string;
  /** `acknowledge`: save although booked appointments would fall on unlicensed days (asked first). */
  onSubmit: (v: LicenceValues, acknowledge: boolean) => Promise<void>;
  onCancel: () => void;
}) {
  const id = useId();
  const [v, setV] = useState(initial);
  const [errors, setErrors] = useState<LicenceErrors>({});
  const [error, setError] = useState<string | null>(null);
  const [booked, setBooked] = useState<StrandedAppointments | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (key: keyof LicenceValues) => (value: string) => {
    setV((old) => ({ ...old, [key]: value }));
    setErrors((e) => ({ ...e, [key]: undefined }));
    setError(null);
    setBooked(null);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void save(false);
  };
  const save = async (acknowledge: boolean) => {
    const errs = validateLicence(v);
    setErrors(errs);
    const first = (Object.keys(errs) as (keyof LicenceErrors)[])[0];
    if (first) {
      document.getElementById(`${id}-${first}`)?.focus();
      return;
    }
    setBusy(true);
    try {
      await onSubmit(v, acknowledge);
    } catch (err) {
      const stranded = strandedAppointmentsOf(err, "appointments_without_licence");
      if (stranded) setBooked(stranded);
      else setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const input = (key: keyof LicenceValues, label: string, props: Record<string, unknown> = {}) => {
    const err = errors[key as keyof LicenceErrors];
    return (
      <div className="field">
        <label htmlFor={`${id}-${key}`}>{label}</label>
        <input
          id={`${id}-${key}`}
          value={v[key]}
          onChange={(e) => set(key)(e.target.value)}
          aria-invalid={err ? true : undefined}
          aria-describedby={err ? `${id}-${key}-error` : undefined}
          {...props}
        />
        {err && (
          <span className="field-error" id={`${id}-${key}-error`}>
            {err}
          </span>
        )}
      </div>
    );
  };
  return (
    <form className="panel licence-form" onSubmit={submit} noValidate aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`} className="panel-title">
        {title}
      </h3>
      <div className="form-grid">
        <div className="field">
          <label htmlFor={`${id}-kind`}>Kind</label>
          <select id={`${id}-kind`} value={v.kind} onChange={(e) => set("kind")(e.target.value)}>
            <option value="licence">Licence (needed for clinical shifts)</option>
            <option value="qualification">Qualification</option>
          </select>
        </div>
        {input("type", "Type", { autoFocus: true, placeholder: "e.g. GMC registration", maxLength: 255 })}
        {input("number", "Number", { maxLength: 190, autoComplete: "off" })}
        {input("issuer", "Issuer", { maxLength: 200 })}
        {input("validFrom", "Valid from", { type: "date" })}
        {input("validTo", "Valid to", { type: "date", min: v.validFrom || undefined })}
        {input("code", "Type code (optional)", { maxLength: 64, autoComplete: "off" })}
      </div>
      {error && (
        <div className="form-error" role="alert">
          {error}
        </div>
      )}
      {booked && (

        <BookedWarning

          booked={booked}

          where="on days this leaves without a valid licence — save anyway?"

          note="They stay booked: reschedule them with the patients."

          action="Save anyway"

          busy={busy}

          onConfirm={() => void save(true)}

        />

      )}
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? "Saving…" : submitLabel}
        </button>
        <button type="button" className="button button-quiet" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function LicencesSection({
  api,
  staffId,
  qualifications,
  today,
  canWrite,
  onChanged,
}: {
  api: ApiClient;
  staffId: string;
  qualifications: readonly Qualification[];
  today: string;
  canWrite: boolean;
  onChanged: (message: string) => void;
}) {
  const [editing, setEditing] = useState<string | "new" | null>(null);
  const sorted = [...qualifications].sort(
    (a, b) => (a.kind === b.kind ? (b.valid_to ?? "9999").localeCompare(a.valid_to ?? "9999") : a.kind === "licence" ? -1 : 1),
  );
  const editingRow = sorted.find((q) => q.id === editing);

  return (
    <section className="record-section" aria-labelledby="licences-heading">
      <div className="record-section-head">
        <h2 id="licences-heading">Licences and qualifications</h2>
        {canWrite && editing === null && (
          <button type="button" className="button button-quiet button-small" onClick={() => setEditing("new")}>
            Add licence…
          </button>
        )}
      </div>
      {sorted.length === 0 ? (
        <p className="muted">None on record.</p>
      ) : (
        <div className="table-wrap">
          <table className="data-table">
            <caption className="visually-hidden">Licences and qualifications</caption>
            <thead>
              <tr>
                <th scope="col">Licence</th>
                <th scope="col">Issuer</th>
                <th scope="col">Valid from</th>
                <th scope="col">Valid to</th>
                <th scope="col">Status</th>
                {canWrite && (
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {sorted.map((q) => {
                const st = periodStatus(q, today);
                return (
                  <tr key={q.id}>
                    <td>
                      {licenceTitle(q)}
                      {q.kind === "qualification" && <span className="tag">Qualification</span>}
                    </td>
                    <td>{q.issuer ?? <span className="muted">—</span>}</td>
                    <td>{shortDate(q.valid_from)}</td>
                    <td>{q.valid_to ? shortDate(q.valid_to) : <span className="muted">open</span>}</td>
                    <td>
                      <span className={`licence-badge licence-tone-${st.tone}`}>
                        {st.tone === "bad" ? "⚠ " : ""}
                        {st.text}
                      </span>
                    </td>
                    {canWrite && (
                      <td>
                        <button
                          type="button"
                          className="button button-quiet button-small"
                          aria-label={`Edit ${licenceTitle(q)}`}
                          onClick={() => setEditing(q.id)}
                        >
                          Edit
                        </button>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {editing === "new" && (
        <LicenceForm
          title="Add a licence"
          initial={EMPTY}
          submitLabel="Add licence"
          onCancel={() => setEditing(null)}
          onSubmit={async (v) => {
            const saved = await addLicence(api, staffId, licenceBody(v));
            setEditing(null);
            onChanged(`Added ${licenceTitle(saved)}.`);
          }}
        />
      )}
      {editingRow && (
        <LicenceForm
          key={editingRow.id}
          title={`Edit ${licenceTitle(editingRow)}`}
          initial={valuesOf(editingRow)}
          submitLabel="Save licence"
          onCancel={() => setEditing(null)}
          onSubmit={async (v, acknowledge) => {
            const body: LicenceUpdate = { ...licenceBody(v, editingRow), acknowledge_appointments: acknowledge };
            const saved = await updateLicence(api, staffId, editingRow.id, body);
            setEditing(null);
            const stranded = strandedInWarnings(saved.warnings);
            onChanged(
              `Saved ${licenceTitle(saved)}.` +
                (stranded ? ` ${appointmentsCount(stranded.total)} now fall on days without a valid licence: reschedule them.` : ""),
            );
          }}
        />
      )}
    </section>
  );
}
