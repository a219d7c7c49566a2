// The appointment endpoints the screens use, each returning data or throwing an ApiError.
import { unwrap, type ApiClient } from "../api/client";
import type {
  Appointment,
  AppointmentCreate,
  AppointmentPage,
  AppointmentStatus,
  AppointmentType,
  CancelRequest,
  ClinicianPage,
  Department,
  Mode,
  OwnStaffRecord,
  RescheduleRequest,
  SlotPage,
  WaitlistCreate,
  WaitlistEntry,
  WaitlistPage,
} from "./types";

export function listTypes(api: ApiClient, mode?: Mode, signal?: AbortSignal): Promise<AppointmentType[]> {
  return unwrap(api.GET("/api/appointments/types", { params: { query: mode ? { mode } : {} }, signal }));
}

export interface SlotQuery {
  typeId: string;
  staffId?: string | null;
  departmentId?: string | null;
  start: string;
  end: string;
  limit?: number;
  cursor?: string | null;
}

export function searchSlots(api: ApiClient, q: SlotQuery, signal?: AbortSignal): Promise<SlotPage> {
  const query: {
    type_id: string;
    start: string;
    end: string;
    limit: number;
    staff_id?: string;
    department_id?: string;
    cursor?: string;
  } = { type_id: q.typeId, start: q.start, end: q.end, limit: q.limit ?? 200 };
  if (q.staffId) query.staff_id = q.staffId;
  if (q.departmentId) query.department_id = q.departmentId;
  if (q.cursor) query.cursor = q.cursor;
  return unwrap(api.GET("/api/appointments/slots", { params: { query }, signal }));
}

export interface AppointmentQuery {
  staffId?: string | null;
  patientId?: string | null;
  start?: string | null;
  end?: string | null;
  status?: AppointmentStatus[];
  limit?: number;
  offset?: number;
}

export function listAppointments(api: ApiClient, q: AppointmentQuery, signal?: AbortSignal): Promise<AppointmentPage> {
  const query: {
    staff_id?: string;
    patient_id?: string;
    start?: string;
    end?: string;
    status?: AppointmentStatus[];
    limit: number;
    offset: number;
  } = { limit: q.limit ?? 50, offset: q.offset ?? 0 };
  if (q.staffId) query.staff_id = q.staffId;
  if (q.patientId) query.patient_id = q.patientId;
  if (q.start) query.start = q.start;
  if (q.end) query.end = q.end;
  if (q.status && q.status.length > 0) query.status = q.status;
  return unwrap(api.GET("/api/appointments", { params: { query }, signal }));
}

/** Every appointment of a window (a calendar week is a few pages at most). */
export async function allAppointments(
  api: ApiClient,
  q: Omit<AppointmentQuery, "limit" | "offset">,
  signal?: AbortSignal,
  maxPages = 10,
): Promise<Appointment[]> {
  const out: Appointment[] = [];
  for (let pageNo = 0; pageNo < maxPages; pageNo++) {
    const page = await listAppointments(api, { ...q, limit: 200, offset: pageNo * 200 }, signal);
    out.push(...page.items);
    if (out.length >= page.total || page.items.length === 0) break;
  }
  return out;
}

export function getAppointment(api: ApiClient, id: string, signal?: AbortSignal): Promise<Appointment> {
  return unwrap(api.GET("/api/appointments/{appointment_id}", { params: { path: { appointment_id: id } }, signal }));
}

export function bookAppointment(api: ApiClient, body: AppointmentCreate, idempotencyKey: string): Promise<Appointment> {
  return unwrap(api.POST("/api/appointments", { body, params: { header: { "Idempotency-Key": idempotencyKey } } }));
}

export function rescheduleAppointment(
  api: ApiClient,
  id: string,
  body: RescheduleRequest,
  idempotencyKey: string,
): Promise<Appointment> {
  return unwrap(
    api.POST("/api/appointments/{appointment_id}/reschedule", {
      params: { path: { appointment_id: id }, header: { "Idempotency-Key": idempotencyKey } },
      body,
    }),
  );
}

export function cancelAppointment(
  api: ApiClient,
  id: string,
  body: CancelRequest,
  idempotencyKey: string,
): Promise<Appointment> {
  return unwrap(
    api.POST("/api/appointments/{appointment_id}/cancel", {
      params: { path: { appointment_id: id }, header: { "Idempotency-Key": idempotencyKey } },
      body,
    }),
  );
}

export type Transition = "check-in" | "complete" | "no-show" | "accept";

export function transition(api: ApiClient, id: string, to: Transition): Promise<Appointment> {
  const params = { path: { appointment_id: id } };
  switch (to) {
    case "check-in":
      return unwrap(api.POST("/api/appointments/{appointment_id}/check-in", { params }));
    case "complete":
      return unwrap(api.POST("/api/appointments/{appointment_id}/complete", { params }));
    case "no-show":
      return unwrap(api.POST("/api/appointments/{appointment_id}/no-show", { params }));
    case "accept":
      return unwrap(api.POST("/api/appointments/{appointment_id}/accept", { params }));
  }
}

export function declineOffer(api: ApiClient, id: string, keepWaiting: boolean): Promise<Appointment> {
  return unwrap(
    api.POST("/api/appointments/{appointment_id}/decline", {
      params: { path: { appointment_id: id } },
      body: { keep_waiting: keepWaiting },
    }),
  );
}

export function listWaitlist(
  api: ApiClient,
  q: { patientId?: string | null; status?: WaitlistEntry["status"][]; limit?: number },
  signal?: AbortSignal,
): Promise<WaitlistPage> {
  const query: { patient_id?: string; status?: WaitlistEntry["status"][]; limit: number; offset: number } = {
    limit: q.limit ?? 50,
    offset: 0,
  };
  if (q.patientId) query.patient_id = q.patientId;
  if (q.status) query.status = q.status;
  return unwrap(api.GET("/api/appointments/waitlist", { params: { query }, signal }));
}

export function joinWaitlist(api: ApiClient, body: WaitlistCreate): Promise<WaitlistEntry> {
  return unwrap(api.POST("/api/appointments/waitlist", { body }));
}

export function leaveWaitlist(api: ApiClient, id: string): Promise<WaitlistEntry> {
  return unwrap(api.DELETE("/api/appointments/waitlist/{entry_id}", { params: { path: { entry_id: id } } }));
}

export interface ClinicianQuery {
  /** Part of a name; sent only when it has a letter or digit to search for. */
  name?: string;
  typeId?: string | null;
  departmentId?: string | null;
  limit?: number;
}

/** Whether `text` has anything the API's name search can match (letters or digits). */
export function searchable(text: string): boolean {
  return /[\p{L}\p{N}]/u.test(text);
}

/**
 * The bookable clinicians (active, clinical, with clinic hours), by name: what the pickers list.
 * Not the staff directory, which after an import holds hundreds of practitioners without hours.
 */
export function listClinicians(api: ApiClient, q: ClinicianQuery = {}, signal?: AbortSignal): Promise<ClinicianPage> {
  const query: { name?: string; type_id?: string; department_id?: string; limit: number; offset: number } = {
    limit: q.limit ?? 50,
    offset: 0,
  };
  const name = q.name?.trim() ?? "";
  if (name && searchable(name)) query.name = name;
  if (q.typeId) query.type_id = q.typeId;
  if (q.departmentId) query.department_id = q.departmentId;
  return unwrap(api.GET("/api/appointments/clinicians", { params: { query }, signal }));
}

export function listDepartments(api: ApiClient, signal?: AbortSignal): Promise<Department[]> {
  return unwrap(api.GET("/api/staff/departments", { params: { query: { active: true } }, signal }));
}

/** The signed-in user's staff record, or null when the account has none (the API answers null). */
export async function myStaffRecord(api: ApiClient, signal?: AbortSignal): Promise<OwnStaffRecord | null> {
  return (await unwrap(api.GET("/api/staff/me", { signal }))) ?? null;
}
