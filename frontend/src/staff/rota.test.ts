import { describe, expect, it } from "vitest";
import { ApiError } from "../api/errors";
import { EARLY, GEN, GRACE, LATE, MATEO, NIGHT, WEEK, makeLeave, makeShift, rotaOf, makeStaff, MATEO_RECORD } from "../test/staff";
import { addDays, mondayOf, todayIn, wallClock, weekDays, zonedParts } from "./dates";
import { licenceState } from "./licence";
import {
  bookedLabel,
  buildGrid,
  copyWeek,
  describeConflict,
  leaveOnDay,
  shiftTimes,
  shiftsDuringLeaveOf,
  strandedAppointmentsOf,
  strandedInWarnings,
  violationTitle,
  violationsOf,
  weekProblemsOf,
} from "./rota";
import type { Qualification } from "./types";

const people = () => [makeStaff(), { ...MATEO_RECORD }];

describe("facility-local days", () => {
  it("finds the Monday of any day, across month and year ends", () => {
    expect(mondayOf("2026-01-05")).toBe("2026-01-05");
    expect(mondayOf("2026-01-11")).toBe("2026-01-05");
    expect(mondayOf("2026-01-01")).toBe("2025-12-29");
    expect(weekDays("2026-03-23")).toEqual([
      "2026-03-23",
      "2026-03-24",
      "2026-03-25",
      "2026-03-26",
      "2026-03-27",
      "2026-03-28",
      "2026-03-29",
    ]);
    expect(addDays("2024-02-28", 1)).toBe("2024-02-29");
  });

  it("takes today in the facility's zone, not the viewer's", () => {
    const lateEvening = new Date("2026-06-30T23:30:00Z");
    expect(todayIn("Europe/London", lateEvening)).toBe("2026-07-01"); // BST
    expect(todayIn("America/New_York", lateEvening)).toBe("2026-06-30");
  });

  it("reads wall-clock times as the API wrote them, and instants in the facility's zone", () => {
    expect(wallClock("2026-03-29T07:00:00+01:00")).toBe("07:00");
    expect(zonedParts("2026-03-29T06:00:00Z", "Europe/London")).toEqual({ day: "2026-03-29", time: "07:00" });
    expect(zonedParts("2026-03-28T06:00:00Z", "Europe/London")).toEqual({ day: "2026-03-28", time: "06:00" });
  });
});

describe("the rota grid", () => {
  it("puts each shift and leave in its person's day, shifts by start time", () => {
    const late = makeShift(GRACE, "2026-01-06", LATE);
    const early = makeShift(GRACE, "2026-01-06", EARLY);
    const state = {
      shifts: [late, early, makeShift(MATEO, "2026-01-07", NIGHT)],
      leave: [makeLeave(MATEO, "2026-01-09", "2026-01-10")],
      limit: 48,
      staff: people(),
    };
    const grid = buildGrid(rotaOf(state, GEN, WEEK, addDays(WEEK, 6)));
    expect(grid.days).toHaveLength(7);
    const grace = grid.rows.find((r) => r.person.id === GRACE)!;
    const mateo = grid.rows.find((r) => r.person.id === MATEO)!;
    expect(grace.cells[1]!.shifts.map((s) => s.definition_name)).toEqual(["Early", "Late"]);
    expect(grace.cells[0]!.shifts).toEqual([]);
    expect(grace.hours).toBe(16);
    expect(mateo.cells[2]!.shifts[0]!.definition_name).toBe("Night");
    expect(mateo.cells.map((c) => c.leave.length)).toEqual([0, 0, 0, 0, 1, 1, 0]);
    expect(grace.overLimit).toBe(false);
  });

  it("flags a person above the weekly hours limit", () => {
    const shifts = [0, 1, 2].map((i) => makeShift(GRACE, addDays(WEEK, i), EARLY));
    const grid = buildGrid(rotaOf({ shifts, leave: [], limit: 20, staff: people() }, GEN, WEEK, addDays(WEEK, 6)));
    const grace = grid.rows.find((r) => r.person.id === GRACE)!;
    expect(grace.hours).toBe(24);
    expect(grace.overLimit).toBe(true);
    expect(grid.rows.find((r) => r.person.id === MATEO)!.overLimit).toBe(false);
  });

  it("shows a night shift's end on the next day", () => {
    expect(shiftTimes(makeShift(GRACE, WEEK, NIGHT))).toBe("22:00–07:30 (+1)");
    expect(shiftTimes(makeShift(GRACE, WEEK, EARLY))).toBe("07:00–15:00");
    // The clocks go forward overnight: the API's offsets change, the wall-clock times stay.
    expect(shiftTimes({ local_start: "2026-03-28T22:00:00+00:00", local_end: "2026-03-29T07:30:00+01:00" })).toBe(
      "22:00–07:30 (+1)",
    );
  });

  it("reads winter local times written with an explicit +00:00 offset (and the older Z)", () => {
    expect(shiftTimes({ local_start: "2027-01-11T07:00:00+00:00", local_end: "2027-01-11T15:00:00+00:00" })).toBe("07:00–15:00");
    expect(shiftTimes({ local_start: "2027-01-11T22:00:00+00:00", local_end: "2027-01-12T07:30:00+00:00" })).toBe(
      "22:00–07:30 (+1)",
    );
    expect(shiftTimes({ local_start: "2027-01-11T07:00:00Z", local_end: "2027-01-11T15:00:00Z" })).toBe("07:00–15:00");
    // The repeated hour of the autumn change: the first 01:30 is on summer time.
    expect(shiftTimes({ local_start: "2027-10-31T01:30:00+01:00", local_end: "2027-10-31T03:00:00+00:00" })).toBe("01:30–03:00");
  });

  it("describes partial-day leave per day", () => {
    const lv = makeLeave(GRACE, WEEK, WEEK, {
      all_day: false,
      kind: "training",
      starts_at: "2026-01-05T13:00:00Z",
      ends_at: "2026-01-06T10:00:00Z",
    });
    expect(leaveOnDay(lv, "2026-01-05", "Europe/London")).toBe("Training from 13:00");
    expect(leaveOnDay(lv, "2026-01-06", "Europe/London")).toBe("Training until 10:00");
    expect(leaveOnDay(makeLeave(GRACE, WEEK, WEEK), WEEK, "Europe/London")).toBe("Annual leave");
  });
});

describe("booked appointments a change would strand", () => {
  const refusal = (code: string, details: unknown) => new ApiError({ status: 409, code, message: "booked", details });
  const booked = {
    staff_id: GRACE,
    total: 7,
    truncated: false,
    appointments: [
      { id: "a1", start: "2027-01-12T10:00:00Z", end: "2027-01-12T10:30:00Z", local_start: "2027-01-12T10:00:00+00:00", type: "GP consultation", mode: "in_person", status: "booked" },
      { id: "a2", start: "2027-07-13T08:00:00Z", end: "2027-07-13T08:20:00Z", local_start: "2027-07-13T09:00:00+01:00", type: null, mode: "video", status: "booked" },
    ],
  };

  it("parses the 409 of leave and of licences, and nothing else", () => {
    const found = strandedAppointmentsOf(refusal("appointments_during_leave", booked), "appointments_during_leave")!;
    expect(found.total).toBe(7);
    expect(found.appointments.map(bookedLabel)).toEqual(["Tue 12 Jan 10:00 · GP consultation", "Tue 13 Jul 09:00"]);
    expect(strandedAppointmentsOf(refusal("appointments_during_leave", booked), "appointments_without_licence")).toBeNull();
    expect(strandedAppointmentsOf(refusal("shift_during_leave", { shifts: [] }), "appointments_during_leave")).toBeNull();
    expect(strandedAppointmentsOf(new Error("boom"), "appointments_during_leave")).toBeNull();
    expect(strandedAppointmentsOf(refusal("appointments_without_licence", null), "appointments_without_licence")).toEqual({
      total: 0,
      appointments: [],
    });
  });

  it("reads the warnings of a saved change", () => {
    expect(strandedInWarnings([])).toBeNull();
    expect(strandedInWarnings(undefined)).toBeNull();
    const got = strandedInWarnings([{ code: "appointments_during_leave", message: "", total: 2, appointments: booked.appointments }]);
    expect(got?.total).toBe(2);
    expect(got?.appointments.map((a) => a.id)).toEqual(["a1", "a2"]);
  });

  it("names the clock-change refusal", () => {
    expect(violationTitle("nonexistent_local_time")).toBe("Time skipped by the clock change");
  });
});

describe("rule violations", () => {
  const refusal = (code: string, details: unknown) =>
    new ApiError({ status: 409, code, message: "refused", details });

  it("reads every broken rule with what it clashed with", () => {
    const err = refusal("shift_overlap", {
      shift: {},
      violations: [
        {
          code: "shift_overlap",
          message: "Dr. Grace Okafor already works a shift at that time",
          conflicts_with: [{ kind: "shift", start: "2026-07-06T06:00:00Z", end: "2026-07-06T14:00:00Z", label: "Early" }],
        },
        { code: "insufficient_rest", message: "needs 8 hours", conflicts_with: [], min_rest_hours: 8 },
        { code: "licence_expired", message: "no licence", conflicts_with: [], days: ["2026-07-06"] },
      ],
    });
    const found = violationsOf(err)!;
    expect(found.map((v) => v.code)).toEqual(["shift_overlap", "insufficient_rest", "licence_expired"]);
    expect(found[1]!.minRestHours).toBe(8);
    expect(found[2]!.days).toEqual(["2026-07-06"]);
    // In July the facility is on BST: 06:00Z is 07:00 on the ward.
    expect(describeConflict(found[0]!.conflictsWith[0]!, "Europe/London")).toBe("Early: Mon 6 Jul 07:00–15:00");
  });

  it("falls back to the error's own code, and ignores what is not a rule refusal", () => {
    expect(violationsOf(refusal("on_leave", null))).toEqual([{ code: "on_leave", message: "refused", conflictsWith: [] }]);
    expect(violationsOf(refusal("user_already_linked", null))).toBeNull();
    expect(violationsOf(new ApiError({ status: 403, code: "forbidden", message: "no" }))).toBeNull();
    expect(violationsOf(new Error("boom"))).toBeNull();
  });

  it("reads a refused bulk week per item, and shifts that block leave", () => {
    const items = weekProblemsOf(
      refusal("rota_violations", {
        items: [{ index: 2, staff_id: GRACE, date: "2026-01-07", violations: [{ code: "on_leave", message: "away", conflicts_with: [] }] }],
      }),
    )!;
    expect(items).toEqual([
      { index: 2, staffId: GRACE, day: "2026-01-07", violations: [{ code: "on_leave", message: "away", conflictsWith: [] }] },
    ]);
    expect(shiftsDuringLeaveOf(refusal("shift_during_leave", { shifts: [{ id: "s1", date: "2026-01-07" }] }))).toEqual([
      { id: "s1", day: "2026-01-07" },
    ]);
  });
});

describe("copy last week", () => {
  it("moves each shift seven days on, keeping its definition or its wall-clock times", () => {
    const lastWeek = addDays(WEEK, -7);
    const byDefinition = makeShift(GRACE, lastWeek, EARLY, { note: "cover" });
    const byHand = makeShift(MATEO, addDays(lastWeek, 6), NIGHT, {
      definition_id: null,
      definition_name: null,
      local_start: `${addDays(lastWeek, 6)}T21:15:00+00:00`,
      local_end: `${WEEK}T06:45:00+00:00`,
    });
    const previous = rotaOf({ shifts: [byDefinition, byHand], leave: [], limit: 48, staff: people() }, GEN, lastWeek, addDays(lastWeek, 6));
    expect(copyWeek(previous, WEEK)).toEqual([
      { staff_id: GRACE, date: WEEK, clinical: true, note: "cover", definition_id: EARLY },
      { staff_id: MATEO, date: addDays(WEEK, 6), clinical: true, note: null, start_time: "21:15:00", end_time: "06:45:00" },
    ]);
  });
});

describe("licence state", () => {
  const lic = (valid_from: string | null, valid_to: string | null, kind: "licence" | "qualification" = "licence"): Qualification => ({
    id: `${valid_from}-${valid_to}`,
    kind,
    code: { system: null, code: "GMC", display: "GMC" },
    number: null,
    issuer: null,
    valid_from,
    valid_to,
  });
  const today = "2026-01-05";

  it("expired, expiring, valid, none", () => {
    expect(licenceState([lic("2015-01-01", "2025-12-31")], today)).toEqual({ kind: "expired", validTo: "2025-12-31", daysAgo: 5 });
    expect(licenceState([lic("2015-01-01", "2026-01-20")], today)).toEqual({ kind: "expiring", validTo: "2026-01-20", daysLeft: 15 });
    expect(licenceState([lic("2015-01-01", "2027-01-20")], today).kind).toBe("valid");
    expect(licenceState([lic("2015-01-01", null)], today)).toEqual({ kind: "valid", validTo: null, daysLeft: null });
    expect(licenceState([lic("2015-01-01", "2020-01-01", "qualification")], today)).toEqual({ kind: "none" });
    expect(licenceState([], today)).toEqual({ kind: "none" });
  });

  it("a renewal that starts the day after the old one ends keeps the licence valid", () => {
    expect(licenceState([lic("2015-01-01", "2026-01-10"), lic("2026-01-11", "2028-01-10")], today)).toEqual({
      kind: "valid",
      validTo: "2028-01-10",
      daysLeft: 735,
    });
    // A gap is not a renewal: the first end is what counts.
    expect(licenceState([lic("2015-01-01", "2026-01-10"), lic("2026-01-20", "2028-01-10")], today).kind).toBe("expiring");
    // Not yet valid is not valid.
    expect(licenceState([lic("2026-02-01", "2028-01-10")], today).kind).toBe("expired");
  });
});
