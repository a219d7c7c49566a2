// Labels for the appointment book, the way reception and patients say them.
import type { AppointmentAction, AppointmentStatus, Mode } from "./types";

export const STATUS_LABELS: Record<AppointmentStatus, string> = {
  offered: "Offered",
  booked: "Booked",
  checked_in: "Checked in",
  completed: "Completed",
  no_show: "No-show",
  cancelled: "Cancelled",
};

export const STATUS_ORDER: readonly AppointmentStatus[] = [
  "booked",
  "checked_in",
  "completed",
  "no_show",
  "offered",
  "cancelled",
];

export function statusLabel(status: AppointmentStatus): string {
  return STATUS_LABELS[status] ?? status;
}

export function modeLabel(mode: Mode): string {
  return mode === "video" ? "Video" : "In person";
}

export const STAFF_ACTION_LABELS: Record<AppointmentAction, string> = {
  check_in: "Check in",
  complete: "Mark completed",
  no_show: "Mark no-show",
  reschedule: "Reschedule",
  cancel: "Cancel…",
  accept: "Accept offer",
  decline: "Decline offer",
};

export const PATIENT_ACTION_LABELS: Record<AppointmentAction, string> = {
  check_in: "Check in",
  complete: "Completed",
  no_show: "No-show",
  reschedule: "Change time",
  cancel: "Cancel visit",
  accept: "Accept this time",
  decline: "No thanks",
};
