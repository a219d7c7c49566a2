import { describe, expect, it } from "vitest";
import { ApiError, networkError } from "../api/errors";
import { AttemptKeys, describeBookingError, isStaleSlot, lateChangeNotice } from "./booking";

const apiError = (status: number, code: string, details: unknown = null) =>
  new ApiError({ status, code, message: `server says ${code}`, details });

describe("describeBookingError", () => {
  it("says what a taken slot means, to staff and to patients", () => {
    expect(describeBookingError(apiError(409, "slot_taken"), "staff")).toMatch(/just been booked.*refreshed/);
    expect(describeBookingError(apiError(409, "slot_taken"), "patient")).toMatch(/^Sorry, someone has just booked/);
  });

  it("explains the cancellation cut-off politely, with its hours", () => {
    const text = describeBookingError(apiError(409, "cancellation_cutoff", { cutoff_hours: 24 }), "patient");
    expect(text).toContain("less than 24 hours away");
    expect(text).toContain("Please call reception");
    expect(text).not.toContain("server says");
  });

  it("explains the booking horizon and a repeated waitlist request", () => {
    expect(describeBookingError(apiError(400, "too_far_ahead"), "patient")).toMatch(/up to two years ahead/);
    expect(describeBookingError(apiError(409, "already_waiting"), "patient")).toMatch(/^You are already on the waitlist/);
    expect(describeBookingError(apiError(409, "already_waiting"), "staff")).toMatch(/^The patient is already/);
    expect(describeBookingError(apiError(400, "not_a_slot"))).toMatch(/no longer offered/);
  });

  it("falls back to the shared wording for other errors", () => {
    expect(describeBookingError(networkError(new TypeError("Failed to fetch")))).toMatch(/Cannot reach Hospital Hub/);
    expect(describeBookingError(apiError(409, "something_new"))).toBe("server says something_new");
  });

  it("marks refusals that make the list of free times stale", () => {
    expect(isStaleSlot(apiError(409, "slot_taken"))).toBe(true);
    expect(isStaleSlot(apiError(400, "outside_hours"))).toBe(true);
    expect(isStaleSlot(apiError(400, "not_a_slot"))).toBe(true);
    expect(isStaleSlot(apiError(400, "too_far_ahead"))).toBe(false);
    expect(isStaleSlot(apiError(409, "cancellation_cutoff"))).toBe(false);
    expect(isStaleSlot(new Error("x"))).toBe(false);
  });
});

describe("AttemptKeys (one Idempotency-Key per booking attempt)", () => {
  const counter = () => {
    let n = 0;
    return () => `key-${++n}`;
  };

  it("reuses the key for the same body until the attempt ends", () => {
    const keys = new AttemptKeys(counter());
    const body = { type_id: "t", staff_id: "s", start: "2026-12-07T09:00:00Z" };
    expect(keys.keyFor(body)).toBe("key-1");
    expect(keys.keyFor({ ...body })).toBe("key-1"); // double click
    keys.settle(networkError(new TypeError("lost"))); // unknown outcome: a retry must replay
    expect(keys.keyFor(body)).toBe("key-1");
    keys.settle(null); // booked: the next booking is a new attempt
    expect(keys.keyFor(body)).toBe("key-2");
  });

  it("starts a new attempt after a definite refusal or with another slot", () => {
    const keys = new AttemptKeys(counter());
    const body = { start: "2026-12-07T09:00:00Z" };
    expect(keys.keyFor(body)).toBe("key-1");
    keys.settle(apiError(409, "slot_taken"));
    expect(keys.keyFor(body)).toBe("key-2");
    expect(keys.keyFor({ start: "2026-12-07T09:15:00Z" })).toBe("key-3");
  });

  it("keeps the key after a server error (it may have booked before failing to answer)", () => {
    const keys = new AttemptKeys(counter());
    const body = { start: "x" };
    keys.keyFor(body);
    keys.settle(apiError(503, "service_unavailable"));
    expect(keys.keyFor(body)).toBe("key-1");
  });
});

describe("lateChangeNotice", () => {
  const slot = { start: "2026-12-07T10:15:00Z", change_deadline: "2026-12-06T10:15:00Z" };

  it("warns before booking a time inside the cut-off, in the audience's words", () => {
    const now = new Date("2026-12-07T09:53:00Z");
    expect(lateChangeNotice(slot, "patient", now)).toBe(
      "This visit is less than 24 hours away: once booked, it cannot be changed or cancelled online. To change it, please call reception.",
    );
    expect(lateChangeNotice(slot, "staff", now)).toMatch(/inside the 24-hour cancellation cut-off: the patient will not/);
    expect(lateChangeNotice(slot, "patient", new Date("2026-12-06T10:15:00Z"))).not.toBeNull(); // at the deadline
  });

  it("says nothing while the time can still be changed online", () => {
    expect(lateChangeNotice(slot, "patient", new Date("2026-12-06T10:14:59Z"))).toBeNull();
  });
});
