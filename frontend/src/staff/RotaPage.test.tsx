import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Me } from "../api/types";
import { json, makeMe } from "../test/fakeApi";
import { renderApp } from "../test/render";
import { ROLE_PERMISSIONS } from "../test/roles";
import { EARLY, GEN, GRACE, LATE, MATEO, NIGHT, WEEK, makeLeave, makeShift, staffRoutes } from "../test/staff";

const receptionist = makeMe({
  username: "receptionist",
  full_name: "Rita Reception",
  roles: ["receptionist"],
  permissions: [...ROLE_PERMISSIONS.receptionist],
});
const doctor = makeMe({ permissions: [...ROLE_PERMISSIONS.doctor] });

async function openRota(me: Me, options: Parameters<typeof staffRoutes>[0] = {}, week = WEEK) {
  const api = staffRoutes(options);
  const ui = await renderApp({ me, path: `/staff/rota?department=${GEN}&week=${week}`, routes: api.routes, signedIn: true });
  await screen.findByRole("heading", { level: 1, name: "Rota" });
  const grid = await screen.findByRole("table", { name: /Rota of General Medicine/ });
  return { ...ui, api, grid, user: userEvent.setup() };
}

/** The grid cell of a person (by row name) on a day (0 = Monday). */
function cell(grid: HTMLElement, name: string, day: number): HTMLElement {
  const row = within(grid).getByRole("rowheader", { name: new RegExp(name) }).closest("tr")!;
  return row.querySelectorAll<HTMLElement>("td")[day]!;
}

describe("the rota grid", () => {
  it("shows the week: people by row, shifts and leave in their days, times in the facility's zone", async () => {
    const { grid } = await openRota(doctor, {
      shifts: [makeShift(GRACE, "2026-01-06", EARLY), makeShift(MATEO, "2026-01-07", NIGHT)],
      leave: [makeLeave(MATEO, "2026-01-09", "2026-01-09")],
    });
    const headers = within(grid).getAllByRole("columnheader").map((h) => h.textContent);
    expect(headers).toEqual(["Staff", "Mon 5 Jan", "Tue 6 Jan", "Wed 7 Jan", "Thu 8 Jan", "Fri 9 Jan", "Sat 10 Jan", "Sun 11 Jan"]);
    expect(cell(grid, "Grace Okafor", 1)).toHaveTextContent("Early07:00–15:00");
    expect(cell(grid, "Mateo", 2)).toHaveTextContent("Night22:00–07:30 (+1)");
    expect(cell(grid, "Mateo", 4)).toHaveTextContent("Annual leave");
    expect(cell(grid, "Grace Okafor", 0)).toBeEmptyDOMElement();
    expect(screen.getByText(/Times in Europe\/London/)).toBeInTheDocument();
  });

  it("without staff:rota: no forms, no drag handles, no add buttons", async () => {
    const { grid, api } = await openRota(doctor, { shifts: [makeShift(GRACE, "2026-01-06", EARLY)] });
    expect(screen.queryByRole("region", { name: "Assign a shift" })).not.toBeInTheDocument();
    expect(screen.queryByRole("region", { name: "Record leave" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Copy last week" })).not.toBeInTheDocument();
    expect(within(grid).queryAllByRole("button")).toEqual([]);
    expect(grid.querySelector("[draggable=true]")).toBeNull();
    expect(api.calls.some((c) => c.path === "/api/staff/shift-definitions")).toBe(false);
  });

  it("moves between weeks through the URL", async () => {
    const { user, api } = await openRota(doctor);
    await user.click(screen.getByRole("button", { name: "Next week ›" }));
    await screen.findByRole("heading", { name: /12 Jan – 18 Jan 2026/ });
    const rota = api.calls.filter((c) => c.path === "/api/staff/rota").at(-1)!;
    expect(rota.search.get("start")).toBe("2026-01-12");
    expect(rota.search.get("end")).toBe("2026-01-18");
  });
});

describe("assigning shifts", () => {
  it("a receptionist assigns a shift with the form and sees it in the grid", async () => {
    const { grid, user, api } = await openRota(receptionist);
    const form = screen.getByRole("region", { name: "Assign a shift" });
    await user.selectOptions(within(form).getByLabelText("Staff member"), GRACE);
    await user.selectOptions(within(form).getByLabelText("Day"), "2026-01-07");
    await user.selectOptions(within(form).getByLabelText("Shift"), EARLY);
    await user.click(within(form).getByRole("button", { name: "Assign shift" }));
    await waitFor(() => expect(cell(grid, "Grace Okafor", 2)).toHaveTextContent("Early07:00–15:00"));
    const post = api.calls.find((c) => c.method === "POST" && c.path === "/api/staff/shifts")!;
    expect(post.body).toEqual({ department_id: GEN, staff_id: GRACE, date: "2026-01-07", definition_id: EARLY, note: null });
    expect(screen.getByText("Added: Early for Dr. Grace Okafor on Wed 7 Jan.")).toHaveAttribute("role", "status");
  });

  it("asks for what is missing before sending anything", async () => {
    const { user, api } = await openRota(receptionist);
    const form = screen.getByRole("region", { name: "Assign a shift" });
    await user.click(within(form).getByRole("button", { name: "Assign shift" }));
    expect(within(form).getByText("Choose who works the shift.")).toBeInTheDocument();
    expect(within(form).getByLabelText("Staff member")).toHaveFocus();
    expect(api.calls.some((c) => c.method === "POST")).toBe(false);
  });

  it("shows an overlap refusal next to the form and marks the cell; nothing is added", async () => {
    const { grid, user, api } = await openRota(receptionist, { shifts: [makeShift(GRACE, "2026-01-07", EARLY)] });
    const form = screen.getByRole("region", { name: "Assign a shift" });
    await user.selectOptions(within(form).getByLabelText("Staff member"), GRACE);
    await user.selectOptions(within(form).getByLabelText("Day"), "2026-01-07");
    await user.selectOptions(within(form).getByLabelText("Shift"), LATE);
    await user.click(within(form).getByRole("button", { name: "Assign shift" }));
    const alert = await within(form).findByRole("alert");
    expect(alert).toHaveTextContent("Not saved — Dr. Grace Okafor, Wed 7 Jan: the rota rules refuse this shift.");
    expect(alert).toHaveTextContent("Overlapping shift. Dr. Grace Okafor already works a shift at that time");
    expect(alert).toHaveTextContent("Early: Wed 7 Jan 07:00–15:00");
    const target = cell(grid, "Grace Okafor", 2);
    expect(target).toHaveClass("rota-cell-bad");
    expect(target).toHaveTextContent("Not saved: Overlapping shift");
    expect(target.querySelectorAll(".rota-shift")).toHaveLength(1);
    // The screen asked first (a 200 naming the rule) and sent no write to be refused (a 409 the
    // browser would log as a failed request).
    const check = api.calls.find((c) => c.method === "POST" && c.path === "/api/staff/shifts/check")!;
    expect(check.body).toEqual({ department_id: GEN, staff_id: GRACE, date: "2026-01-07", definition_id: LATE, note: null });
    expect(api.calls.filter((c) => c.method === "POST" && c.path === "/api/staff/shifts")).toHaveLength(0);
    // Changing the form clears the refusal.
    await user.selectOptions(within(form).getByLabelText("Day"), "2026-01-08");
    expect(within(form).queryByRole("alert")).not.toBeInTheDocument();
    expect(cell(grid, "Grace Okafor", 2)).not.toHaveClass("rota-cell-bad");
  });

  it("shows every rule the API names (rest, leave, licence) with the weekly hours warning after a save", async () => {
    const { user } = await openRota(receptionist, {
      limit: 8,
      answer: (method, path) =>
        method === "POST" && path === "/api/staff/shifts"
          ? json(409, {
              error: {
                code: "insufficient_rest",
                message: "rest",
                details: {
                  violations: [
                    { code: "insufficient_rest", message: "Mateo Núñez needs at least 8 hours of rest between shifts", conflicts_with: [] },
                    { code: "on_leave", message: "Mateo Núñez is on leave or unavailable at that time", conflicts_with: [] },
                    { code: "licence_expired", message: "Mateo Núñez has no valid licence on 2026-01-07", conflicts_with: [], days: ["2026-01-07"] },
                  ],
                },
              },
            })
          : null,
    });
    const form = screen.getByRole("region", { name: "Assign a shift" });
    await user.selectOptions(within(form).getByLabelText("Staff member"), MATEO);
    await user.selectOptions(within(form).getByLabelText("Day"), "2026-01-07");
    await user.selectOptions(within(form).getByLabelText("Shift"), NIGHT);
    await user.click(within(form).getByRole("button", { name: "Assign shift" }));
    const items = within(await within(form).findByRole("alert")).getAllByRole("listitem");
    expect(items.map((i) => i.getAttribute("data-code"))).toEqual(["insufficient_rest", "on_leave", "licence_expired"]);
    expect(items[0]).toHaveTextContent("Not enough rest between shifts.");
    expect(items[2]).toHaveTextContent("No valid licence. Mateo Núñez has no valid licence on 2026-01-07");
  });

  it("warns about weekly hours above the limit once saved", async () => {
    const { grid, user } = await openRota(receptionist, { limit: 10, shifts: [makeShift(GRACE, WEEK, EARLY)] });
    const form = screen.getByRole("region", { name: "Assign a shift" });
    await user.selectOptions(within(form).getByLabelText("Staff member"), GRACE);
    await user.selectOptions(within(form).getByLabelText("Day"), "2026-01-06");
    await user.selectOptions(within(form).getByLabelText("Shift"), EARLY);
    await user.click(within(form).getByRole("button", { name: "Assign shift" }));
    const note = await screen.findByRole("note", { name: "Weekly hours" });
    expect(note).toHaveTextContent("Dr. Grace Okafor is rostered 16 hours in the week of Mon 5 Jan, above the 10-hour limit.");
    await waitFor(() => expect(within(grid).getByRole("rowheader", { name: /Grace/ })).toHaveTextContent("16 h · over 10 h"));
  });

  it("drops a shift definition onto a day (drag and drop)", async () => {
    const { grid, api } = await openRota(receptionist);
    const chip = await screen.findByRole("button", { name: "Night (22:00–07:30 +1)" });
    const target = cell(grid, "Mateo", 3);
    const dataTransfer = { setData: () => {}, getData: () => "", dropEffect: "", effectAllowed: "", types: [] };
    fireEvent.dragStart(chip, { dataTransfer });
    fireEvent.dragOver(target, { dataTransfer });
    expect(target).toHaveClass("rota-drop");
    fireEvent.drop(target, { dataTransfer });
    await waitFor(() => expect(cell(grid, "Mateo", 3)).toHaveTextContent("Night22:00–07:30 (+1)"));
    const post = api.calls.find((c) => c.method === "POST" && c.path === "/api/staff/shifts")!;
    expect(post.body).toMatchObject({ staff_id: MATEO, date: "2026-01-08", definition_id: NIGHT });
  });

  it("moves a shift by dragging it to another person's day; a refused move is shown above the grid", async () => {
    const { grid, api } = await openRota(receptionist, {
      shifts: [makeShift(GRACE, WEEK, EARLY), makeShift(MATEO, "2026-01-06", EARLY)],
    });
    const dataTransfer = { setData: () => {}, getData: () => "", dropEffect: "", effectAllowed: "", types: [] };
    const shift = within(cell(grid, "Grace Okafor", 0)).getByRole("button", { name: /^Early 07:00–15:00, Dr. Grace Okafor/ });
    fireEvent.dragStart(shift, { dataTransfer });
    fireEvent.dragOver(cell(grid, "Mateo", 0), { dataTransfer });
    fireEvent.drop(cell(grid, "Mateo", 0), { dataTransfer });
    await waitFor(() => expect(cell(grid, "Mateo", 0)).toHaveTextContent("Early"));
    expect(cell(grid, "Grace Okafor", 0)).not.toHaveTextContent("Early");
    const patch = api.calls.find((c) => c.method === "PATCH")!;
    expect(patch.body).toEqual({ staff_id: MATEO });

    // Mateo already works Early on Tuesday: moving his Monday shift there overlaps.
    const moved = within(cell(grid, "Mateo", 0)).getByRole("button", { name: /^Early/ });
    fireEvent.dragStart(moved, { dataTransfer });
    fireEvent.dragOver(cell(grid, "Mateo", 1), { dataTransfer });
    fireEvent.drop(cell(grid, "Mateo", 1), { dataTransfer });
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent(/Not saved — Early 07:00–15:00 moved to Mateo Núñez on Tue 6 Jan/);
    expect(alert).toHaveTextContent("Overlapping shift");
    await waitFor(() => expect(alert).toHaveFocus());
    expect(cell(grid, "Mateo", 1)).toHaveClass("rota-cell-bad");
    // Refused by the check: the one PATCH is the first, accepted move.
    expect(api.calls.filter((c) => c.method === "PATCH")).toHaveLength(1);
    expect(api.calls.filter((c) => c.method === "POST" && /\/check$/.test(c.path))).toHaveLength(2);
  });

  it("changes or removes a shift from its editor (the keyboard path for moves)", async () => {
    const { grid, user, api } = await openRota(receptionist, { shifts: [makeShift(GRACE, WEEK, EARLY)] });
    await user.click(within(cell(grid, "Grace Okafor", 0)).getByRole("button", { name: /Early 07:00–15:00/ }));
    const editor = screen.getByRole("region", { name: /Early shift/ });
    await user.selectOptions(within(editor).getByLabelText("On"), "2026-01-09");
    await user.selectOptions(within(editor).getByLabelText("Shift"), LATE);
    await user.click(within(editor).getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(cell(grid, "Grace Okafor", 4)).toHaveTextContent("Late14:30–22:30"));
    expect(api.calls.find((c) => c.method === "PATCH")!.body).toEqual({ date: "2026-01-09", definition_id: LATE });

    await user.click(within(cell(grid, "Grace Okafor", 4)).getByRole("button", { name: /Late/ }));
    const again = screen.getByRole("region", { name: /Late shift/ });
    await user.click(within(again).getByRole("button", { name: "Remove shift…" }));
    await user.click(within(again).getByRole("button", { name: "Remove this shift" }));
    await waitFor(() => expect(cell(grid, "Grace Okafor", 4)).not.toHaveTextContent("Late"));
    expect(api.calls.some((c) => c.method === "DELETE" && c.path.startsWith("/api/staff/shifts/"))).toBe(true);
  });

  it("the + of a cell fills in the person and day and goes to the shift choice", async () => {
    const { grid, user } = await openRota(receptionist);
    await user.click(within(cell(grid, "Mateo", 5)).getByRole("button", { name: "Add a shift for Mateo Núñez on Saturday 10 January 2026" }));
    const form = screen.getByRole("region", { name: "Assign a shift" });
    expect(within(form).getByLabelText("Staff member")).toHaveValue(MATEO);
    expect(within(form).getByLabelText("Day")).toHaveValue("2026-01-10");
    await waitFor(() => expect(within(form).getByLabelText("Shift")).toHaveFocus());
  });
});

describe("copy last week and leave", () => {
  it("copies last week's shifts into an empty week in one request", async () => {
    const { grid, user, api } = await openRota(receptionist, {
      shifts: [makeShift(GRACE, "2025-12-29", EARLY), makeShift(MATEO, "2026-01-02", NIGHT)],
    });
    await user.click(screen.getByRole("button", { name: "Copy last week" }));
    await waitFor(() => expect(cell(grid, "Mateo", 4)).toHaveTextContent("Night"));
    expect(cell(grid, "Grace Okafor", 0)).toHaveTextContent("Early");
    const post = api.calls.find((c) => c.path === "/api/staff/rota/week")!;
    expect(post.body).toMatchObject({
      department_id: GEN,
      week_start: WEEK,
      replace: false,
      shifts: [
        { staff_id: GRACE, date: "2026-01-05", definition_id: EARLY },
        { staff_id: MATEO, date: "2026-01-09", definition_id: NIGHT },
      ],
    });
    expect(screen.getByText("Copied 2 shifts from last week.")).toBeInTheDocument();
  });

  it("asks before copying over a week that has shifts, and lists refusals per shift", async () => {
    const { user, api } = await openRota(receptionist, {
      shifts: [makeShift(GRACE, "2025-12-29", EARLY), makeShift(GRACE, "2026-01-06", EARLY)],
      answer: (method, path) =>
        method === "POST" && path === "/api/staff/rota/week"
          ? json(409, {
              error: {
                code: "rota_violations",
                message: "1 of 1 shifts break the rota rules; nothing was saved",
                details: {
                  items: [
                    {
                      index: 0,
                      staff_id: GRACE,
                      date: "2026-01-05",
                      violations: [{ code: "on_leave", message: "Dr. Grace Okafor is on leave", conflicts_with: [] }],
                    },
                  ],
                },
              },
            })
          : null,
    });
    await user.click(screen.getByRole("button", { name: "Copy last week" }));
    const confirm = await screen.findByText(/This week already has 1 shift in General Medicine/);
    expect(api.calls.some((c) => c.path === "/api/staff/rota/week")).toBe(false);
    await user.click(within(confirm.closest("div")!).getByRole("button", { name: "Replace this week’s shifts" }));
    const alert = await screen.findByText(/Nothing was copied: some shifts break the rota rules/);
    expect(alert.closest("[role=alert]")).toHaveTextContent("Dr. Grace Okafor, Mon 5 Jan: On leave or unavailable — Dr. Grace Okafor is on leave");
    expect((api.calls.find((c) => c.path === "/api/staff/rota/week")!.body as { replace: boolean }).replace).toBe(true);
  });

  it("records leave and shows it in the grid", async () => {
    const { grid, user, api } = await openRota(receptionist);
    const form = screen.getByRole("region", { name: "Record leave" });
    await user.selectOptions(within(form).getByLabelText("Staff member"), MATEO);
    await user.selectOptions(within(form).getByLabelText("Kind"), "sick");
    const first = within(form).getByLabelText("First day");
    await user.clear(first);
    await user.type(first, "2026-01-07");
    const last = within(form).getByLabelText("Last day");
    await user.clear(last);
    await user.type(last, "2026-01-08");
    await user.click(within(form).getByRole("button", { name: "Record leave" }));
    await waitFor(() => expect(cell(grid, "Mateo", 2)).toHaveTextContent("Sick leave"));
    expect(cell(grid, "Mateo", 3)).toHaveTextContent("Sick leave");
    expect(api.calls.find((c) => c.path === "/api/staff/leave")!.body).toEqual({
      staff_id: MATEO,
      kind: "sick",
      start_date: "2026-01-07",
      end_date: "2026-01-08",
      note: null,
      cancel_shifts: false,
      acknowledge_appointments: false,
    });
  });

  it("leave over booked appointments asks before recording it, then names what to reschedule", async () => {
    const appointment = {
      id: "appt-1",
      start: "2026-01-07T10:00:00Z",
      end: "2026-01-07T10:30:00Z",
      local_start: "2026-01-07T10:00:00+00:00",
      type: "GP consultation",
      mode: "in_person",
      status: "booked",
    };
    const { user, api } = await openRota(receptionist, {
      answer: (method, path, body) => {
        if (method !== "POST" || path !== "/api/staff/leave") return null;
        if (!(body as { acknowledge_appointments?: boolean }).acknowledge_appointments) {
          return json(409, {
            error: {
              code: "appointments_during_leave",
              message: "has 1 booked appointment(s)",
              details: { staff_id: GRACE, total: 1, truncated: false, appointments: [appointment] },
            },
          });
        }
        return null;
      },
    });
    const form = screen.getByRole("region", { name: "Record leave" });
    await user.selectOptions(within(form).getByLabelText("Staff member"), GRACE);
    await user.selectOptions(within(form).getByLabelText("Kind"), "sick");
    await user.click(within(form).getByRole("button", { name: "Record leave" }));
    const alert = await within(form).findByRole("alert");
    expect(alert).toHaveTextContent("1 appointment is booked in this period — record anyway?");
    expect(alert).toHaveTextContent("Wed 7 Jan 10:00 · GP consultation");
    await user.click(within(form).getByRole("button", { name: "Record anyway" }));
    await screen.findByText(/Recorded leave for Dr. Grace Okafor/);
    const posts = api.calls.filter((c) => c.path === "/api/staff/leave").map((c) => c.body as Record<string, unknown>);
    expect(posts).toHaveLength(2);
    expect(posts[0]).toMatchObject({ acknowledge_appointments: false });
    expect(posts[1]).toMatchObject({ staff_id: GRACE, kind: "sick", acknowledge_appointments: true });
    expect(within(form).queryByRole("alert")).not.toBeInTheDocument();
  });

  it("a recorded leave with appointments in it says how many to reschedule", async () => {
    const { user } = await openRota(receptionist, {
      answer: (method, path, body) => {
        if (method !== "POST" || path !== "/api/staff/leave") return null;
        const b = body as { staff_id: string; start_date: string; end_date: string };
        return json(201, {
          leave: makeLeave(b.staff_id, b.start_date, b.end_date, { kind: "sick" }),
          cancelled_shifts: [],
          warnings: [{ code: "appointments_during_leave", message: "reschedule", total: 3, appointments: [] }],
        });
      },
    });
    const form = screen.getByRole("region", { name: "Record leave" });
    await user.selectOptions(within(form).getByLabelText("Staff member"), GRACE);
    await user.click(within(form).getByRole("button", { name: "Record leave" }));
    expect(await screen.findByText(/Recorded leave for Dr. Grace Okafor\. 3 appointments to reschedule\./)).toBeInTheDocument();
  });

  it("leave over existing shifts is refused until the shifts may go", async () => {
    let tries = 0;
    const { user, api } = await openRota(receptionist, {
      answer: (method, path) => {
        if (method !== "POST" || path !== "/api/staff/leave" || tries++ > 0) return null;
        return json(409, {
          error: {
            code: "shift_during_leave",
            message: "has shifts",
            details: { shifts: [{ id: "s1", date: "2026-01-05", start: "", end: "", department_id: GEN }] },
          },
        });
      },
    });
    const form = screen.getByRole("region", { name: "Record leave" });
    await user.selectOptions(within(form).getByLabelText("Staff member"), GRACE);
    await user.click(within(form).getByRole("button", { name: "Record leave" }));
    expect(await within(form).findByRole("alert")).toHaveTextContent("Not saved: there are shifts during this leave.On Mon 5 Jan.");
    await user.click(within(form).getByLabelText("Also take their shifts in this period off the rota"));
    await user.click(within(form).getByRole("button", { name: "Record leave" }));
    await screen.findByText(/Recorded leave for Dr. Grace Okafor/);
    const posts = api.calls.filter((c) => c.path === "/api/staff/leave");
    expect(posts.map((c) => (c.body as { cancel_shifts: boolean }).cancel_shifts)).toEqual([false, true]);
  });
});
