import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import {
  appointmentRoutes,
  DOCTOR_ID,
  DOCTOR_NAME,
  GP_TYPE,
  makeAppointment,
  makeSlot,
  NURSE_ID,
} from "../test/appointments";
import { makeMe } from "../test/fakeApi";
import { renderApp } from "../test/render";
import { ROLE_PERMISSIONS } from "../test/roles";
import { hourRange, placeDay } from "./CalendarPage";
import { addDays, todayInZone, weekStart } from "./time";

const doctor = makeMe({ permissions: [...ROLE_PERMISSIONS.doctor] });
const MONDAY = weekStart(todayInZone("Europe/London"));

describe("placing appointments on the grid", () => {
  it("puts overlapping appointments side by side and the rest full width", () => {
    const day = "2026-12-07";
    const a = makeAppointment(makeSlot(day, "09:00"), { status: "cancelled" });
    const b = makeAppointment(makeSlot(day, "09:00"));
    const c = makeAppointment(makeSlot(day, "09:10"));
    const d = makeAppointment(makeSlot(day, "11:00"));
    const placed = placeDay([d, c, b, a], 8);
    const by = (id: string) => placed.find((p) => p.appointment.id === id)!;
    expect([by(a.id).lanes, by(b.id).lanes, by(c.id).lanes]).toEqual([3, 3, 3]);
    expect(new Set([by(a.id).lane, by(b.id).lane, by(c.id).lane])).toEqual(new Set([0, 1, 2]));
    expect(by(d.id)).toMatchObject({ lane: 0, lanes: 1 });
    // 09:00 is one hour below an 08:00 top; 11:00 three.
    expect(by(b.id).top / by(d.id).top).toBeCloseTo(1 / 3);
  });

  it("stretches office hours to fit early and late appointments", () => {
    expect(hourRange([])).toEqual([8, 18]);
    const early = makeAppointment(makeSlot("2026-12-07", "06:30"));
    const late = makeAppointment(makeSlot("2026-12-07", "19:50", {}, GP_TYPE), {}, GP_TYPE);
    expect(hourRange([early, late])).toEqual([6, 21]);
  });
});

describe("clinician calendar", { timeout: 20_000 }, () => {
  it("shows the signed-in clinician's week with status colours and video marked; click for details", async () => {
    const video = makeAppointment(makeSlot(addDays(MONDAY, 1), "09:00"), { actions: ["check_in", "reschedule", "cancel"] });
    const done = makeAppointment(makeSlot(addDays(MONDAY, 2), "14:00", {}, GP_TYPE), { status: "completed", actions: [] }, GP_TYPE);
    const cancelled = makeAppointment(makeSlot(addDays(MONDAY, 2), "15:00", {}, GP_TYPE), { status: "cancelled", actions: [] }, GP_TYPE);
    const other = makeAppointment(makeSlot(addDays(MONDAY, 3), "10:00", { staff_id: NURSE_ID, staff_name: "Mateo Núñez" }));
    const fake = appointmentRoutes({
      appointments: [video, done, cancelled, other],
      staffMe: { id: DOCTOR_ID, display_name: DOCTOR_NAME },
      clinicians: [
        { id: DOCTOR_ID, display_name: DOCTOR_NAME },
        { id: NURSE_ID, display_name: "Mateo Núñez" },
      ],
    });
    await renderApp({ me: doctor, path: "/appointments/calendar", routes: fake.routes, signedIn: true });
    const user = userEvent.setup();

    expect(await screen.findByText("2 appointments (1 cancelled hidden).")).toBeInTheDocument();
    const list = fake.calls.filter((c) => c.path === "/api/appointments").at(-1)!;
    expect(list.search.get("staff_id")).toBe(DOCTOR_ID);
    expect(screen.getByLabelText("Clinician")).toHaveValue(DOCTOR_ID);
    const videoBlock = screen.getByRole("button", { name: /^09:00–09:15 María José Godínez, Video consultation, video, Booked$/ });
    expect(videoBlock).toHaveClass("appt-block-booked");
    expect(screen.getByRole("button", { name: /^14:00–14:20 .*Completed$/ })).toHaveClass("appt-block-completed");
    expect(screen.queryByRole("button", { name: /^15:00/ })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^10:00/ })).not.toBeInTheDocument(); // the nurse's

    await user.click(screen.getByLabelText("Show cancelled"));
    expect(screen.getByRole("button", { name: /^15:00–15:20 .*Cancelled$/ })).toHaveClass("appt-block-cancelled");

    await user.click(videoBlock);
    const details = screen.getByRole("complementary", { name: "María José Godínez" });
    expect(within(details).getByText(/Ready: join from Telehealth/)).toBeInTheDocument();
    await user.click(within(details).getByRole("button", { name: "Check in" }));
    expect(await screen.findByText("María José Godínez is checked in.")).toBeInTheDocument();
    expect(fake.writes(`/api/appointments/${video.id}/check-in`)).toHaveLength(1);
    expect(await screen.findByRole("button", { name: /^09:00–09:15 .*Checked in$/ })).toHaveClass("appt-block-checked-in");
  });

  it("switches to one day and to another clinician's calendar", async () => {
    const mine = makeAppointment(makeSlot(addDays(MONDAY, 1), "09:00"));
    const nurse = makeAppointment(makeSlot(addDays(MONDAY, 1), "10:00", { staff_id: NURSE_ID, staff_name: "Mateo Núñez" }));
    const fake = appointmentRoutes({
      appointments: [mine, nurse],
      staffMe: { id: DOCTOR_ID, display_name: DOCTOR_NAME },
      clinicians: [
        { id: DOCTOR_ID, display_name: DOCTOR_NAME },
        { id: NURSE_ID, display_name: "Mateo Núñez" },
      ],
    });
    await renderApp({
      me: doctor,
      path: `/appointments/calendar?view=day&date=${addDays(MONDAY, 1)}`,
      routes: fake.routes,
      signedIn: true,
    });
    const user = userEvent.setup();
    expect(await screen.findByRole("button", { name: /^09:00–09:15 / })).toBeInTheDocument();
    expect(screen.getAllByRole("region", { name: /appointments?$/ })).toHaveLength(1);
    await user.selectOptions(screen.getByLabelText("Clinician"), NURSE_ID);
    expect(await screen.findByRole("button", { name: /^10:00–10:15 / })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^09:00–09:15 / })).not.toBeInTheDocument();
    expect(fake.calls.filter((c) => c.path === "/api/appointments").at(-1)!.search.get("staff_id")).toBe(NURSE_ID);
  });
});
