import { useId, useRef, useState, type ChangeEvent, type FormEvent, type ReactNode } from "react";
import { Link, useNavigate } from "react-router";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { Icon } from "../components/Icon";
import { registerPatient } from "./api";
import { SubmissionKeys } from "./prescribing";
import {
  EMPTY_REGISTRATION,
  IDENTIFIER_SYSTEMS,
  mapServerErrors,
  registrationPayload,
  validateRegistration,
  type FieldErrors,
  type FieldKey,
  type RegistrationForm,
  type ServerErrors,
} from "./registration";

const LABELS: Partial<Record<FieldKey, string>> = {
  prefix: "Prefix",
  given: "Given names",
  family: "Family name",
  suffix: "Suffix",
  birthDate: "Birth date",
  gender: "Sex",
  phone: "Phone",
  email: "Email",
  addressLine1: "Address line 1",
  addressLine2: "Address line 2",
  city: "City",
  state: "State / province",
  postalCode: "Postal code",
  country: "Country",
  language: "Preferred language",
  emergencyName: "Emergency contact name",
  emergencyRelationship: "Relationship",
  emergencyPhone: "Emergency contact phone",
  emergencyEmail: "Emergency contact email",
};

function labelOf(key: FieldKey): string {
  const m = /^identifiers\.(\d+)\.(system|value)$/.exec(key);
  if (m) return `Identifier ${Number(m[1]) + 1} ${m[2] === "system" ? "type" : "value"}`;
  return LABELS[key] ?? key;
}

export function RegisterPatientPage() {
  const { api, permissions } = useAuth();
  const navigate = useNavigate();
  const id = useId();
  const [form, setForm] = useState<RegistrationForm>(EMPTY_REGISTRATION);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [server, setServer] = useState<ServerErrors | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const keys = useRef(new SubmissionKeys());
  const inFlight = useRef(false);
  const summaryRef = useRef<HTMLDivElement>(null);

  if (!permissions.has("patients:write")) {
    return (
      <section className="page" aria-labelledby="register-title">
        <h1 id="register-title">Not available</h1>
        <p className="lead">Your role cannot register patients. Reception or a clinician can.</p>
      </section>
    );
  }

  const fieldId = (key: FieldKey) => `${id}-${key.replace(/\./g, "-")}`;

  const update = (key: Exclude<keyof RegistrationForm, "identifiers">) => (e: ChangeEvent<HTMLInputElement | HTMLSelectElement>) => {
    const value = e.target.value;
    setForm((f) => ({ ...f, [key]: value }));
    setErrors((errs) => ({ ...errs, [key]: undefined }));
  };

  const updateIdentifier = (i: number, part: "system" | "value") => (e: ChangeEvent<HTMLInputElement | HTMLSelectElement>) => {
    const value = e.target.value;
    setForm((f) => ({ ...f, identifiers: f.identifiers.map((r, j) => (j === i ? { ...r, [part]: value } : r)) }));
    setErrors((errs) => ({ ...errs, [`identifiers.${i}.${part}`]: undefined }));
  };

  const showErrors = (errs: FieldErrors) => {
    setErrors(errs);
    requestAnimationFrame(() => summaryRef.current?.focus());
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (inFlight.current) return;
    setServer(null);
    setFailure(null);
    const errs = validateRegistration(form);
    if (Object.values(errs).some(Boolean)) {
      showErrors(errs);
      return;
    }
    const { body, locs } = registrationPayload(form);
    inFlight.current = true;
    setSending(true);
    try {
      const patient = await registerPatient(api, body, keys.current.keyFor(body));
      keys.current.reset();
      navigate(`/patients/${patient.id}`, { state: { registered: true } });
    } catch (err) {
      const mapped = mapServerErrors(err, form, locs);
      if (mapped) {
        setServer(mapped);
        showErrors(mapped.fields);
      } else {
        setFailure(describeError(err));
        requestAnimationFrame(() => summaryRef.current?.focus());
      }
    } finally {
      inFlight.current = false;
      setSending(false);
    }
  };

  const field = (key: FieldKey, input: ReactNode, hint?: string, className?: string) => {
    const error = errors[key];
    return (
      <div className={`field${className ? ` ${className}` : ""}`}>
        <label htmlFor={fieldId(key)}>{labelOf(key)}</label>
        {input}
        {hint && !error && (
          <span className="hint" id={`${fieldId(key)}-hint`}>
            {hint}
          </span>
        )}
        {error && (
          <span className="field-error" id={`${fieldId(key)}-error`}>
            {error}
          </span>
        )}
      </div>
    );
  };
  const props = (key: Exclude<keyof RegistrationForm, "identifiers">, hint = false) => ({
    id: fieldId(key),
    name: key,
    value: form[key],
    onChange: update(key),
    "aria-invalid": errors[key] ? true : undefined,
    "aria-describedby": errors[key] ? `${fieldId(key)}-error` : hint ? `${fieldId(key)}-hint` : undefined,
  });

  const listed = (Object.entries(errors) as [FieldKey, string | undefined][]).filter(([, v]) => v);
  const formMessages = server?.form ?? [];
  const duplicate = server?.duplicate ?? null;
  const showSummary = listed.length > 0 || formMessages.length > 0 || failure !== null || duplicate !== null;

  return (
    <section className="page" aria-labelledby="register-title">
      <p className="breadcrumb">
        <Link to="/patients">← Patients</Link>
      </p>
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name="users" size={26} />
        </span>
        <div>
          <h1 id="register-title">Register a patient</h1>
          <p className="lead">An MRN is assigned when the record is saved. Only a name is required.</p>
        </div>
      </header>

      <div ref={summaryRef} tabIndex={-1} className="focus-target" role="alert">
        {showSummary && (
          <div className="form-error error-summary">
            {duplicate ? (
              <p>
                <strong>This identifier is already registered</strong>
                {duplicate.value && (
                  <>
                    {" "}
                    (<span className="mono">{duplicate.value}</span>)
                  </>
                )}
                . The patient may already have a record — check before creating a second one.{" "}
                {duplicate.patientId && <Link to={`/patients/${duplicate.patientId}`}>Open the existing patient</Link>}
              </p>
            ) : failure ? (
              <p>{failure}</p>
            ) : (
              <p>
                <strong>Please correct the following:</strong>
              </p>
            )}
            {(listed.length > 0 || formMessages.length > 0) && !duplicate && (
              <ul>
                {listed.map(([key, msg]) => (
                  <li key={key}>
                    <a href={`#${fieldId(key)}`}>
                      {labelOf(key)}: {msg}
                    </a>
                  </li>
                ))}
                {formMessages.map((m) => (
                  <li key={m}>{m}</li>
                ))}
              </ul>
            )}
          </div>
        )}
      </div>

      <form className="register-form" onSubmit={onSubmit} noValidate>
        <fieldset>
          <legend>Name</legend>
          <div className="form-grid form-grid-4">
            {field("prefix", <input {...props("prefix")} autoComplete="honorific-prefix" />)}
            {field("given", <input {...props("given", true)} autoComplete="given-name" autoFocus />, "Separate several with spaces")}
            {field("family", <input {...props("family")} autoComplete="family-name" />)}
            {field("suffix", <input {...props("suffix")} autoComplete="honorific-suffix" />)}
          </div>
        </fieldset>

        <fieldset>
          <legend>Birth and sex</legend>
          <div className="form-grid form-grid-4">
            {field("birthDate", <input {...props("birthDate")} type="date" max={new Date().toISOString().slice(0, 10)} />)}
            {field(
              "gender",
              <select {...props("gender")}>
                <option value="female">Female</option>
                <option value="male">Male</option>
                <option value="other">Other</option>
                <option value="unknown">Unknown</option>
              </select>,
            )}
            {field("language", <input {...props("language", true)} list={`${id}-langs`} autoComplete="off" />, "e.g. en, es, pt-BR")}
          </div>
          <datalist id={`${id}-langs`}>
            {["en", "es", "pt-BR", "fr", "de", "zh", "ar", "vi"].map((l) => (
              <option key={l} value={l} />
            ))}
          </datalist>
        </fieldset>

        <fieldset>
          <legend>Contact</legend>
          <div className="form-grid">
            {field("phone", <input {...props("phone")} type="tel" autoComplete="tel" />)}
            {field("email", <input {...props("email")} type="email" autoComplete="email" />)}
            {field("addressLine1", <input {...props("addressLine1")} autoComplete="address-line1" />, undefined, "span-2")}
            {field("addressLine2", <input {...props("addressLine2")} autoComplete="address-line2" />, undefined, "span-2")}
            {field("city", <input {...props("city")} autoComplete="address-level2" />)}
            {field("state", <input {...props("state")} autoComplete="address-level1" />)}
            {field("postalCode", <input {...props("postalCode")} autoComplete="postal-code" />)}
            {field("country", <input {...props("country")} autoComplete="country-name" />)}
          </div>
        </fieldset>

        <fieldset>
          <legend>Emergency contact</legend>
          <div className="form-grid">
            {field("emergencyName", <input {...props("emergencyName")} autoComplete="off" />)}
            {field("emergencyRelationship", <input {...props("emergencyRelationship")} autoComplete="off" />)}
            {field("emergencyPhone", <input {...props("emergencyPhone")} type="tel" autoComplete="off" />)}
            {field("emergencyEmail", <input {...props("emergencyEmail")} type="email" autoComplete="off" />)}
          </div>
        </fieldset>

        <fieldset>
          <legend>External identifiers</legend>
          {form.identifiers.length === 0 && <p className="muted small">None added. Passports, national IDs, insurance numbers…</p>}
          {form.identifiers.map((row, i) => {
            const sysKey = `identifiers.${i}.system` as const;
            const valKey = `identifiers.${i}.value` as const;
            const known = IDENTIFIER_SYSTEMS.some((s) => s.system === row.system);
            return (
              <div key={i} className="identifier-row">
                {field(
                  sysKey,
                  <input
                    id={fieldId(sysKey)}
                    value={row.system}
                    list={`${id}-systems`}
                    onChange={updateIdentifier(i, "system")}
                    aria-invalid={errors[sysKey] ? true : undefined}
                    aria-describedby={errors[sysKey] ? `${fieldId(sysKey)}-error` : `${fieldId(sysKey)}-hint`}
                  />,
                  known ? IDENTIFIER_SYSTEMS.find((s) => s.system === row.system)?.label : "Pick from the list or type a system URI",
                )}
                {field(
                  valKey,
                  <input
                    id={fieldId(valKey)}
                    value={row.value}
                    onChange={updateIdentifier(i, "value")}
                    autoComplete="off"
                    aria-invalid={errors[valKey] ? true : undefined}
                    aria-describedby={errors[valKey] ? `${fieldId(valKey)}-error` : undefined}
                  />,
                )}
                <button
                  type="button"
                  className="button button-quiet button-small identifier-remove"
                  aria-label={`Remove identifier ${i + 1}`}
                  onClick={() => {
                    setForm((f) => ({ ...f, identifiers: f.identifiers.filter((_, j) => j !== i) }));
                    setErrors({});
                  }}
                >
                  Remove
                </button>
              </div>
            );
          })}
          <datalist id={`${id}-systems`}>
            {IDENTIFIER_SYSTEMS.map((s) => (
              <option key={s.system} value={s.system}>
                {s.label}
              </option>
            ))}
          </datalist>
          <button
            type="button"
            className="button button-quiet button-small"
            onClick={() => {
              setForm((f) => ({ ...f, identifiers: [...f.identifiers, { system: "", value: "" }] }));
              requestAnimationFrame(() => document.getElementById(fieldId(`identifiers.${form.identifiers.length}.system`))?.focus());
            }}
          >
            <span aria-hidden="true">+</span> Add identifier
          </button>
        </fieldset>

        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={sending}>
            {sending ? "Registering…" : "Register patient"}
          </button>
          <Link to="/patients" className="button button-quiet">
            Cancel
          </Link>
        </div>
      </form>
    </section>
  );
}
