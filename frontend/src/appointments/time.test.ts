import { describe, expect, it } from "vitest";
import { DOCTOR_ID, makeSlot, NURSE_ID } from "../test/appointments";
import {
  addDays,
  atLocal,
  dateInZone,
  dayWindow,
  formatDayLong,
  formatVisit,
  groupByClinician,
  groupSlotsByDay,
  localDate,
  localTime,
  mergeSlots,
  minutesOfDay,
  offsetMinutes,
  startOfDay,
  toLocalIso,
  weekStart,
  weekday,
  zoneAbbreviation,
  zoneLabel,
} from "./time";
import type { Slot } from "./types";

const LONDON = "Europe/London";

function slot(localStart: string, staffId = DOCTOR_ID, name = "Dr. Grace Okafor"): Slot {
  return {
    start: new Date(localStart).toISOString(),
    end: new Date(new Date(localStart).getTime() + 15 * 60_000).toISOString(),
    local_start: localStart,
    local_end: localStart,
    staff_id: staffId,
    staff_name: name,
    type_id: "t",
    mode: "video",
    change_deadline: new Date(new Date(localStart).getTime() - 24 * 3600_000).toISOString(),
  };
}

describe("wall-clock parts of local_start", () => {
  it("reads the facility's date and time as written, whatever the viewer's zone", () => {
    // 09:00 in London in summer is 08:00 UTC; the screen must say 09:00.
    expect(localDate("2026-07-01T09:00:00+01:00")).toBe("2026-07-01");
    expect(localTime("2026-07-01T09:00:00+01:00")).toBe("09:00");
    expect(minutesOfDay("2026-07-01T13:45:00+01:00")).toBe(13 * 60 + 45);
    // Late evening stays on its own day, not the UTC one.
    expect(localDate("2026-12-31T23:30:00-05:00")).toBe("2026-12-31");
  });

  it("refuses what is not a local ISO datetime", () => {
    expect(() => localTime("yesterday")).toThrow();
  });
});

describe("facility days as UTC windows", () => {
  it("knows London's offset in winter and summer", () => {
    expect(offsetMinutes(new Date("2026-01-15T12:00:00Z"), LONDON)).toBe(0);
    expect(offsetMinutes(new Date("2026-07-15T12:00:00Z"), LONDON)).toBe(60);
    expect(offsetMinutes(new Date("2026-07-15T12:00:00Z"), "America/New_York")).toBe(-240);
  });

  it("starts each day at local midnight, across the clock changes", () => {
    expect(startOfDay("2026-03-28", LONDON).toISOString()).toBe("2026-03-28T00:00:00.000Z");
    // Clocks go forward at 01:00 on 29 March 2026: that day has 23 hours.
    expect(startOfDay("2026-03-30", LONDON).toISOString()).toBe("2026-03-29T23:00:00.000Z");
    const spring = dayWindow("2026-03-29", "2026-03-29", LONDON);
    expect(spring).toEqual({ start: "2026-03-29T00:00:00.000Z", end: "2026-03-29T23:00:00.000Z" });
    // Clocks go back on 25 October 2026: 25 hours.
    const autumn = dayWindow("2026-10-25", "2026-10-25", LONDON);
    expect((new Date(autumn.end).getTime() - new Date(autumn.start).getTime()) / 3_600_000).toBe(25);
  });

  it("turns a wall-clock time into the right instant on either side of the change", () => {
    expect(atLocal("2026-03-28", "09:00", LONDON).toISOString()).toBe("2026-03-28T09:00:00.000Z");
    expect(atLocal("2026-03-30", "09:00", LONDON).toISOString()).toBe("2026-03-30T08:00:00.000Z");
    expect(toLocalIso(new Date("2026-03-30T08:00:00Z"), LONDON)).toBe("2026-03-30T09:00:00+01:00");
    expect(toLocalIso(new Date("2026-01-05T14:30:00Z"), "America/New_York")).toBe("2026-01-05T09:30:00-05:00");
  });

  it("finds the facility's today near midnight", () => {
    // 23:30 UTC on 30 June is already 1 July in London.
    expect(dateInZone(new Date("2026-06-30T23:30:00Z"), LONDON)).toBe("2026-07-01");
    expect(dateInZone(new Date("2026-12-31T23:30:00Z"), LONDON)).toBe("2026-12-31");
  });

  it("does plain date arithmetic and weeks from Monday", () => {
    expect(addDays("2026-02-27", 2)).toBe("2026-03-01");
    expect(addDays("2028-02-28", 1)).toBe("2028-02-29");
    expect(weekday("2026-12-07")).toBe(0);
    expect(weekday("2026-12-13")).toBe(6);
    expect(weekStart("2026-12-10")).toBe("2026-12-07");
    expect(weekStart("2026-12-07")).toBe("2026-12-07");
  });
});

describe("zone names and formatting", () => {
  it("names London's seasons", () => {
    expect(zoneAbbreviation(LONDON, new Date("2026-01-15T12:00:00Z"))).toBe("GMT");
    expect(zoneAbbreviation(LONDON, new Date("2026-07-15T12:00:00Z"))).toBe("BST");
    expect(zoneLabel(LONDON, new Date("2026-07-15T12:00:00Z"))).toBe("Europe/London (BST)");
  });

  it("formats a visit from its local start and end", () => {
    // The wall clock, never shifted to the viewer's zone; the date in the locale's words.
    const text = formatVisit("2026-03-30T09:00:00+01:00", "2026-03-30T09:15:00+01:00", "en-GB");
    expect(text).toMatch(/^Mon,? 30 Mar 2026, 09:00–09:15$/);
    expect(formatDayLong("2026-12-04", "en-GB")).toMatch(/^Friday,? 4 December$/);
    // Another year is spelled out; this year's is not.
    expect(formatDayLong("2027-01-04", "en-GB", 2026)).toMatch(/^Monday,? 4 January 2027$/);
    expect(formatDayLong("2026-01-04", "en-GB", 2026)).not.toContain("2026");
  });
});

describe("grouping free slots", () => {
  it("groups by facility-local day in the API's order, keeping empty days of the window", () => {
    const slots = [
      slot("2026-12-07T09:00:00+00:00"),
      slot("2026-12-07T09:00:00+00:00", NURSE_ID, "Mateo Núñez"),
      slot("2026-12-07T09:15:00+00:00"),
      slot("2026-12-09T16:45:00+00:00"),
    ];
    const days = ["2026-12-07", "2026-12-08", "2026-12-09"];
    const grouped = groupSlotsByDay(slots, days);
    expect(grouped.map((d) => [d.date, d.slots.length])).toEqual([
      ["2026-12-07", 3],
      ["2026-12-08", 0],
      ["2026-12-09", 1],
    ]);
    expect(grouped[0]!.slots.map((s) => localTime(s.local_start))).toEqual(["09:00", "09:00", "09:15"]);
    // Without a window: only the days that have slots.
    expect(groupSlotsByDay(slots).map((d) => d.date)).toEqual(["2026-12-07", "2026-12-09"]);
    // Slots outside the window are left out rather than put on the wrong day.
    expect(groupSlotsByDay(slots, ["2026-12-08"])).toEqual([{ date: "2026-12-08", slots: [] }]);
  });

  it("groups a late-evening slot on its local day, not its UTC one", () => {
    const late = makeSlot("2026-07-01", "23:30");
    expect(new Date(late.start).toISOString()).toBe("2026-07-01T22:30:00.000Z");
    expect(groupSlotsByDay([late]).map((d) => d.date)).toEqual(["2026-07-01"]);
  });

  it("splits one day's slots by clinician in order of appearance", () => {
    const day = [
      slot("2026-12-07T09:00:00+00:00", NURSE_ID, "Mateo Núñez"),
      slot("2026-12-07T09:00:00+00:00"),
      slot("2026-12-07T09:15:00+00:00", NURSE_ID, "Mateo Núñez"),
    ];
    expect(groupByClinician(day).map((g) => [g.name, g.slots.length])).toEqual([
      ["Mateo Núñez", 2],
      ["Dr. Grace Okafor", 1],
    ]);
  });

  it("appends a further page without repeating a slot", () => {
    const a = slot("2026-12-07T09:00:00+00:00");
    const b = slot("2026-12-07T09:15:00+00:00");
    const c = slot("2026-12-07T09:30:00+00:00");
    expect(mergeSlots([a, b], [b, c])).toEqual([a, b, c]);
  });
});
