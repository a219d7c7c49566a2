// Records shaped like the API's answers, and a tiny router for the patients endpoints.
import type {
  Allergy,
  MedicationRequest,
  Observation,
  Paged,
  Patient,
  PatientChart,
} from "../api/types";
import { err, json } from "./fakeApi";

export const PATIENT_ID = "11111111-1111-4111-8111-111111111111";
const T = "2026-01-10T09:30:00Z";

export function makePatient(overrides: Partial<Patient> = {}): Patient {
  return {
    id: PATIENT_ID,
    mrn: "00000018",
    active: true,
    names: [
      { use: "official", text: null, family: "Godínez", given: ["María", "José"], prefix: [], suffix: [], is_primary: true },
    ],
    identifiers: [],
    gender: "female",
    birth_date: "1984-03-12",
    deceased: false,
    deceased_at: null,
    preferred_language: "es",
    marital_status: null,
    telecoms: [{ system: "phone", value: "+1 555 0100", use: "mobile", rank: null }],
    addresses: [],
    contacts: [],
    created_at: T,
    updated_at: T,
    ...overrides,
  };
}

const clinical = { patient_id: PATIENT_ID, source_system: null, source_id: null, recorded_by: null, created_at: T, updated_at: T };

export function makeAllergy(overrides: Partial<Allergy> = {}): Allergy {
  return {
    ...clinical,
    id: "a1",
    code: { system: "http://www.nlm.nih.gov/research/umls/rxnorm", code: "7984", display: "Penicillin V" },
    clinical_status: "active",
    verification_status: "confirmed",
    type: "allergy",
    category: "medication",
    criticality: "high",
    onset_at: null,
    recorded_at: T,
    note: null,
    reactions: [],
    encounter_id: null,
    ...overrides,
  };
}

export function makeMed(overrides: Partial<MedicationRequest> = {}): MedicationRequest {
  return {
    ...clinical,
    id: "m1",
    medication: { system: "http://www.nlm.nih.gov/research/umls/rxnorm", code: "314076", display: "Lisinopril 10 MG" },
    ingredients: [],
    status: "active",
    status_reason: null,
    intent: "order",
    dose_value: "10",
    dose_unit: "mg",
    route: null,
    frequency: "once daily",
    duration_value: null,
    duration_unit: null,
    quantity_value: null,
    quantity_unit: null,
    refills: 0,
    instructions: null,
    prescriber_id: null,
    prescriber_display: "Dr. Demo",
    requester_identifier: null,
    requester_display: null,
    authored_at: T,
    allergy_override_reason: null,
    encounter_id: null,
    ...overrides,
  };
}

export function makeVital(code: string, value: string, unit: string, at = T): Observation {
  return {
    ...clinical,
    id: `o-${code}-${at}`,
    status: "final",
    category: "vital-signs",
    code: { system: "http://loinc.org", code, display: code },
    effective_at: at,
    value_quantity: value,
    value_unit: unit,
    value_code: null,
    value_string: null,
    reference_low: null,
    reference_high: null,
    interpretation: null,
    components: [],
    note: null,
    encounter_id: null,
  };
}

export function makeChart(overrides: Partial<PatientChart> = {}): PatientChart {
  return {
    patient: makePatient(),
    active_problems: [],
    allergies: [makeAllergy()],
    active_medications: [makeMed()],
    latest_vitals: [makeVital("8867-4", "72", "/min")],
    counts: {
      encounters: 0,
      conditions: 0,
      allergies: 1,
      immunizations: 0,
      procedures: 0,
      observations: 1,
      care_plans: 0,
      medication_requests: 1,
    },
    summary_limit: 50,
    ...overrides,
  };
}

export function page<T>(items: T[], total = items.length, limit = 20, offset = 0): Paged<T> {
  return { items, total, limit, offset };
}

export interface Recorded {
  method: string;
  path: string;
  search: URLSearchParams;
  headers: Headers;
  body: unknown;
}

/**
 * The patients endpoints over in-memory state. `prescribe` decides the answer to each POST of a
 * prescription; everything requested is recorded for assertions.
 */
export function patientsRoutes(options: {
  chart?: PatientChart;
  search?: (q: URLSearchParams) => Response;
  prescribe?: (body: Record<string, unknown>, headers: Headers) => Response;
  register?: (body: Record<string, unknown>) => Response;
}) {
  const calls: Recorded[] = [];
  let chart = options.chart ?? makeChart();
  const routes = async (req: Request, url: URL) => {
    const text = req.method === "GET" ? "" : await req.text();
    const body: unknown = text ? JSON.parse(text) : null;
    calls.push({ method: req.method, path: url.pathname, search: url.searchParams, headers: req.headers, body });
    const p = url.pathname;
    if (req.method === "GET" && p === "/api/patients") {
      return options.search ? options.search(url.searchParams) : json(200, page([makePatient()], 1, 25));
    }
    if (req.method === "POST" && p === "/api/patients") {
      return options.register ? options.register(body as Record<string, unknown>) : json(201, makePatient());
    }
    if (req.method === "GET" && p === `/api/patients/${PATIENT_ID}`) return json(200, chart.patient);
    if (req.method === "GET" && p === `/api/patients/${PATIENT_ID}/chart`) return json(200, chart);
    if (req.method === "POST" && p === `/api/patients/${PATIENT_ID}/medication-requests`) {
      const answer = options.prescribe
        ? options.prescribe(body as Record<string, unknown>, req.headers)
        : json(201, makeMed({ id: "new" }));
      if (answer.status === 201) {
        const created = (await answer.clone().json()) as MedicationRequest;
        chart = { ...chart, active_medications: [...chart.active_medications, created] };
      }
      return answer;
    }
    const stop = new RegExp(`^/api/patients/${PATIENT_ID}/medication-requests/([^/]+)$`).exec(p);
    if (req.method === "PATCH" && stop) {
      const med = chart.active_medications.find((m) => m.id === stop[1]);
      if (!med) return err(404, "not_found", "Not found");
      chart = { ...chart, active_medications: chart.active_medications.filter((m) => m.id !== med.id) };
      return json(200, { ...med, status: "stopped", status_reason: (body as { reason: string }).reason });
    }
    if (req.method === "GET" && p.startsWith(`/api/patients/${PATIENT_ID}/`)) return json(200, page([], 0));
    return err(404, "not_found", "Not found");
  };
  return { routes, calls };
}
