// The patients endpoints the screens use, each returning data or throwing an ApiError.
import { unwrap, type ApiClient } from "../api/client";
import type {
  CarePlan,
  Condition,
  Encounter,
  Immunization,
  MedicationRequest,
  MedicationRequestCreate,
  MedicationRequestCreated,
  Observation,
  Paged,
  Patient,
  PatientChart,
  PatientCreate,
  Procedure,
} from "../api/types";

export type SearchMode = "name" | "identifier";

export interface PatientQuery {
  text: string;
  birthDate: string;
  limit: number;
  offset: number;
}

/**
 * One box, three kinds of key: anything with a digit or a `system|value` pipe is an MRN or an
 * identifier (the server's `identifier` search matches the MRN too); everything else is a name.
 */
export function searchModeOf(text: string): SearchMode {
  return /[\d|]/.test(text) ? "identifier" : "name";
}

export function searchPatients(api: ApiClient, q: PatientQuery, signal?: AbortSignal): Promise<Paged<Patient>> {
  const text = q.text.trim();
  const query: { name?: string; identifier?: string; birth_date?: string[]; limit: number; offset: number } = {
    limit: q.limit,
    offset: q.offset,
  };
  if (text) query[searchModeOf(text)] = text;
  if (q.birthDate) query.birth_date = [q.birthDate];
  return unwrap(api.GET("/api/patients", { params: { query }, signal }));
}

export function getPatient(api: ApiClient, id: string, signal?: AbortSignal): Promise<Patient> {
  return unwrap(api.GET("/api/patients/{patient_id}", { params: { path: { patient_id: id } }, signal }));
}

export function getChart(api: ApiClient, id: string, signal?: AbortSignal): Promise<PatientChart> {
  return unwrap(api.GET("/api/patients/{patient_id}/chart", { params: { path: { patient_id: id } }, signal }));
}

export function registerPatient(api: ApiClient, body: PatientCreate, idempotencyKey: string): Promise<Patient> {
  return unwrap(api.POST("/api/patients", { body, headers: { "Idempotency-Key": idempotencyKey } }));
}

export function prescribe(
  api: ApiClient,
  patientId: string,
  body: MedicationRequestCreate,
  idempotencyKey: string,
): Promise<MedicationRequestCreated> {
  return unwrap(
    api.POST("/api/patients/{patient_id}/medication-requests", {
      params: { path: { patient_id: patientId } },
      body,
      headers: { "Idempotency-Key": idempotencyKey },
    }),
  );
}

export function stopMedication(
  api: ApiClient,
  patientId: string,
  requestId: string,
  reason: string,
): Promise<MedicationRequest> {
  return unwrap(
    api.PATCH("/api/patients/{patient_id}/medication-requests/{request_id}", {
      params: { path: { patient_id: patientId, request_id: requestId } },
      body: { status: "stopped", reason },
    }),
  );
}

/** The clinical history lists, one paged endpoint each. */
export interface HistoryKinds {
  encounters: Encounter;
  observations: Observation;
  conditions: Condition;
  immunizations: Immunization;
  procedures: Procedure;
  "care-plans": CarePlan;
}
export type HistoryKind = keyof HistoryKinds;

export interface PageRequest {
  limit: number;
  offset: number;
  code?: string[];
}

export function listHistory<K extends HistoryKind>(
  api: ApiClient,
  kind: K,
  patientId: string,
  page: PageRequest,
  signal?: AbortSignal,
): Promise<Paged<HistoryKinds[K]>> {
  const path = { patient_id: patientId };
  const query = { limit: page.limit, offset: page.offset };
  let pending: Promise<{ data?: Paged<unknown>; error?: unknown; response: Response }>;
  switch (kind) {
    case "encounters":
      pending = api.GET("/api/patients/{patient_id}/encounters", { params: { path, query }, signal });
      break;
    case "observations":
      pending = api.GET("/api/patients/{patient_id}/observations", {
        params: { path, query: page.code ? { ...query, code: page.code } : query },
        signal,
      });
      break;
    case "conditions":
      pending = api.GET("/api/patients/{patient_id}/conditions", { params: { path, query }, signal });
      break;
    case "immunizations":
      pending = api.GET("/api/patients/{patient_id}/immunizations", { params: { path, query }, signal });
      break;
    case "procedures":
      pending = api.GET("/api/patients/{patient_id}/procedures", { params: { path, query }, signal });
      break;
    case "care-plans":
      pending = api.GET("/api/patients/{patient_id}/care-plans", { params: { path, query }, signal });
      break;
    default:
      throw new Error(`unknown history kind ${String(kind)}`);
  }
  return unwrap(pending) as Promise<Paged<HistoryKinds[K]>>;
}
