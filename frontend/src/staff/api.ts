// The staff endpoints the screens use, each returning data or throwing an ApiError.
import { unwrap, type ApiClient } from "../api/client";
import type {
  Department,
  ExpiringReport,
  FeedCreated,
  FeedStatus,
  LeaveCreate,
  LeaveResult,
  LicenceChanged,
  LicenceCreate,
  LicenceUpdate,
  Position,
  PositionCreate,
  Qualification,
  Rota,
  RotaWeek,
  RotaWeekResult,
  Schedule,
  ShiftCheck,
  ShiftCreate,
  ShiftDefinition,
  ShiftResult,
  ShiftUpdate,
  StaffDetail,
  StaffPage,
} from "./types";

export interface StaffQuery {
  name: string;
  departmentId: string;
  includeInactive: boolean;
  limit: number;
  offset: number;
}

export function searchStaff(api: ApiClient, q: StaffQuery, signal?: AbortSignal): Promise<StaffPage> {
  const query: { name?: string; department_id?: string; active?: boolean; limit: number; offset: number } = {
    limit: q.limit,
    offset: q.offset,
  };
  const name = q.name.trim();
  if (name) query.name = name;
  if (q.departmentId) query.department_id = q.departmentId;
  if (!q.includeInactive) query.active = true;
  return unwrap(api.GET("/api/staff", { params: { query }, signal }));
}

export function getStaff(api: ApiClient, id: string, signal?: AbortSignal): Promise<StaffDetail> {
  return unwrap(api.GET("/api/staff/{staff_id}", { params: { path: { staff_id: id } }, signal }));
}

export function listDepartments(api: ApiClient, signal?: AbortSignal): Promise<Department[]> {
  return unwrap(api.GET("/api/staff/departments", { params: { query: {} }, signal }));
}

export function expiringLicences(api: ApiClient, days: number, signal?: AbortSignal): Promise<ExpiringReport> {
  return unwrap(api.GET("/api/staff/licences/expiring", { params: { query: { days } }, signal }));
}

export function addLicence(api: ApiClient, staffId: string, body: LicenceCreate): Promise<Qualification> {
  return unwrap(api.POST("/api/staff/{staff_id}/licences", { params: { path: { staff_id: staffId } }, body }));
}

export function updateLicence(
  api: ApiClient,
  staffId: string,
  licenceId: string,
  body: LicenceUpdate,
): Promise<LicenceChanged> {
  return unwrap(
    api.PATCH("/api/staff/{staff_id}/licences/{licence_id}", {
      params: { path: { staff_id: staffId, licence_id: licenceId } },
      body,
    }),
  );
}

export function addPosition(api: ApiClient, staffId: string, body: PositionCreate): Promise<Position> {
  return unwrap(api.POST("/api/staff/{staff_id}/positions", { params: { path: { staff_id: staffId } }, body }));
}

export function staffSchedule(
  api: ApiClient,
  staffId: string,
  start: string,
  end: string,
  signal?: AbortSignal,
): Promise<Schedule> {
  return unwrap(
    api.GET("/api/staff/{staff_id}/schedule", {
      params: { path: { staff_id: staffId }, query: { start, end } },
      signal,
    }),
  );
}

export function feedStatus(api: ApiClient, staffId: string, signal?: AbortSignal): Promise<FeedStatus> {
  return unwrap(api.GET("/api/staff/{staff_id}/calendar-feed", { params: { path: { staff_id: staffId } }, signal }));
}

export function createFeed(api: ApiClient, staffId: string): Promise<FeedCreated> {
  return unwrap(api.POST("/api/staff/{staff_id}/calendar-feed", { params: { path: { staff_id: staffId } } }));
}

export async function revokeFeed(api: ApiClient, staffId: string): Promise<void> {
  await unwrapEmpty(api.DELETE("/api/staff/{staff_id}/calendar-feed", { params: { path: { staff_id: staffId } } }));
}

// --- rota --------------------------------------------------------------------------------------

export function listDefinitions(api: ApiClient, signal?: AbortSignal): Promise<ShiftDefinition[]> {
  return unwrap(api.GET("/api/staff/shift-definitions", { params: { query: { active: true } }, signal }));
}

export function getRota(
  api: ApiClient,
  departmentId: string,
  start: string,
  end: string,
  signal?: AbortSignal,
): Promise<Rota> {
  return unwrap(
    api.GET("/api/staff/rota", { params: { query: { department_id: departmentId, start, end } }, signal }),
  );
}

export function createShift(api: ApiClient, body: ShiftCreate): Promise<ShiftResult> {
  return unwrap(api.POST("/api/staff/shifts", { body }));
}

/** The rota rules a new shift would break (200, nothing saved): asked before `createShift`. */
export function checkNewShift(api: ApiClient, body: ShiftCreate): Promise<ShiftCheck> {
  return unwrap(api.POST("/api/staff/shifts/check", { body }));
}

/** The rota rules a change of a shift would break (200, nothing saved): asked before `updateShift`. */
export function checkShiftChange(api: ApiClient, shiftId: string, body: ShiftUpdate): Promise<ShiftCheck> {
  return unwrap(api.POST("/api/staff/shifts/{shift_id}/check", { params: { path: { shift_id: shiftId } }, body }));
}

export function updateShift(api: ApiClient, shiftId: string, body: ShiftUpdate): Promise<ShiftResult> {
  return unwrap(api.PATCH("/api/staff/shifts/{shift_id}", { params: { path: { shift_id: shiftId } }, body }));
}

export async function deleteShift(api: ApiClient, shiftId: string): Promise<void> {
  await unwrapEmpty(api.DELETE("/api/staff/shifts/{shift_id}", { params: { path: { shift_id: shiftId } } }));
}

export function saveWeek(api: ApiClient, body: RotaWeek): Promise<RotaWeekResult> {
  return unwrap(api.POST("/api/staff/rota/week", { body }));
}

export function createLeave(api: ApiClient, body: LeaveCreate): Promise<LeaveResult> {
  return unwrap(api.POST("/api/staff/leave", { body }));
}

export async function deleteLeave(api: ApiClient, leaveId: string): Promise<void> {
  await unwrapEmpty(api.DELETE("/api/staff/leave/{leave_id}", { params: { path: { leave_id: leaveId } } }));
}

/** A 204 has no body: openapi-fetch answers `data: undefined`, which `unwrap` would read as a failure. */
async function unwrapEmpty(pending: Promise<{ data?: unknown; error?: unknown; response: Response }>): Promise<void> {
  const wrapped = pending.then((r) => (r.response.ok ? { ...r, data: r.data ?? null } : r));
  await unwrap(wrapped);
}
