// Vital signs by LOINC code: how to read one observation as numbers, and what to call it.
import type { Observation } from "../api/types";
import { quantity, unitLabel } from "./format";

export interface VitalSeries {
  label: string;
  values: (number | null)[];
}

export interface VitalKind {
  key: string;
  label: string;
  unit: string;
  /** Observation codes that carry this vital. */
  codes: readonly string[];
  series: readonly string[];
  /** The numbers of one observation, one per series (null where absent). */
  read: (obs: Observation) => (number | null)[];
}

const num = (value: string | null | undefined): number | null => {
  if (value == null) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
};

const component = (obs: Observation, code: string): number | null =>
  num(obs.components.find((c) => c.code.code === code)?.value_quantity);

export const BP_PANEL = "85354-9";
export const SYSTOLIC = "8480-6";
export const DIASTOLIC = "8462-4";

export const VITALS: readonly VitalKind[] = [
  { key: "hr", label: "Heart rate", unit: "/min", codes: ["8867-4"], series: ["Heart rate"], read: (o) => [num(o.value_quantity)] },
  {
    key: "bp",
    label: "Blood pressure",
    unit: "mmHg",
    codes: [BP_PANEL, SYSTOLIC, DIASTOLIC],
    series: ["Systolic", "Diastolic"],
    read: (o) => {
      if (o.code.code === SYSTOLIC) return [num(o.value_quantity), null];
      if (o.code.code === DIASTOLIC) return [null, num(o.value_quantity)];
      return [component(o, SYSTOLIC), component(o, DIASTOLIC)];
    },
  },
  { key: "spo2", label: "SpO₂", unit: "%", codes: ["59408-5", "2708-6"], series: ["SpO₂"], read: (o) => [num(o.value_quantity)] },
  { key: "temp", label: "Temperature", unit: "°C", codes: ["8310-5"], series: ["Temperature"], read: (o) => [num(o.value_quantity)] },
  { key: "rr", label: "Respiratory rate", unit: "/min", codes: ["9279-1"], series: ["Respiratory rate"], read: (o) => [num(o.value_quantity)] },
  { key: "weight", label: "Weight", unit: "kg", codes: ["29463-7"], series: ["Weight"], read: (o) => [num(o.value_quantity)] },
];

export const CHARTED_VITALS = VITALS.filter((v) => v.key !== "rr");

export const VITAL_CODES: string[] = [...new Set(VITALS.flatMap((v) => v.codes))];

export function vitalOf(obs: Observation): VitalKind | undefined {
  return VITALS.find((v) => v.codes.includes(obs.code.code ?? ""));
}

const LABELS: Record<string, string> = {
  "8302-2": "Height",
  "39156-5": "BMI",
};

/** "118/76 mmHg", "72 /min" — the value of one observation as read aloud. */
export function observationValue(obs: Observation): string {
  if (obs.code.code === BP_PANEL) {
    const s = obs.components.find((c) => c.code.code === SYSTOLIC)?.value_quantity;
    const d = obs.components.find((c) => c.code.code === DIASTOLIC)?.value_quantity;
    if (s || d) return `${s ?? "?"}/${d ?? "?"} mmHg`;
  }
  if (obs.value_quantity != null) return quantity(obs.value_quantity, obs.value_unit);
  if (obs.value_code) return obs.value_code.display ?? obs.value_code.code ?? "—";
  if (obs.value_string) return obs.value_string;
  if (obs.components.length > 0) {
    return obs.components
      .map((c) => `${c.code.display ?? c.code.code}: ${c.value_quantity ?? c.value_string ?? c.value_code?.display ?? "—"}${c.value_unit ? ` ${unitLabel(c.value_unit)}` : ""}`)
      .join("; ");
  }
  return "—";
}

export function observationLabel(obs: Observation): string {
  return vitalOf(obs)?.label ?? LABELS[obs.code.code ?? ""] ?? obs.code.display ?? obs.code.code ?? "Observation";
}

export interface VitalPoint {
  at: number;
  values: (number | null)[];
}

/** Points of one vital over time, oldest first. */
export function pointsOf(kind: VitalKind, observations: readonly Observation[]): VitalPoint[] {
  const points: VitalPoint[] = [];
  for (const obs of observations) {
    if (!kind.codes.includes(obs.code.code ?? "") || !obs.effective_at) continue;
    if (obs.status === "entered-in-error" || obs.status === "cancelled") continue;
    const at = Date.parse(obs.effective_at);
    const values = kind.read(obs);
    if (Number.isNaN(at) || values.every((v) => v === null)) continue;
    points.push({ at, values });
  }
  return points.sort((a, b) => a.at - b.at);
}
