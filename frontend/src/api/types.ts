// Named aliases over the generated schema. Reached through `paths`, not `components`, so that a
// renamed Pydantic model in the backend does not break the app as long as the endpoint's shape holds.
import type { paths } from "./schema";

type JsonOf<T> = T extends { content: { "application/json": infer B } } ? B : never;

export type TokenPair = JsonOf<paths["/api/auth/token"]["post"]["responses"][200]>;
export type Me = JsonOf<paths["/api/auth/me"]["get"]["responses"][200]>;
export type { paths };

type Get<P extends keyof paths> = paths[P] extends { get: { responses: { 200: infer R } } } ? JsonOf<R> : never;
type PostBody<P extends keyof paths> = paths[P] extends {
  post: { requestBody: { content: { "application/json": infer B } } };
}
  ? B
  : never;
type Created<P extends keyof paths> = paths[P] extends { post: { responses: { 201: infer R } } } ? JsonOf<R> : never;
type PatchBody<P extends keyof paths> = paths[P] extends {
  patch: { requestBody: { content: { "application/json": infer B } } };
}
  ? B
  : never;

// --- patients ---
export type PatientPage = Get<"/api/patients">;
export type Patient = PatientPage["items"][number];
export type PatientCreate = PostBody<"/api/patients">;
export type PatientChart = Get<"/api/patients/{patient_id}/chart">;
export type Coding = PatientChart["allergies"][number]["code"];
export type Allergy = PatientChart["allergies"][number];
export type Condition = PatientChart["active_problems"][number];
export type MedicationRequest = PatientChart["active_medications"][number];
export type Observation = PatientChart["latest_vitals"][number];
export type Encounter = Get<"/api/patients/{patient_id}/encounters">["items"][number];
export type Immunization = Get<"/api/patients/{patient_id}/immunizations">["items"][number];
export type Procedure = Get<"/api/patients/{patient_id}/procedures">["items"][number];
export type CarePlan = Get<"/api/patients/{patient_id}/care-plans">["items"][number];
export type MedicationRequestCreate = PostBody<"/api/patients/{patient_id}/medication-requests">;
/** A prescription as the server answers it: the request and what its allergy check did. */
export type MedicationRequestCreated = Created<"/api/patients/{patient_id}/medication-requests">;
export type AllergyCheck = MedicationRequestCreated["allergy_check"];
export type MedicationStatusChange = PatchBody<"/api/patients/{patient_id}/medication-requests/{request_id}">;

/** Every paged list of the API answers this shape. */
export interface Paged<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
  /** True when counting stopped at a cap (patient name search): at least `total`. */
  total_is_lower_bound?: boolean;
}
