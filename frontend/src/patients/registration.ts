// Registration without React: the form, validation mirroring PatientCreate, the payload, and the
// mapping of the server's answers (422 locations, 409 duplicate identifier) back onto fields.
import { ApiError } from "../api/errors";
import type { PatientCreate } from "../api/types";

export interface IdentifierRow {
  system: string;
  value: string;
}

export interface RegistrationForm {
  prefix: string;
  given: string;
  family: string;
  suffix: string;
  birthDate: string;
  gender: "female" | "male" | "other" | "unknown";
  phone: string;
  email: string;
  addressLine1: string;
  addressLine2: string;
  city: string;
  state: string;
  postalCode: string;
  country: string;
  language: string;
  emergencyName: string;
  emergencyRelationship: string;
  emergencyPhone: string;
  emergencyEmail: string;
  identifiers: IdentifierRow[];
}

export const EMPTY_REGISTRATION: RegistrationForm = {
  prefix: "",
  given: "",
  family: "",
  suffix: "",
  birthDate: "",
  gender: "unknown",
  phone: "",
  email: "",
  addressLine1: "",
  addressLine2: "",
  city: "",
  state: "",
  postalCode: "",
  country: "",
  language: "",
  emergencyName: "",
  emergencyRelationship: "",
  emergencyPhone: "",
  emergencyEmail: "",
  identifiers: [],
};

/** A form field, or `identifiers.N.system|value` for a row of the identifier list. */
export type FieldKey = Exclude<keyof RegistrationForm, "identifiers"> | `identifiers.${number}.${"system" | "value"}`;
export type FieldErrors = Partial<Record<FieldKey, string>>;

export const IDENTIFIER_SYSTEMS: readonly { system: string; label: string }[] = [
  { system: "http://hl7.org/fhir/sid/us-ssn", label: "US Social Security number" },
  { system: "urn:hospital-hub:passport", label: "Passport" },
  { system: "urn:hospital-hub:drivers-license", label: "Driver's license" },
  { system: "urn:hospital-hub:national-id", label: "National ID" },
  { system: "urn:hospital-hub:insurance-member", label: "Insurance member ID" },
];

const LANGUAGE = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const MRN_SYSTEM = "urn:hospital-hub:mrn";

const words = (s: string) => s.trim().split(/\s+/).filter(Boolean);

function todayIso(now: Date): string {
  const y = now.getFullYear();
  const m = String(now.getMonth() + 1).padStart(2, "0");
  const d = String(now.getDate()).padStart(2, "0");
  return `${y}-${m}-${d}`;
}

export function validateRegistration(form: RegistrationForm, now: Date = new Date()): FieldErrors {
  const e: FieldErrors = {};
  const max = (key: FieldKey, value: string, n: number) => {
    if (value.trim().length > n) e[key] = `At most ${n} characters.`;
  };
  if (!form.family.trim() && !form.given.trim()) e.family = "Enter a family name or a given name.";
  max("family", form.family, 100);
  if (words(form.given).some((w) => w.length > 100)) e.given = "Each given name is at most 100 characters.";
  if (words(form.given).length > 10) e.given = "At most 10 given names.";
  for (const key of ["prefix", "suffix"] as const) {
    if (words(form[key]).some((w) => w.length > 32)) e[key] = "At most 32 characters each.";
    if (words(form[key]).length > 5) e[key] = "At most 5.";
  }
  if (form.birthDate) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(form.birthDate) || Number.isNaN(Date.parse(form.birthDate))) {
      e.birthDate = "Enter a valid date.";
    } else if (form.birthDate > todayIso(now)) {
      e.birthDate = "The birth date cannot be in the future.";
    } else if (form.birthDate < "1880-01-01") {
      e.birthDate = "Check the year.";
    }
  }
  max("phone", form.phone, 255);
  if (form.email.trim() && !EMAIL.test(form.email.trim())) e.email = "Enter an email address like name@example.org.";
  if (form.language.trim() && !LANGUAGE.test(form.language.trim())) {
    e.language = "Use a language code such as en, es or pt-BR.";
  }
  max("addressLine1", form.addressLine1, 255);
  max("addressLine2", form.addressLine2, 255);
  max("city", form.city, 100);
  max("state", form.state, 100);
  max("postalCode", form.postalCode, 20);
  max("country", form.country, 100);
  const emergencyAny = [form.emergencyName, form.emergencyRelationship, form.emergencyPhone, form.emergencyEmail].some(
    (v) => v.trim(),
  );
  if (emergencyAny && !form.emergencyName.trim()) e.emergencyName = "Enter the emergency contact's name.";
  max("emergencyName", form.emergencyName, 200);
  max("emergencyPhone", form.emergencyPhone, 64);
  if (form.emergencyEmail.trim() && !EMAIL.test(form.emergencyEmail.trim())) {
    e.emergencyEmail = "Enter an email address like name@example.org.";
  }
  const seen = new Set<string>();
  form.identifiers.forEach((row, i) => {
    const system = row.system.trim();
    const value = row.value.trim();
    if (!system && !value) return;
    if (!system) e[`identifiers.${i}.system`] = "Choose the kind of identifier.";
    if (!value) e[`identifiers.${i}.value`] = "Enter the identifier.";
    if (system.length > 190) e[`identifiers.${i}.system`] = "At most 190 characters.";
    if (value.length > 190) e[`identifiers.${i}.value`] = "At most 190 characters.";
    if (system === MRN_SYSTEM) e[`identifiers.${i}.system`] = "The MRN is assigned on registration.";
    const pair = `${system}|${value}`;
    if (system && value && seen.has(pair)) e[`identifiers.${i}.value`] = "This identifier is listed twice.";
    seen.add(pair);
  });
  return e;
}

/** Where each part of the payload came from, for mapping the server's error locations back. */
export type LocMap = [path: (string | number)[], field: FieldKey][];

export function registrationPayload(form: RegistrationForm): { body: PatientCreate; locs: LocMap } {
  const t = (s: string) => s.trim();
  const locs: LocMap = [
    [["names", 0, "given"], "given"],
    [["names", 0, "family"], "family"],
    [["names", 0, "prefix"], "prefix"],
    [["names", 0, "suffix"], "suffix"],
    [["names", 0], "family"],
    [["names"], "family"],
    [["birth_date"], "birthDate"],
    [["gender"], "gender"],
    [["preferred_language"], "language"],
  ];
  const telecoms: PatientCreate["telecoms"] = [];
  if (t(form.phone)) {
    locs.push([["telecoms", telecoms.length], "phone"]);
    telecoms.push({ system: "phone", value: t(form.phone), use: "mobile" });
  }
  if (t(form.email)) {
    locs.push([["telecoms", telecoms.length], "email"]);
    telecoms.push({ system: "email", value: t(form.email), use: "home" });
  }
  const addressFields: [keyof RegistrationForm, string][] = [
    ["city", "city"],
    ["state", "state"],
    ["postalCode", "postal_code"],
    ["country", "country"],
  ];
  const lines = [t(form.addressLine1), t(form.addressLine2)].filter(Boolean);
  const hasAddress = lines.length > 0 || addressFields.some(([k]) => t(form[k] as string));
  const addresses: PatientCreate["addresses"] = [];
  if (hasAddress) {
    addresses.push({
      use: "home",
      line: lines,
      city: t(form.city) || null,
      state: t(form.state) || null,
      postal_code: t(form.postalCode) || null,
      country: t(form.country) || null,
    });
    locs.push([["addresses", 0, "line", 0], "addressLine1"], [["addresses", 0, "line", 1], "addressLine2"]);
    for (const [k, api] of addressFields) locs.push([["addresses", 0, api], k as FieldKey]);
    locs.push([["addresses", 0], "addressLine1"]);
  }
  const contacts: PatientCreate["contacts"] = [];
  if (t(form.emergencyName)) {
    contacts.push({
      name: t(form.emergencyName),
      // v2-0131 "C": emergency contact; the free-text relationship rides along as the display.
      relationship: {
        system: "http://terminology.hl7.org/CodeSystem/v2-0131",
        code: "C",
        display: t(form.emergencyRelationship) || "Emergency contact",
      },
      phone: t(form.emergencyPhone) || null,
      email: t(form.emergencyEmail) || null,
    });
    locs.push(
      [["contacts", 0, "name"], "emergencyName"],
      [["contacts", 0, "phone"], "emergencyPhone"],
      [["contacts", 0, "email"], "emergencyEmail"],
      [["contacts", 0, "relationship"], "emergencyRelationship"],
      [["contacts", 0], "emergencyName"],
    );
  }
  const identifiers: PatientCreate["identifiers"] = [];
  form.identifiers.forEach((row, i) => {
    if (!t(row.system) && !t(row.value)) return;
    const at = identifiers.length;
    locs.push(
      [["identifiers", at, "system"], `identifiers.${i}.system`],
      [["identifiers", at, "value"], `identifiers.${i}.value`],
      [["identifiers", at], `identifiers.${i}.value`],
    );
    identifiers.push({ system: t(row.system), value: t(row.value) });
  });
  const body: PatientCreate = {
    names: [
      {
        use: "official",
        given: words(form.given),
        family: t(form.family) || null,
        prefix: words(form.prefix),
        suffix: words(form.suffix),
        is_primary: true,
      },
    ],
    identifiers,
    gender: form.gender,
    birth_date: form.birthDate || null,
    deceased: false,
    preferred_language: t(form.language) || null,
    telecoms,
    addresses,
    contacts,
    active: true,
  };
  return { body, locs };
}

function startsWith(loc: readonly unknown[], prefix: readonly unknown[]): boolean {
  return prefix.length <= loc.length && prefix.every((p, i) => loc[i] === p);
}

function humanize(msg: string): string {
  // Pydantic prefixes model-level messages; the rest already reads well.
  const text = msg.replace(/^Value error, /, "");
  return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");
}

export interface ServerErrors {
  fields: FieldErrors;
  /** Messages that belong to no one field. */
  form: string[];
  /** A 409 duplicate identifier: the patient who already holds it, when the server said. */
  duplicate: { system: string | null; value: string | null; patientId: string | null } | null;
}

/** Put the server's answer where the user will look: on the field it is about. */
export function mapServerErrors(err: unknown, form: RegistrationForm, locs: LocMap): ServerErrors | null {
  if (!(err instanceof ApiError)) return null;
  const out: ServerErrors = { fields: {}, form: [], duplicate: null };
  if (err.code === "validation_error" && Array.isArray(err.details)) {
    for (const item of err.details as { loc?: unknown; msg?: unknown }[]) {
      const loc = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body") : [];
      const msg = typeof item.msg === "string" ? humanize(item.msg) : "Invalid value.";
      // The most specific mapping wins: the longest matching path.
      let best: [number, FieldKey] | null = null;
      for (const [path, field] of locs) {
        if (startsWith(loc, path) && (best === null || path.length > best[0])) best = [path.length, field];
      }
      if (best && !out.fields[best[1]]) out.fields[best[1]] = msg;
      else if (!best) out.form.push(msg);
    }
    return out;
  }
  if (err.code === "duplicate_identifier") {
    const d = (err.details ?? {}) as { system?: unknown; value?: unknown; patient_id?: unknown };
    const system = typeof d.system === "string" ? d.system : null;
    const value = typeof d.value === "string" ? d.value : null;
    out.duplicate = { system, value, patientId: typeof d.patient_id === "string" ? d.patient_id : null };
    const row = form.identifiers.findIndex((r) => r.system.trim() === system && r.value.trim() === value);
    if (row >= 0) out.fields[`identifiers.${row}.value`] = "Already registered to another patient.";
    return out;
  }
  if (err.code === "mrn_not_assignable") {
    const row = form.identifiers.findIndex((r) => r.system.trim() === MRN_SYSTEM);
    if (row >= 0) out.fields[`identifiers.${row}.system`] = "The MRN is assigned on registration.";
    else out.form.push(err.message);
    return out;
  }
  return null;
}
