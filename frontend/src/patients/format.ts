// Display helpers for the clinical record: names, ages, dates and codes, the way a clinician reads them.
import type { Coding, Patient } from "../api/types";

type Name = Patient["names"][number];

export function primaryName(patient: Pick<Patient, "names">): Name | undefined {
  return patient.names.find((n) => n.is_primary) ?? patient.names[0];
}

/** "Godínez, María José" — family first, as clinical lists sort and read. */
export function sortableName(patient: Pick<Patient, "names">): string {
  const name = primaryName(patient);
  if (!name) return "(no name)";
  const given = name.given.join(" ");
  if (name.family && given) return `${name.family}, ${given}`;
  return name.family || given || name.text || "(no name)";
}

/** "Dr María José Godínez Jr" — for headings. */
export function fullName(patient: Pick<Patient, "names">): string {
  const name = primaryName(patient);
  if (!name) return "(no name)";
  const parts = [...name.prefix, ...name.given, name.family ?? "", ...name.suffix].filter(Boolean);
  return parts.length > 0 ? parts.join(" ") : (name.text ?? "(no name)");
}

/** Whole years between an ISO birth date and `today`, or null. Babies get months or days. */
export function ageOf(birthDate: string | null | undefined, today: Date = new Date()): string | null {
  if (!birthDate) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(birthDate);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  let months = (today.getFullYear() - y) * 12 + (today.getMonth() + 1 - mo);
  if (today.getDate() < d) months -= 1;
  if (months < 0) return null;
  if (months >= 24) return `${Math.floor(months / 12)} y`;
  if (months >= 1) return `${months} mo`;
  const born = Date.UTC(y, mo - 1, d);
  const now = Date.UTC(today.getFullYear(), today.getMonth(), today.getDate());
  return `${Math.max(0, Math.round((now - born) / 86_400_000))} d`;
}

const SEX: Record<string, string> = { female: "Female", male: "Male", other: "Other", unknown: "Unknown" };

export function sexLabel(gender: string | null | undefined): string {
  return SEX[gender ?? "unknown"] ?? gender ?? "Unknown";
}

/** An ISO date (YYYY-MM-DD) as "12 Mar 1984", without time-zone drift. */
export function formatDate(value: string | null | undefined): string {
  if (!value) return "—";
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  if (!m) return value;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return date.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
}

/** A timezone-aware ISO datetime in the viewer's local time. */
export function formatDateTime(value: string | null | undefined): string {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return date.toLocaleString(undefined, {
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function formatDay(value: string | null | undefined): string {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return date.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
}

const SYSTEMS: Record<string, string> = {
  "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
  "http://snomed.info/sct": "SNOMED CT",
  "http://loinc.org": "LOINC",
  "http://hl7.org/fhir/sid/icd-10": "ICD-10",
  "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
  "http://hl7.org/fhir/sid/cvx": "CVX",
};

export function systemLabel(system: string | null | undefined): string | null {
  if (!system) return null;
  return SYSTEMS[system] ?? system;
}

/** "Penicillin V" or the code when there is no display. */
export function codingText(coding: Coding | null | undefined): string {
  if (!coding) return "—";
  return coding.display || coding.code || "—";
}

/** "RxNorm 7980" — the code with its system's short name. */
export function codingCode(coding: Pick<Coding, "system" | "code"> | null | undefined): string | null {
  if (!coding?.code) return null;
  const system = systemLabel(coding.system);
  return system ? `${system} ${coding.code}` : coding.code;
}

/** Accent- and case-folded, like the server's name and allergy matching. */
export function fold(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/['’ʼ`´‘]/g, "")
    .toLowerCase()
    .replace(/\s+/g, " ")
    .trim();
}

const UNITS: Record<string, string> = {
  Cel: "°C",
  "[degF]": "°F",
  "mm[Hg]": "mmHg",
  "{beats}/min": "/min",
  "{breaths}/min": "/min",
  "{tbl}": "tablets",
  "{capsule}": "capsules",
  "{puff}": "puffs",
  "[iU]": "IU",
  "kg/m2": "kg/m²",
};

/** UCUM codes as people write them: "Cel" -> "°C", "mm[Hg]" -> "mmHg". */
export function unitLabel(unit: string | null | undefined): string {
  if (!unit) return "";
  return UNITS[unit] ?? unit;
}

/** Quantities travel as strings; show them as written ("0.5", "120"), never via floats. */
export function quantity(value: string | null | undefined, unit?: string | null): string {
  if (value == null || value === "") return "—";
  return unit ? `${value} ${unitLabel(unit)}` : value;
}
