import { useId, useMemo, useRef, useState, type ChangeEvent, type FormEvent, type ReactNode } from "react";
import type { ApiClient } from "../api/client";
import { describeError } from "../api/errors";
import type { Allergy, MedicationRequestCreated } from "../api/types";
import { prescribe } from "./api";
import { codingCode, codingText } from "./format";
import {
  EMPTY_PRESCRIPTION,
  ROUTES,
  SubmissionKeys,
  allergyConflictsOf,
  allergyHints,
  prescriptionBody,
  validatePrescription,
  type AllergyConflict,
  type PrescriptionErrors,
  type PrescriptionForm,
} from "./prescribing";

const FREQUENCIES = ["once daily", "twice daily", "three times daily", "every 8 hours", "every 6 hours", "at night", "as needed"];

function criticalityText(c: string | null | undefined): string | null {
  if (c === "high") return "high criticality";
  if (c === "low") return "low criticality";
  if (c === "unable-to-assess") return "criticality not assessed";
  return null;
}

export function PrescribePanel({
  api,
  patientId,
  patientName,
  allergies,
  onPrescribed,
  onCancel,
  newKey,
  encounterId,
}: {
  api: ApiClient;
  patientId: string;
  patientName: string;
  allergies: readonly Allergy[];
  onPrescribed: (med: MedicationRequestCreated) => void;
  onCancel: () => void;
  /** For tests; defaults to crypto.randomUUID. */
  newKey?: () => string;
  /** The encounter the prescription belongs to (a video visit's virtual encounter). */
  encounterId?: string | null;
}) {
  const id = useId();
  const [form, setForm] = useState<PrescriptionForm>(EMPTY_PRESCRIPTION);
  const [errors, setErrors] = useState<PrescriptionErrors>({});
  const [error, setError] = useState<string | null>(null);
  const [conflicts, setConflicts] = useState<AllergyConflict[] | null>(null);
  const [overriding, setOverriding] = useState(false);
  const [reason, setReason] = useState("");
  const [reasonError, setReasonError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const inFlight = useRef(false);
  const keys = useRef<SubmissionKeys | null>(null);
  keys.current ??= new SubmissionKeys(newKey);
  const formRef = useRef<HTMLFormElement>(null);
  const conflictRef = useRef<HTMLHeadingElement>(null);
  const reasonRef = useRef<HTMLTextAreaElement>(null);

  const hints = useMemo(() => allergyHints(allergies, form), [allergies, form]);

  const set = (key: keyof PrescriptionForm) => (e: ChangeEvent<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>) => {
    const value = e.target.value;
    setForm((f) => ({ ...f, [key]: value }));
    setErrors((errs) => ({ ...errs, [key]: undefined }));
    // The conflict answered a different prescription; an edit starts over.
    setConflicts(null);
    setOverriding(false);
    setError(null);
  };

  async function send(overrideReason?: string) {
    if (inFlight.current) return; // a second click while the first is on the wire
    const body = { ...prescriptionBody(form, overrideReason), ...(encounterId ? { encounter_id: encounterId } : {}) };
    const key = keys.current!.keyFor(body);
    inFlight.current = true;
    setSending(true);
    setError(null);
    try {
      const med = await prescribe(api, patientId, body, key);
      keys.current!.reset();
      onPrescribed(med);
    } catch (err) {
      const found = allergyConflictsOf(err);
      if (found) {
        setConflicts(found);
        setOverriding(false);
        requestAnimationFrame(() => conflictRef.current?.focus());
      } else {
        setError(describeError(err));
      }
    } finally {
      inFlight.current = false;
      setSending(false);
    }
  }

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const errs = validatePrescription(form);
    setErrors(errs);
    if (Object.values(errs).some(Boolean)) {
      const first = Object.keys(errs)[0];
      formRef.current?.querySelector<HTMLElement>(`[name="${first}"]`)?.focus();
      return;
    }
    void send();
  };

  const onOverride = (event: FormEvent) => {
    event.preventDefault();
    if (!reason.trim()) {
      setReasonError("Give the clinical reason for prescribing despite the allergy.");
      reasonRef.current?.focus();
      return;
    }
    void send(reason);
  };

  const field = (key: keyof PrescriptionForm, label: string, input: ReactNode, hint?: string) => (
    <div className="field">
      <label htmlFor={`${id}-${key}`}>{label}</label>
      {input}
      {hint && !errors[key] && (
        <span className="hint" id={`${id}-${key}-hint`}>
          {hint}
        </span>
      )}
      {errors[key] && (
        <span className="field-error" id={`${id}-${key}-error`}>
          {errors[key]}
        </span>
      )}
    </div>
  );
  const inputProps = (key: keyof PrescriptionForm) => ({
    id: `${id}-${key}`,
    name: key,
    value: form[key],
    onChange: set(key),
    "aria-invalid": errors[key] ? true : undefined,
    "aria-describedby": errors[key] ? `${id}-${key}-error` : undefined,
  });

  return (
    <section className="panel prescribe-panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`} className="panel-title">
        New prescription <span className="muted">for {patientName}</span>
      </h2>
      <form ref={formRef} onSubmit={onSubmit} noValidate>
        <div className="form-grid">
          <div className="span-2">
            {field("drugName", "Drug", <input {...inputProps("drugName")} autoFocus autoComplete="off" />)}
          </div>
          {field(
            "drugCode",
            "RxNorm code",
            <input {...inputProps("drugCode")} inputMode="numeric" autoComplete="off" />,
          )}
          {field(
            "ingredientCodes",
            "Ingredient codes (optional)",
            <input {...inputProps("ingredientCodes")} autoComplete="off" />,
            "RxNorm codes, separated by commas",
          )}
          <div className="field-pair">
            {field("doseValue", "Dose", <input {...inputProps("doseValue")} inputMode="decimal" />)}
            {field("doseUnit", "Unit", <input {...inputProps("doseUnit")} list={`${id}-units`} />)}
          </div>
          {field(
            "route",
            "Route",
            <select {...inputProps("route")}>
              <option value="">—</option>
              {ROUTES.map((r) => (
                <option key={r.code} value={r.code}>
                  {r.display}
                </option>
              ))}
            </select>,
          )}
          {field("frequency", "Frequency", <input {...inputProps("frequency")} list={`${id}-freq`} />)}
          <div className="field-pair">
            {field("durationValue", "Duration", <input {...inputProps("durationValue")} inputMode="decimal" />)}
            {field(
              "durationUnit",
              "Unit",
              <select {...inputProps("durationUnit")}>
                <option value="h">hours</option>
                <option value="d">days</option>
                <option value="wk">weeks</option>
                <option value="mo">months</option>
              </select>,
            )}
          </div>
          <div className="field-pair">
            {field("quantityValue", "Quantity", <input {...inputProps("quantityValue")} inputMode="decimal" />)}
            {field("quantityUnit", "Unit", <input {...inputProps("quantityUnit")} list={`${id}-qty-units`} />)}
          </div>
          {field("refills", "Refills", <input {...inputProps("refills")} inputMode="numeric" />)}
          <div className="span-2">
            {field("instructions", "Instructions for the patient", <textarea {...inputProps("instructions")} rows={2} />)}
          </div>
        </div>
        <datalist id={`${id}-units`}>
          {["mg", "g", "mcg", "mL", "[iU]", "{tbl}", "{puff}"].map((u) => (
            <option key={u} value={u} />
          ))}
        </datalist>
        <datalist id={`${id}-qty-units`}>
          {["{tbl}", "{capsule}", "mL", "g"].map((u) => (
            <option key={u} value={u} />
          ))}
        </datalist>
        <datalist id={`${id}-freq`}>
          {FREQUENCIES.map((f) => (
            <option key={f} value={f} />
          ))}
        </datalist>

        {/* The client-side hint: what the chart already says, before anything is sent. */}
        <div aria-live="polite">
          {hints.length > 0 && !conflicts && (
            <div className="allergy-hint" role="note">
              <strong>⚠ Check allergies:</strong>{" "}
              {hints.map((h, i) => (
                <span key={h.allergy.id}>
                  {i > 0 && "; "}
                  this drug may match the recorded allergy to <strong>{codingText(h.allergy.code)}</strong>
                  {codingCode(h.allergy.code) && ` (${codingCode(h.allergy.code)})`}
                  {criticalityText(h.allergy.criticality) && ` — ${criticalityText(h.allergy.criticality)}`}
                  {h.by === "code" ? ", same code" : ", similar name"}
                </span>
              ))}
              .
            </div>
          )}
        </div>

        {error && (
          <div className="form-error" role="alert">
            {error}
          </div>
        )}

        {!conflicts && (
          <div className="form-actions">
            <button type="submit" className="button button-primary" disabled={sending} aria-disabled={sending}>
              {sending ? "Prescribing…" : "Prescribe"}
            </button>
            <button type="button" className="button button-quiet" onClick={onCancel} disabled={sending}>
              Cancel
            </button>
          </div>
        )}
      </form>

      {conflicts && (
        <div className="conflict-panel" role="alert" aria-labelledby={`${id}-conflict-title`}>
          <h3 id={`${id}-conflict-title`} ref={conflictRef} tabIndex={-1}>
            <span aria-hidden="true">⚠ </span>Allergy conflict — not prescribed
          </h3>
          <ul>
            {conflicts.map((c, i) => (
              <li key={c.allergy.id ?? i}>
                {patientName} has a recorded allergy to <strong>{codingText(c.allergy.code)}</strong>
                {codingCode(c.allergy.code) && <> ({codingCode(c.allergy.code)})</>}
                {criticalityText(c.allergy.criticality) && (
                  <>
                    {" "}
                    — <strong className={c.allergy.criticality === "high" ? "text-danger" : undefined}>
                      {criticalityText(c.allergy.criticality)}
                    </strong>
                  </>
                )}
                . Matched on the {c.matched.on === "ingredient" ? "ingredient" : "drug"}{" "}
                {c.matched.by === "code" ? "code" : "name"}{" "}
                <strong className="mono">
                  {c.matched.by === "code"
                    ? (codingCode(c.matched) ?? c.matched.code)
                    : (c.matched.display ?? c.matched.code)}
                </strong>
                .
              </li>
            ))}
          </ul>
          {!overriding ? (
            <div className="form-actions">
              <button
                type="button"
                className="button button-quiet"
                onClick={() => {
                  setConflicts(null);
                  requestAnimationFrame(() => formRef.current?.querySelector<HTMLElement>('[name="drugName"]')?.focus());
                }}
              >
                Change the prescription
              </button>
              <button
                type="button"
                className="button button-danger"
                onClick={() => {
                  setOverriding(true);
                  requestAnimationFrame(() => reasonRef.current?.focus());
                }}
              >
                Override with reason…
              </button>
            </div>
          ) : (
            <form onSubmit={onOverride} noValidate>
              <div className="field">
                <label htmlFor={`${id}-reason`}>Reason for overriding the allergy (required)</label>
                <textarea
                  id={`${id}-reason`}
                  ref={reasonRef}
                  rows={3}
                  value={reason}
                  required
                  aria-required="true"
                  aria-invalid={reasonError ? true : undefined}
                  aria-describedby={reasonError ? `${id}-reason-error` : `${id}-reason-hint`}
                  onChange={(e) => {
                    setReason(e.target.value);
                    setReasonError(null);
                  }}
                />
                {reasonError ? (
                  <span className="field-error" id={`${id}-reason-error`}>
                    {reasonError}
                  </span>
                ) : (
                  <span className="hint" id={`${id}-reason-hint`}>
                    Recorded on the prescription and in the audit trail.
                  </span>
                )}
              </div>
              <div className="form-actions">
                <button type="submit" className="button button-danger" disabled={sending}>
                  {sending ? "Prescribing…" : "Prescribe despite allergy"}
                </button>
                <button type="button" className="button button-quiet" onClick={() => setOverriding(false)} disabled={sending}>
                  Back
                </button>
              </div>
            </form>
          )}
        </div>
      )}
    </section>
  );
}
