// Prescribing, without React: the form's payload and validation, the client-side allergy hint,
// the server's allergy_conflict answer, and the Idempotency-Key rule.
import { ApiError } from "../api/errors";
import type { Allergy, Coding, MedicationRequestCreate } from "../api/types";
import { fold } from "./format";

export const RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm";
export const SNOMED = "http://snomed.info/sct";

/** Common routes (SNOMED CT route of administration). */
export const ROUTES: readonly { code: string; display: string }[] = [
  { code: "26643006", display: "Oral" },
  { code: "47625008", display: "Intravenous" },
  { code: "78421000", display: "Intramuscular" },
  { code: "34206005", display: "Subcutaneous" },
  { code: "37839007", display: "Sublingual" },
  { code: "6064005", display: "Topical" },
  { code: "37161004", display: "Rectal" },
  { code: "46713006", display: "Nasal" },
];

export interface PrescriptionForm {
  drugName: string;
  drugCode: string;
  doseValue: string;
  doseUnit: string;
  route: string;
  frequency: string;
  durationValue: string;
  durationUnit: "" | "h" | "d" | "wk" | "mo";
  quantityValue: string;
  quantityUnit: string;
  refills: string;
  instructions: string;
  /** RxNorm codes of the ingredients, separated by commas or spaces. */
  ingredientCodes: string;
}

export const EMPTY_PRESCRIPTION: PrescriptionForm = {
  drugName: "",
  drugCode: "",
  doseValue: "",
  doseUnit: "mg",
  route: "26643006",
  frequency: "",
  durationValue: "",
  durationUnit: "d",
  quantityValue: "",
  quantityUnit: "",
  refills: "0",
  instructions: "",
  ingredientCodes: "",
};

export type PrescriptionErrors = Partial<Record<keyof PrescriptionForm, string>>;

const DECIMAL = /^\d{1,12}(\.\d{1,6})?$/;

export function ingredientCodesOf(text: string): string[] {
  return [...new Set(text.split(/[\s,;]+/).map((c) => c.trim()).filter(Boolean))];
}

/** Mirrors MedicationRequestCreate: quantities positive decimals (sent as strings), value+unit together. */
export function validatePrescription(form: PrescriptionForm): PrescriptionErrors {
  const errors: PrescriptionErrors = {};
  if (!form.drugName.trim() && !form.drugCode.trim()) errors.drugName = "Enter the drug name or its RxNorm code.";
  if (form.drugName.trim().length > 255) errors.drugName = "At most 255 characters.";
  if (form.drugCode.trim() && !/^\d{1,64}$/.test(form.drugCode.trim())) {
    errors.drugCode = "An RxNorm code is digits only (e.g. 723).";
  }
  const positive = (value: string, key: keyof PrescriptionForm, what: string) => {
    const v = value.trim();
    if (!v) return;
    if (!DECIMAL.test(v) || Number(v) <= 0) errors[key] = `${what} must be a positive number (e.g. 500 or 0.5).`;
  };
  positive(form.doseValue, "doseValue", "Dose");
  positive(form.durationValue, "durationValue", "Duration");
  positive(form.quantityValue, "quantityValue", "Quantity");
  if (form.doseValue.trim() && !form.doseUnit.trim()) errors.doseUnit = "Give the dose unit.";
  if (!form.doseValue.trim() && form.doseUnit.trim() && form.doseUnit !== EMPTY_PRESCRIPTION.doseUnit) {
    errors.doseValue = "Give the dose, or clear the unit.";
  }
  if (form.durationValue.trim() && !form.durationUnit) errors.durationUnit = "Give the duration unit.";
  if (form.quantityUnit.trim() && !form.quantityValue.trim()) errors.quantityValue = "Give the quantity.";
  const refills = form.refills.trim() || "0";
  if (!/^\d{1,2}$/.test(refills)) errors.refills = "Refills is a whole number from 0 to 99.";
  if (form.frequency.trim().length > 64) errors.frequency = "At most 64 characters.";
  const codes = ingredientCodesOf(form.ingredientCodes);
  if (codes.length > 20) errors.ingredientCodes = "At most 20 ingredients.";
  else if (codes.some((c) => !/^\d{1,64}$/.test(c))) errors.ingredientCodes = "RxNorm codes are digits only.";
  return errors;
}

export function prescriptionBody(form: PrescriptionForm, overrideReason?: string): MedicationRequestCreate {
  const t = (s: string) => s.trim();
  const route = ROUTES.find((r) => r.code === form.route);
  const dose = t(form.doseValue);
  const duration = t(form.durationValue);
  const qty = t(form.quantityValue);
  const body: MedicationRequestCreate = {
    medication: { system: RXNORM, code: t(form.drugCode) || null, display: t(form.drugName) || null },
    ingredients: ingredientCodesOf(form.ingredientCodes).map((code) => ({ system: RXNORM, code })),
    status: "active",
    intent: "order",
    dose_value: dose || null,
    dose_unit: dose ? t(form.doseUnit) : null,
    route: route ? { system: SNOMED, code: route.code, display: route.display } : null,
    frequency: t(form.frequency) || null,
    duration_value: duration || null,
    duration_unit: duration && form.durationUnit ? form.durationUnit : null,
    quantity_value: qty || null,
    quantity_unit: qty ? t(form.quantityUnit) || null : null,
    refills: Number(t(form.refills) || "0"),
    instructions: t(form.instructions) || null,
  };
  if (overrideReason !== undefined) body.override_reason = overrideReason.trim();
  return body;
}

// --- allergy check ------------------------------------------------------------------------

export interface AllergyHint {
  allergy: Allergy;
  by: "code" | "name";
}

function sameCode(a: Coding, system: string | null | undefined, code: string): boolean {
  if (!a.code) return false;
  const sameSystem = !a.system || !system || a.system === system;
  return sameSystem && a.code.trim().toLowerCase() === code.trim().toLowerCase();
}

// The server's name rule (app/patients/allergy_check.py), so that the hint says what the server
// will refuse: fold, split into words, leave out numbers, doses, units, forms and filler, drop a
// plural "s"; the allergy's words all among the drug's, or the drug's among the allergy's, with
// one of four letters or more. allergy-name-cases.json holds the cases both sides test.
const FILLER = new Set(
  (
    "allergy allergies allergic to intolerance of substance product medicinal containing finding disorder and " +
    "with or the by mg mcg ug ml unt unit units iu meq mmol hr hour tablet tab capsule cap oral injection " +
    "injectable solution suspension cream ointment topical extended release delayed chewable film coated " +
    "prefilled syringe inhaler patch spray drop ophthalmic nasal actuat actuation dose metered powder for in " +
    "per pack kit vial"
  ).split(" "),
);

export function substanceWords(text: string | null | undefined): Set<string> {
  const words = new Set<string>();
  for (const raw of fold(text ?? "").match(/[\p{L}\p{N}]+/gu) ?? []) {
    if (/\p{N}/u.test(raw) || FILLER.has(raw)) continue;
    const word = raw.length > 4 && raw.endsWith("s") && !raw.endsWith("ss") ? raw.slice(0, -1) : raw;
    if (!FILLER.has(word)) words.add(word);
  }
  return words;
}

function subset(a: Set<string>, b: Set<string>): boolean {
  for (const w of a) if (!b.has(w)) return false;
  return true;
}

export function namesMatch(allergy: string | null | undefined, drug: string | null | undefined): boolean {
  const a = substanceWords(allergy);
  const d = substanceWords(drug);
  if (a.size === 0 || d.size === 0) return false;
  const smaller = subset(a, d) ? a : subset(d, a) ? d : null;
  return smaller !== null && [...smaller].some((w) => w.length >= 4);
}

/**
 * Recorded allergies this draft may hit, before anything is sent: the same code (RxNorm), or a
 * name the server's rule matches. The server's check is the one that refuses; this only says so
 * before the click.
 */
export function allergyHints(allergies: readonly Allergy[], form: PrescriptionForm): AllergyHint[] {
  const codes = [t(form.drugCode), ...ingredientCodesOf(form.ingredientCodes)].filter(Boolean);
  const hints: AllergyHint[] = [];
  for (const allergy of allergies) {
    if (allergy.clinical_status !== "active") continue;
    if (codes.some((c) => sameCode(allergy.code, RXNORM, c))) {
      hints.push({ allergy, by: "code" });
      continue;
    }
    if (namesMatch(allergy.code.display, form.drugName)) hints.push({ allergy, by: "name" });
  }
  return hints;
}

function t(s: string): string {
  return s.trim();
}

export interface AllergyConflict {
  allergy: { id: string | null; code: Coding; criticality: string | null };
  matched: { on: string; by: string; system: string | null; code: string | null; display: string | null };
}

/** The 409 `allergy_conflict` details as a list (the server names every conflict it found). */
export function allergyConflictsOf(err: unknown): AllergyConflict[] | null {
  if (!(err instanceof ApiError) || err.code !== "allergy_conflict") return null;
  const details = (err.details ?? {}) as { conflicts?: unknown; allergy?: unknown; matched?: unknown };
  const raw = Array.isArray(details.conflicts)
    ? details.conflicts
    : details.allergy
      ? [{ allergy: details.allergy, matched: details.matched }]
      : [];
  const out: AllergyConflict[] = [];
  for (const c of raw as { allergy?: Partial<AllergyConflict["allergy"]>; matched?: Partial<AllergyConflict["matched"]> }[]) {
    if (!c?.allergy) continue;
    out.push({
      allergy: {
        id: c.allergy.id ?? null,
        code: c.allergy.code ?? { display: "an allergy" },
        criticality: c.allergy.criticality ?? null,
      },
      matched: {
        on: c.matched?.on ?? "medication",
        by: c.matched?.by ?? "code",
        system: c.matched?.system ?? null,
        code: c.matched?.code ?? null,
        display: c.matched?.display ?? null,
      },
    });
  }
  // A 409 allergy_conflict always means "refused because of an allergy", even with odd details.
  return out.length > 0 ? out : [{ allergy: { id: null, code: { display: "a recorded allergy" }, criticality: null }, matched: { on: "medication", by: "code", system: null, code: null, display: null } }];
}

// --- idempotency --------------------------------------------------------------------------

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * One Idempotency-Key per distinct submission: sending the same body again (a double click, a
 * retry after a network error or a timeout) reuses the key, so the server replays the first answer
 * instead of prescribing twice; a changed body (e.g. the same drug now with an override reason) is
 * a new submission with a new key (the server refuses a key reused with another body). `reset()`
 * after success: the next prescription is a new one, even for the same drug.
 */
export class SubmissionKeys {
  private last: { body: string; key: string } | null = null;
  constructor(private readonly newKey: () => string = () => crypto.randomUUID()) {}

  keyFor(body: unknown): string {
    const text = canonical(body);
    if (this.last === null || this.last.body !== text) this.last = { body: text, key: this.newKey() };
    return this.last.key;
  }

  reset(): void {
    this.last = null;
  }
}
