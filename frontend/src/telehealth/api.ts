// The telehealth endpoints the screens use, each returning data or throwing an ApiError.
import { unwrap, type ApiClient } from "../api/client";
import type { paths } from "../api/types";

type JsonOf<T> = T extends { content: { "application/json": infer B } } ? B : never;
export type Consultation = JsonOf<paths["/api/telehealth/consultations"]["get"]["responses"][200]>[number];
export type ConsultationDetail = JsonOf<paths["/api/telehealth/consultations/{consultation_id}"]["get"]["responses"][200]>;
export type JoinResponse = JsonOf<paths["/api/telehealth/consultations/{consultation_id}/join"]["post"]["responses"][200]>;
export type InviteCreated = JsonOf<paths["/api/telehealth/consultations/{consultation_id}/invites"]["post"]["responses"][201]>;
export type Recording = ConsultationDetail["recordings"][number];

export function listConsultations(api: ApiClient, signal?: AbortSignal): Promise<Consultation[]> {
  return unwrap(api.GET("/api/telehealth/consultations", { signal }));
}

export function getConsultation(api: ApiClient, id: string, signal?: AbortSignal): Promise<ConsultationDetail> {
  return unwrap(api.GET("/api/telehealth/consultations/{consultation_id}", { params: { path: { consultation_id: id } }, signal }));
}

export function joinConsultation(api: ApiClient, id: string): Promise<JoinResponse> {
  return unwrap(api.POST("/api/telehealth/consultations/{consultation_id}/join", { params: { path: { consultation_id: id } } }));
}

export function endConsultation(api: ApiClient, id: string): Promise<unknown> {
  return unwrap(api.POST("/api/telehealth/consultations/{consultation_id}/end", { params: { path: { consultation_id: id } } }));
}

export function inviteGuest(api: ApiClient, id: string, displayName: string, relationship: "interpreter" | "family" | "carer" | "other"): Promise<InviteCreated> {
  return unwrap(
    api.POST("/api/telehealth/consultations/{consultation_id}/invites", {
      params: { path: { consultation_id: id } },
      body: { display_name: displayName, relationship },
    }),
  );
}

export function startRecording(api: ApiClient, id: string): Promise<Recording> {
  return unwrap(api.POST("/api/telehealth/consultations/{consultation_id}/recordings", { params: { path: { consultation_id: id } } }));
}

export function stopRecording(api: ApiClient, id: string, recordingId: string): Promise<Recording> {
  return unwrap(
    api.POST("/api/telehealth/consultations/{consultation_id}/recordings/{recording_id}/stop", {
      params: { path: { consultation_id: id, recording_id: recordingId } },
    }),
  );
}

export function guestJoin(api: ApiClient, token: string, resumeKey: string | null): Promise<JoinResponse> {
  return unwrap(api.POST("/api/telehealth/guest/join", { body: { token, resume_key: resumeKey } }));
}

export function addVisitNote(api: ApiClient, patientId: string, encounterId: string, text: string): Promise<unknown> {
  return unwrap(
    api.POST("/api/patients/{patient_id}/encounters/{encounter_id}/notes", {
      params: { path: { patient_id: patientId, encounter_id: encounterId } },
      body: { text },
    }),
  );
}
