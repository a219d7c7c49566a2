// Named aliases over the generated schema for the appointment book, reached through `paths` like
// src/api/types.ts (kept here so the appointments screens and the staff screens, built side by
// side, never edit one shared file).
import type { paths } from "../api/schema";

type JsonOf<T> = T extends { content: { "application/json": infer B } } ? B : never;
type Get<P extends keyof paths> = paths[P] extends { get: { responses: { 200: infer R } } } ? JsonOf<R> : never;
type PostBody<P extends keyof paths> = paths[P] extends {
  post: { requestBody?: { content: { "application/json": infer B } } };
}
  ? NonNullable<B>
  : never;

export type AppointmentType = Get<"/api/appointments/types">[number];
export type Mode = AppointmentType["mode"];
export type SlotPage = Get<"/api/appointments/slots">;
export type Slot = SlotPage["items"][number];
export type AppointmentPage = Get<"/api/appointments">;
export type Appointment = AppointmentPage["items"][number];
export type AppointmentStatus = Appointment["status"];
export type AppointmentAction = Appointment["actions"][number];
export type AppointmentCreate = PostBody<"/api/appointments">;
export type RescheduleRequest = PostBody<"/api/appointments/{appointment_id}/reschedule">;
export type CancelRequest = PostBody<"/api/appointments/{appointment_id}/cancel">;
export type WaitlistPage = Get<"/api/appointments/waitlist">;
export type WaitlistEntry = WaitlistPage["items"][number];
export type WaitlistCreate = PostBody<"/api/appointments/waitlist">;
export type ClinicianPage = Get<"/api/appointments/clinicians">;
export type Clinician = ClinicianPage["items"][number];
export type StaffPage = Get<"/api/staff">;
export type StaffMember = StaffPage["items"][number];
export type Department = Get<"/api/staff/departments">[number];
export type OwnStaffRecord = NonNullable<Get<"/api/staff/me">>;
