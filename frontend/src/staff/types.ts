// Named aliases over the generated schema for the staff screens, reached through `paths` like
// src/api/types.ts, so a renamed Pydantic model does not break the screens while the shapes hold.
import type { paths } from "../api/schema";

type JsonOf<T> = T extends { content: { "application/json": infer B } } ? B : never;
type Ok<O> = O extends { responses: { 200: infer R } } ? JsonOf<R> : O extends { responses: { 201: infer R } } ? JsonOf<R> : never;
type Body<O> = O extends { requestBody: { content: { "application/json": infer B } } }
  ? B
  : O extends { requestBody?: { content: { "application/json": infer B } } }
    ? B
    : never;

export type StaffPage = Ok<paths["/api/staff"]["get"]>;
export type StaffMember = StaffPage["items"][number];
export type StaffDetail = Ok<paths["/api/staff/{staff_id}"]["get"]>;
export type Qualification = StaffMember["qualifications"][number];
export type Position = StaffDetail["positions"][number];
export type Department = Ok<paths["/api/staff/departments"]["get"]>[number];
export type ExpiringReport = Ok<paths["/api/staff/licences/expiring"]["get"]>;
export type ExpiringLicence = ExpiringReport["items"][number];
export type ShiftDefinition = Ok<paths["/api/staff/shift-definitions"]["get"]>[number];
export type Rota = Ok<paths["/api/staff/rota"]["get"]>;
export type RotaStaff = Rota["staff"][number];
export type RotaWarning = Rota["warnings"][number];
export type Shift = Rota["days"][number]["shifts"][number];
export type Leave = Rota["days"][number]["leave"][number];
export type LeaveKind = Leave["kind"];
export type Schedule = Ok<paths["/api/staff/{staff_id}/schedule"]["get"]>;
export type ShiftCreate = Body<paths["/api/staff/shifts"]["post"]>;
export type ShiftUpdate = Body<paths["/api/staff/shifts/{shift_id}"]["patch"]>;
export type ShiftResult = Ok<paths["/api/staff/shifts"]["post"]>;
export type ShiftCheck = Ok<paths["/api/staff/shifts/check"]["post"]>;
export type RotaWeek = Body<paths["/api/staff/rota/week"]["post"]>;
export type RotaShift = RotaWeek["shifts"][number];
export type RotaWeekResult = Ok<paths["/api/staff/rota/week"]["post"]>;
export type LeaveCreate = Body<paths["/api/staff/leave"]["post"]>;
export type LeaveResult = Ok<paths["/api/staff/leave"]["post"]>;
export type AppointmentsWarning = LeaveResult["warnings"][number];
export type LicenceCreate = Body<paths["/api/staff/{staff_id}/licences"]["post"]>;
export type LicenceUpdate = Body<paths["/api/staff/{staff_id}/licences/{licence_id}"]["patch"]>;
export type LicenceChanged = Ok<paths["/api/staff/{staff_id}/licences/{licence_id}"]["patch"]>;
export type PositionCreate = Body<paths["/api/staff/{staff_id}/positions"]["post"]>;
export type FeedStatus = Ok<paths["/api/staff/{staff_id}/calendar-feed"]["get"]>;
export type FeedCreated = Ok<paths["/api/staff/{staff_id}/calendar-feed"]["post"]>;
