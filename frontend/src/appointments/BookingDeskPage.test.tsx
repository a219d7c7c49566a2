import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import {
  appointmentRoutes,
  dayFromToday,
  DOCTOR_ID,
  DOCTOR_NAME,
  GP_TYPE,
  makeAppointment,
  makeSlot,
  VIDEO_TYPE,
} from "../test/appointments";
import { makeMe } from "../test/fakeApi";
import { makePatient, page, PATIENT_ID } from "../test/patients";
import { renderApp } from "../test/render";
import { ROLE_PERMISSIONS } from "../test/roles";

const receptionist = makeMe({
  username: "receptionist",
  full_name: "Rita Reception",
  roles: ["receptionist"],
  permissions: [...ROLE_PERMISSIONS.receptionist],
});

const DAY_A = dayFromToday(2);
const DAY_B = dayFromToday(3);

async function openDesk(options: Parameters<typeof appointmentRoutes>[0] = {}, path = "/appointments/desk") {
  const fake = appointmentRoutes({
    patientSearch: page([makePatient()]),
    patient: makePatient(),
    clinicians: [
      { id: DOCTOR_ID, display_name: DOCTOR_NAME, position: "Consultant physician" },
      { id: "55555555-5555-4555-8555-555555555555", display_name: "Dr. Video Only", type_ids: [VIDEO_TYPE.id] },
    ],
    ...options,
  });
  const ui = await renderApp({ me: receptionist, path, routes: fake.routes, signedIn: true });
  const user = userEvent.setup();
  return { ...ui, fake, user };
}

async function pickPatient(user: ReturnType<typeof userEvent.setup>) {
  await user.type(await screen.findByLabelText("Find a patient"), "godi");
  await user.click(await screen.findByRole("button", { name: /Godínez, María José/ }));
  await screen.findByRole("heading", { level: 2, name: "María José Godínez" });
}

// Whole flows through the real routes: slower than a unit test on a busy machine.
describe("booking desk", { timeout: 20_000 }, () => {
  it("finds the patient, books a free slot for them with a key, and lists it", async () => {
    const { fake, user } = await openDesk({ slots: [makeSlot(DAY_A, "09:00", {}, GP_TYPE), makeSlot(DAY_A, "09:20", {}, GP_TYPE)] });
    await pickPatient(user);
    expect(await screen.findByText("No appointments from today on.")).toBeInTheDocument();

    await user.selectOptions(screen.getByLabelText("Appointment type"), GP_TYPE.id);
    await user.click(screen.getByRole("radio", { name: "A clinician" }));
    // Only the clinicians whose hours offer this type are listed (a video-only one is not).
    await within(screen.getByLabelText("Clinician")).findByRole("option", { name: /^Dr\. Grace Okafor/ });
    expect(within(screen.getByLabelText("Clinician")).queryByRole("option", { name: /Video Only/ })).not.toBeInTheDocument();
    expect(fake.calls.filter((c) => c.path === "/api/appointments/clinicians").at(-1)!.search.get("type_id")).toBe(GP_TYPE.id);
    await user.selectOptions(screen.getByLabelText("Clinician"), DOCTOR_ID);
    await user.click(await screen.findByRole("button", { name: /^09:20 with Dr\. Grace Okafor/ }));
    await user.type(screen.getByLabelText("Reason for the visit (optional)"), "Blood pressure review");
    await user.click(screen.getByRole("button", { name: "Book appointment" }));

    expect(await screen.findByText(/^Booked: General consultation with Dr\. Grace Okafor/)).toBeInTheDocument();
    const [post] = fake.writes("/api/appointments");
    expect(post!.body).toEqual({
      type_id: GP_TYPE.id,
      staff_id: DOCTOR_ID,
      patient_id: PATIENT_ID,
      start: makeSlot(DAY_A, "09:20", {}, GP_TYPE).start,
      reason: "Blood pressure review",
    });
    expect(post!.headers.get("Idempotency-Key")).toBeTruthy();
    const list = await screen.findByRole("region", { name: "Appointments" });
    await within(list).findByText(/Blood pressure review/);
    // The booked time left the free list.
    await waitFor(() => expect(screen.queryByRole("button", { name: /^09:20 with/ })).not.toBeInTheDocument());
    expect(fake.calls.filter((c) => c.path === "/api/appointments/slots").at(-1)!.search.get("staff_id")).toBe(DOCTOR_ID);
  });

  it("reschedules an appointment to another slot; the old time is free again", async () => {
    const booked = makeAppointment(makeSlot(DAY_A, "09:00"));
    const { fake, user } = await openDesk({ appointments: [booked], slots: [makeSlot(DAY_B, "10:00")] });
    await pickPatient(user);
    const list = await screen.findByRole("region", { name: "Appointments" });
    await user.click(await within(list).findByRole("button", { name: "Reschedule" }));
    await user.click(await within(list).findByRole("button", { name: /^10:00 with Dr\. Grace Okafor/ }));
    await user.click(within(list).getByRole("button", { name: "Confirm new time" }));

    expect(await within(list).findByText(/^Moved to .*10:00–10:15 with Dr\. Grace Okafor\.$/)).toBeInTheDocument();
    const [post] = fake.writes(`/api/appointments/${booked.id}/reschedule`);
    expect(post!.body).toEqual({ start: makeSlot(DAY_B, "10:00").start });
    expect(post!.headers.get("Idempotency-Key")).toBeTruthy();

    // Reschedule again: the picker now offers the old 09:00.
    await user.click(await within(list).findByRole("button", { name: "Reschedule" }));
    expect(await within(list).findByRole("button", { name: /^09:00 with Dr\. Grace Okafor/ })).toBeInTheDocument();
  });

  it("asks staff for a reason within the cut-off and sends it", async () => {
    const booked = makeAppointment(makeSlot(DAY_A, "09:00"));
    let asked = false;
    const { fake, user } = await openDesk({
      appointments: [booked],
      slots: [makeSlot(DAY_B, "10:00")],
      reschedule: (_, body) => {
        if (body.reason) return undefined;
        asked = true;
        return new Response(
          JSON.stringify({ error: { code: "reason_required", message: "Give a reason", details: null } }),
          { status: 400, headers: { "Content-Type": "application/json" } },
        );
      },
    });
    await pickPatient(user);
    const list = await screen.findByRole("region", { name: "Appointments" });
    await user.click(await within(list).findByRole("button", { name: "Reschedule" }));
    await user.click(await within(list).findByRole("button", { name: /^10:00 with/ }));
    await user.click(within(list).getByRole("button", { name: "Confirm new time" }));
    expect(await within(list).findByText(/within the cancellation cut-off: give a reason/)).toBeInTheDocument();
    expect(asked).toBe(true);

    const reason = within(list).getByLabelText("Reason (needed within the cancellation cut-off)");
    await waitFor(() => expect(reason).toHaveFocus());
    await user.type(reason, "Clinician called in sick");
    await user.click(within(list).getByRole("button", { name: "Confirm new time" }));
    expect(await within(list).findByText(/^Moved to /)).toBeInTheDocument();
    const posts = fake.writes(`/api/appointments/${booked.id}/reschedule`);
    expect(posts.at(-1)!.body).toEqual({ start: makeSlot(DAY_B, "10:00").start, reason: "Clinician called in sick" });
    // A refused attempt (400) ends it: the retry with a reason is a new key.
    expect(posts[0]!.headers.get("Idempotency-Key")).not.toBe(posts[1]!.headers.get("Idempotency-Key"));
  });

  it("cancels only with a reason, and checks a patient in", async () => {
    const today = makeAppointment(makeSlot(dayFromToday(0), "23:50", {}, GP_TYPE), { actions: ["check_in", "reschedule", "cancel"] }, GP_TYPE);
    const later = makeAppointment(makeSlot(DAY_B, "10:00"));
    const { fake, user } = await openDesk({ appointments: [today, later] });
    await pickPatient(user);
    const list = await screen.findByRole("region", { name: "Appointments" });
    const items = await within(list).findAllByRole("listitem");
    expect(items).toHaveLength(2);

    await user.click(within(items[1]!).getByRole("button", { name: "Cancel…" }));
    await user.click(within(items[1]!).getByRole("button", { name: "Cancel appointment" }));
    expect(within(items[1]!).getByText("Give a reason for the cancellation.")).toBeInTheDocument();
    expect(fake.writes(`/api/appointments/${later.id}/cancel`)).toHaveLength(0);
    await user.type(within(items[1]!).getByLabelText("Reason"), "Patient request by phone");
    await user.click(within(items[1]!).getByRole("button", { name: "Cancel appointment" }));
    expect(await within(list).findByText("The appointment is cancelled.")).toBeInTheDocument();
    expect(fake.writes(`/api/appointments/${later.id}/cancel`)[0]!.body).toEqual({ reason: "Patient request by phone" });
    await within(list).findByText(/cancelled: Patient request by phone/);

    await user.click(within(list).getAllByRole("button", { name: "Check in" })[0]!);
    expect(await within(list).findByText("María José Godínez is checked in.")).toBeInTheDocument();
    expect(fake.writes(`/api/appointments/${today.id}/check-in`)).toHaveLength(1);
    expect(await within(list).findByRole("button", { name: "Mark completed" })).toBeInTheDocument();
  });

  it("shows a conflict clearly and refreshes the free slots", async () => {
    const { fake, user } = await openDesk({
      slots: [makeSlot(DAY_A, "09:00"), makeSlot(DAY_A, "09:15")],
      book: (body) => {
        fake.state.slots = fake.state.slots.filter((s) => s.start !== body.start);
        return new Response(JSON.stringify({ error: { code: "slot_taken", message: "x", details: null } }), {
          status: 409,
          headers: { "Content-Type": "application/json" },
        });
      },
    });
    await pickPatient(user);
    await user.selectOptions(screen.getByLabelText("Appointment type"), VIDEO_TYPE.id);
    await user.click(await screen.findByRole("button", { name: /^09:15 with/ }));
    const searches = fake.calls.filter((c) => c.path === "/api/appointments/slots").length;
    await user.click(screen.getByRole("button", { name: "Book appointment" }));
    expect(await screen.findByText(/That time has just been booked by someone else\. The free slots have been refreshed/)).toBeInTheDocument();
    await waitFor(() =>
      expect(fake.calls.filter((c) => c.path === "/api/appointments/slots").length).toBeGreaterThan(searches),
    );
    await waitFor(() => expect(screen.queryByRole("button", { name: /^09:15 with/ })).not.toBeInTheDocument());
    expect(screen.getByRole("button", { name: /^09:00 with/ })).toBeInTheDocument();
  });
});
