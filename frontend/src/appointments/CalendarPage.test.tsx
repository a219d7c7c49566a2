import { screen, waitFor, within } from "@testing-library/react";
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
import { HOUR_PX, hourHeight, hourRange, MAX_HOUR_PX, placeDay, TWO_LINES_PX } from "./CalendarPage";
import { CLINICIAN_OPTIONS } from "./ClinicianPicker";
import { addDays, todayInZone, weekStart } from "./time";

const doctor = makeMe({ permissions: [...ROLE_PERMISSIONS.doctor] });
const receptionist = makeMe({
  username: "receptionist",
  full_name: "Rita Reception",
  roles: ["receptionist"],
  permissions: [...ROLE_PERMISSIONS.receptionist],
});

/** Many more clinicians than the picker lists at once, sorting before Dr. Grace Okafor. */
function crowd(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    id: `44444444-4444-4444-8444-${String(i).padStart(12, "0")}`,
    display_name: `Dr. Fanny${i} Abbott${i}`,
  }));
}
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

  it("gives a 15-minute visit room for its time and the patient's name, and back-to-back visits a gap", () => {
    const day = "2026-12-07";
    const first = makeAppointment(makeSlot(day, "11:00")); // 15 minutes
    const next = makeAppointment(makeSlot(day, "11:15"));
    const long = makeAppointment(makeSlot(day, "14:00", {}, GP_TYPE), {}, GP_TYPE); // 20 minutes
    const px = hourHeight([first, next, long]);
    expect(px).toBeGreaterThan(HOUR_PX);
    const [a, b] = placeDay([first, next], 8, px);
    expect(a!.height).toBeGreaterThanOrEqual(TWO_LINES_PX); // was 22 px at 80 px an hour
    expect(a!.top + a!.height).toBeLessThan(b!.top); // they do not touch
    // Office-length visits keep the compact grid; very short ones are bounded (one line, tooltip).
    expect(hourHeight([long])).toBe(Math.ceil(((TWO_LINES_PX + 3) * 60) / 20));
    expect(hourHeight([])).toBe(HOUR_PX);
    const five = makeAppointment(makeSlot(day, "09:00"), { local_end: makeSlot(day, "09:05").local_start });
    expect(hourHeight([five])).toBe(MAX_HOUR_PX);
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
    // A tooltip with the whole text, and room for two lines (no one-line squeeze).
    expect(videoBlock).toHaveAttribute("title", "09:00–09:15 María José Godínez, Video consultation, video, Booked");
    expect(videoBlock).not.toHaveClass("appt-block-one-line");
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

describe("choosing a clinician among many", { timeout: 20_000 }, () => {
  it("finds a clinician beyond the first options by name; the title follows the choice", async () => {
    const mine = makeAppointment(makeSlot(addDays(MONDAY, 1), "09:00"));
    const fake = appointmentRoutes({
      appointments: [mine],
      clinicians: [...crowd(CLINICIAN_OPTIONS + 20), { id: DOCTOR_ID, display_name: DOCTOR_NAME }],
    });
    await renderApp({ me: receptionist, path: "/appointments/calendar", routes: fake.routes, signedIn: true });
    const user = userEvent.setup();

    // Reception has no calendar of its own: the first bookable clinician's, named in the title.
    const select = await screen.findByLabelText("Clinician");
    await waitFor(() => expect(select).toHaveValue(crowd(1)[0]!.id));
    expect(screen.getByText(/^Dr\. Fanny0 Abbott0's appointments/)).toBeInTheDocument();
    expect(within(select).queryByRole("option", { name: DOCTOR_NAME })).not.toBeInTheDocument();
    expect(screen.getByText(`${CLINICIAN_OPTIONS} of ${CLINICIAN_OPTIONS + 21} shown: type part of a name to find the others.`)).toBeInTheDocument();

    await user.type(screen.getByLabelText("Find a clinician"), "okaf");
    const option = await within(select).findByRole("option", { name: DOCTOR_NAME });
    expect(fake.calls.filter((c) => c.path === "/api/appointments/clinicians").at(-1)!.search.get("name")).toBe("okaf");
    await user.selectOptions(select, option);
    expect(select).toHaveValue(DOCTOR_ID);
    expect(await screen.findByText(/^Dr\. Grace Okafor's appointments/)).toBeInTheDocument();
    expect(await screen.findByRole("button", { name: /^09:00–09:15 / })).toBeInTheDocument();
    expect(fake.calls.filter((c) => c.path === "/api/appointments").at(-1)!.search.get("staff_id")).toBe(DOCTOR_ID);
    // The Calendar asked the API for its own staff record and got an answer, not a 404.
    expect(fake.calls.some((c) => c.path === "/api/staff/me")).toBe(true);
  });

  it("opened by a link to a clinician the list does not hold, shows them chosen and named", async () => {
    const fake = appointmentRoutes({
      clinicians: [...crowd(CLINICIAN_OPTIONS + 5), { id: NURSE_ID, display_name: "Mateo Núñez" }],
    });
    await renderApp({ me: receptionist, path: `/appointments/calendar?staff=${NURSE_ID}`, routes: fake.routes, signedIn: true });
    expect(await screen.findByText(/^Mateo Núñez's appointments/)).toBeInTheDocument();
    const select = await screen.findByLabelText("Clinician");
    await waitFor(() => expect(select).toHaveValue(NURSE_ID));
    expect(within(select).getByRole("option", { name: "Mateo Núñez" })).toBeInTheDocument();
  });
});
