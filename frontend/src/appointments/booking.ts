// Booking without React: what each refusal means to a person, which refusals make the list of free
// times stale, and the Idempotency-Key rule.
import { ApiError, describeError } from "../api/errors";
import { SubmissionKeys } from "../patients/prescribing";

export type Audience = "staff" | "patient";

/** Refusals that mean the time on screen is no longer free: show the message and reload the list. */
const STALE_SLOT = new Set([
  "slot_taken",
  "outside_hours",
  "not_a_slot",
  "in_past",
  "staff_on_leave",
  "licence_expired",
  "type_inactive",
]);

export function isStaleSlot(err: unknown): boolean {
  return err instanceof ApiError && STALE_SLOT.has(err.code);
}

function hoursOf(err: ApiError): number | null {
  const details = err.details as { cutoff_hours?: unknown } | null;
  return typeof details?.cutoff_hours === "number" ? details.cutoff_hours : null;
}

/**
 * Before booking (or moving to) a time inside the facility's cancellation cut-off: what that means,
 * or null when the time can still be changed online afterwards. `changeDeadline` is the slot's
 * `change_deadline` (its start minus the cut-off).
 */
export function lateChangeNotice(
  slot: { start: string; change_deadline: string },
  audience: Audience,
  now: Date = new Date(),
): string | null {
  const deadline = new Date(slot.change_deadline);
  if (now < deadline) return null;
  const hours = Math.round((new Date(slot.start).getTime() - deadline.getTime()) / 3_600_000);
  return audience === "patient"
    ? `This visit is less than ${hours} hours away: once booked, it cannot be changed or cancelled online. To change it, please call reception.`
    : `This time is inside the ${hours}-hour cancellation cut-off: the patient will not be able to change or cancel it online.`;
}

/** The sentence a person sees when the appointment book says no. */
export function describeBookingError(err: unknown, audience: Audience = "staff"): string {
  if (!(err instanceof ApiError)) return describeError(err);
  const patient = audience === "patient";
  switch (err.code) {
    case "slot_taken":
      return patient
        ? "Sorry, someone has just booked that time. The free times below are up to date again; please choose another."
        : "That time has just been booked by someone else. The free slots have been refreshed; pick another.";
    case "patient_busy":
      return patient
        ? "You already have an appointment at that time. Please choose another time."
        : "The patient already has an appointment that overlaps this time.";
    case "outside_hours":
    case "not_a_slot":
      return "That time is no longer offered for this kind of visit. The free times have been refreshed.";
    case "too_far_ahead":
      return patient
        ? "Visits can be booked up to two years ahead. Please choose an earlier date."
        : "Appointments can be booked at most two years ahead.";
    case "already_waiting":
      return patient
        ? "You are already on the waitlist for this, with the same dates."
        : "The patient is already on the waitlist for this, with the same dates.";
    case "in_past":
      return "That time has already passed. The free times have been refreshed.";
    case "staff_on_leave":
      return "The clinician is away at that time. The free times have been refreshed.";
    case "licence_expired":
      return "The clinician cannot be booked on that day. Please choose another clinician or day.";
    case "type_inactive":
      return "This kind of visit is no longer offered. Please choose another.";
    case "cancellation_cutoff": {
      const hours = hoursOf(err);
      const within = hours ? `less than ${hours} hours away` : "too close";
      return `This visit is ${within}, so it can no longer be changed or cancelled online. Please call reception and we will gladly help.`;
    }
    case "reason_required":
      return "This appointment is within the cancellation cut-off: give a reason to go ahead.";
    case "invalid_transition":
      return "This appointment has changed in the meantime (someone else may have updated it). It has been reloaded.";
    case "too_early":
      return "Check-in opens on the day of the appointment.";
    case "not_started":
      return "A no-show can only be recorded once the appointment has started.";
    case "offer_expired":
      return "This offer has expired and the time has gone back to the free list.";
    case "patient_required":
      return "Choose a patient first.";
    case "patient_inactive":
      return "This patient record is not active, so it cannot be booked.";
    case "idempotency_key_reused":
      return "This request was already sent with different details. Please try again.";
    default:
      return describeError(err);
  }
}

/**
 * One Idempotency-Key per booking attempt: a double click or a retry after a lost answer sends
 * the same key with the same body, so the server books once and replays its answer. A success or a
 * definite refusal (4xx) ends the attempt; the next try gets a new key.
 */
export class AttemptKeys {
  private readonly keys: SubmissionKeys;
  constructor(newKey?: () => string) {
    this.keys = new SubmissionKeys(newKey);
  }

  keyFor(body: unknown): string {
    return this.keys.keyFor(body);
  }

  /** After an answer: keep the key only when the outcome is unknown (network down, 5xx). */
  settle(err: unknown | null): void {
    if (err === null || (err instanceof ApiError && err.status >= 400 && err.status < 500)) this.keys.reset();
  }
}
