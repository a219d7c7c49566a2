import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { localTime, toLocalIso } from "../appointments/time";
import { appointmentRoutes, dayFromToday, DOCTOR_NAME, makeAppointment, makeSlot, ZONE } from "../test/appointments";
import { err, json, makeMe } from "../test/fakeApi";
import { PATIENT_ID } from "../test/patients";
import { renderApp } from "../test/render";
import { ROLE_PERMISSIONS } from "../test/roles";

const patient = makeMe({
  username: "patient",
  full_name: "María José Godínez",
  roles: ["patient"],
  permissions: [...ROLE_PERMISSIONS.patient],
  patient_id: PATIENT_ID,
});

const DAY_A = dayFromToday(2);
const DAY_B = dayFromToday(3);

function freeSlots() {
  return [makeSlot(DAY_A, "09:00"), makeSlot(DAY_A, "09:15"), makeSlot(DAY_B, "10:00")];
}

async function openBooking(options: Parameters<typeof appointmentRoutes>[0] = {}) {
  const fake = appointmentRoutes({ slots: freeSlots(), ...options });
  const ui = await renderApp({ me: patient, path: "/my/appointments/book", routes: fake.routes, signedIn: true });
  const user = userEvent.setup();
  await screen.findByRole("heading", { level: 1, name: "Book a visit" });
  return { ...ui, fake, user };
}

const slotButton = (time: string) => screen.findByRole("button", { name: new RegExp(`^${time} with ${DOCTOR_NAME}`) });
const bookings = (fake: ReturnType<typeof appointmentRoutes>) => fake.writes("/api/appointments");
const slotSearches = (fake: ReturnType<typeof appointmentRoutes>) =>
  fake.calls.filter((c) => c.path === "/api/appointments/slots");

// Whole flows through the real routes: slower than a unit test on a busy machine.
describe("Book a visit (patient portal)", { timeout: 20_000 }, () => {
  it("books a video visit from the free slots, once, with an Idempotency-Key", async () => {
    const { fake, user } = await openBooking({ delayMs: 50 });
    await user.click(screen.getByRole("radio", { name: /Video visit/ }));

    // Slots of the one video type, by day, in the facility's zone.
    expect(await screen.findByText("3 free times in these seven days.")).toBeInTheDocument();
    expect(screen.getAllByText(/Europe\/London/).length).toBeGreaterThan(0);
    const search = slotSearches(fake).at(-1)!;
    expect(search.search.get("type_id")).toBe(fake.state.types.find((t) => t.mode === "video")!.id);
    expect(search.search.get("staff_id")).toBeNull(); // anyone available
    const days = screen.getByRole("group", { name: "Days" });
    expect(within(days).getByRole("button", { name: /: 2 free$/ })).toHaveAttribute("aria-pressed", "true");
    expect(within(days).getByRole("button", { name: /: 1 free$/ })).toBeEnabled();

    await user.click(await slotButton("09:15"));
    expect(screen.getByRole("heading", { name: "Confirm your visit" })).toBeInTheDocument();
    // Days ahead: outside the cut-off, so no warning that it cannot be changed online.
    expect(screen.queryByText(/cannot be changed or cancelled online/)).not.toBeInTheDocument();
    const confirm = screen.getByRole("button", { name: "Confirm booking" });
    await user.dblClick(confirm);

    // On to My appointments, with the booking confirmed and listed.
    expect(await screen.findByRole("heading", { level: 1, name: "My appointments" })).toBeInTheDocument();
    expect(screen.getByText("Your visit is booked.")).toBeInTheDocument();
    expect(screen.queryByText(/too close to change online/)).not.toBeInTheDocument();
    const upcoming = await screen.findByRole("region", { name: "Upcoming" });
    expect(within(upcoming).getByText(/Video consultation with Dr\. Grace Okafor/)).toBeInTheDocument();

    // Two clicks, one request: the patient books for themself (no patient_id).
    expect(bookings(fake)).toHaveLength(1);
    const [post] = bookings(fake);
    expect(post!.headers.get("Idempotency-Key")).toMatch(/^[0-9a-f-]{36}$/);
    expect(post!.body).toEqual({
      type_id: fake.state.types.find((t) => t.mode === "video")!.id,
      staff_id: freeSlots()[1]!.staff_id,
      start: freeSlots()[1]!.start,
    });
  });

  it("says before booking a time inside the cut-off that it cannot be changed online, and after", async () => {
    // Two hours from now, on the facility's clock: inside the 24-hour cut-off.
    const local = toLocalIso(new Date(Math.ceil((Date.now() + 2 * 3600_000) / 60_000) * 60_000), ZONE);
    const soon = makeSlot(local.slice(0, 10), local.slice(11, 16));
    const { user } = await openBooking({
      slots: [soon],
      // The server offers no reschedule/cancel for a visit inside the cut-off.
      book: () => json(201, makeAppointment(soon, { actions: [] })),
    });
    await user.click(screen.getByRole("radio", { name: /Video visit/ }));
    await user.click(await slotButton(local.slice(11, 16)));
    const warning = screen.getByText(
      "This visit is less than 24 hours away: once booked, it cannot be changed or cancelled online. To change it, please call reception.",
    );
    expect(screen.getByRole("button", { name: "Confirm booking" })).toHaveAccessibleDescription(warning.textContent!);
    await user.click(screen.getByRole("button", { name: "Confirm booking" }));

    expect(await screen.findByRole("heading", { level: 1, name: "My appointments" })).toBeInTheDocument();
    expect(screen.getByText("Your visit is booked.").parentElement).toHaveTextContent(
      /It is too close to change online: to move or cancel it, please call reception\./,
    );
  });

  it("explains a slot taken meanwhile, refreshes the times, and the next attempt gets a new key", async () => {
    let first = true;
    const { fake, user } = await openBooking({
      book: (body) => {
        if (!first) return undefined;
        first = false;
        // Someone else was quicker: the slot is gone from the free list too.
        fake.state.slots = fake.state.slots.filter((s) => s.start !== body.start);
        return err(409, "slot_taken", "That slot is already booked");
      },
    });
    await user.click(screen.getByRole("radio", { name: /Video visit/ }));
    await user.click(await slotButton("09:15"));
    const searchesBefore = slotSearches(fake).length;
    await user.click(screen.getByRole("button", { name: "Confirm booking" }));

    expect(await screen.findByText(/Sorry, someone has just booked that time/)).toBeInTheDocument();
    await waitFor(() => expect(slotSearches(fake).length).toBeGreaterThan(searchesBefore));
    await waitFor(() => expect(screen.queryByRole("button", { name: /^09:15 with/ })).not.toBeInTheDocument());
    expect(screen.queryByRole("button", { name: "Confirm booking" })).not.toBeInTheDocument();

    await user.click(await slotButton("09:00"));
    await user.click(screen.getByRole("button", { name: "Confirm booking" }));
    expect(await screen.findByRole("heading", { level: 1, name: "My appointments" })).toBeInTheDocument();
    const keys = bookings(fake).map((c) => c.headers.get("Idempotency-Key"));
    expect(keys).toHaveLength(2);
    expect(keys[0]).not.toBe(keys[1]);
  });

  it("retries with the same key after a lost answer, so it cannot book twice", async () => {
    let lost = true;
    const { fake, user } = await openBooking({
      book: () => {
        if (!lost) return undefined;
        lost = false;
        throw new TypeError("Failed to fetch");
      },
    });
    await user.click(screen.getByRole("radio", { name: /Video visit/ }));
    await user.click(await slotButton("09:00"));
    await user.click(screen.getByRole("button", { name: "Confirm booking" }));
    expect(await screen.findByText(/Cannot reach Hospital Hub/)).toBeInTheDocument();

    // The choice is still there: try again.
    await user.click(screen.getByRole("button", { name: "Confirm booking" }));
    expect(await screen.findByRole("heading", { level: 1, name: "My appointments" })).toBeInTheDocument();
    const keys = bookings(fake).map((c) => c.headers.get("Idempotency-Key"));
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
  });

  it("offers the waitlist when nothing fits", async () => {
    const { fake, user } = await openBooking({ slots: [] });
    await user.click(screen.getByRole("radio", { name: /Video visit/ }));
    expect(await screen.findByText("No free times in these seven days.")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Join the waitlist" }));
    const form = screen.getByRole("form", { name: "Join the waitlist" });
    await user.type(within(form).getByLabelText("Note (optional)"), "Mornings please");
    await user.click(within(form).getByRole("button", { name: "Join the waitlist" }));

    expect(await screen.findByText(/You are on the waitlist/)).toBeInTheDocument();
    const [post] = fake.writes("/api/appointments/waitlist");
    expect(post!.body).toMatchObject({ type_id: fake.state.types.find((t) => t.mode === "video")!.id, note: "Mornings please" });
    expect(post!.body!.patient_id).toBeUndefined();
    expect(String(post!.body!.latest) >= String(post!.body!.earliest)).toBe(true);
  });
});

describe("My appointments (patient portal)", { timeout: 20_000 }, () => {
  it("moves a visit to another free time with the same clinician", async () => {
    const booked = makeAppointment(makeSlot(DAY_A, "09:00"));
    const fake = appointmentRoutes({ slots: [makeSlot(DAY_B, "10:00")], appointments: [booked] });
    await renderApp({ me: patient, path: "/my/appointments", routes: fake.routes, signedIn: true });
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Change time" }));
    expect(slotSearches(fake).at(-1)!.search.get("staff_id")).toBe(booked.staff.id);
    await user.click(await slotButton("10:00"));
    await user.click(screen.getByRole("button", { name: "Move my visit" }));

    expect(await screen.findByText(/^Moved to .*10:00–10:15 with Dr\. Grace Okafor\.$/)).toBeInTheDocument();
    const [post] = fake.writes(`/api/appointments/${booked.id}/reschedule`);
    expect(post!.body).toEqual({ start: makeSlot(DAY_B, "10:00").start });
    expect(post!.headers.get("Idempotency-Key")).toBeTruthy();
    await waitFor(() =>
      expect(within(screen.getByRole("region", { name: "Upcoming" })).getByRole("heading", { level: 3 })).toHaveTextContent(
        localTime(makeSlot(DAY_B, "10:00").local_start),
      ),
    );
  });

  it("shows the cancellation cut-off politely, and says why a near visit has no buttons", async () => {
    // Within the cut-off the server offers no reschedule/cancel.
    const soon = makeAppointment(makeSlot(dayFromToday(1), "08:00"), { actions: [] });
    const later = makeAppointment(makeSlot(DAY_B, "10:00"));
    const fake = appointmentRoutes({
      appointments: [soon, later],
      // The page was opened before the cut-off passed; the server now says no.
      cancel: () =>
        json(409, {
          error: { code: "cancellation_cutoff", message: "too late", details: { cutoff_hours: 24, deadline: "x" } },
        }),
    });
    await renderApp({ me: patient, path: "/my/appointments", routes: fake.routes, signedIn: true });
    const user = userEvent.setup();
    expect(await screen.findByText(/too close to change online\. To move or cancel it, please call reception/)).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Cancel visit" }));
    await user.click(screen.getByRole("button", { name: "Yes, cancel my visit" }));
    const alert = await screen.findByText(
      /less than 24 hours away, so it can no longer be changed or cancelled online\. Please call reception/,
    );
    expect(alert).toBeInTheDocument();
    expect(fake.writes(`/api/appointments/${later.id}/cancel`)).toHaveLength(1);
    expect(screen.queryByText("too late")).not.toBeInTheDocument();
  });

  it("cancels a visit before the cut-off", async () => {
    const later = makeAppointment(makeSlot(DAY_B, "10:00"));
    const fake = appointmentRoutes({ appointments: [later] });
    await renderApp({ me: patient, path: "/my/appointments", routes: fake.routes, signedIn: true });
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Cancel visit" }));
    await user.click(screen.getByRole("button", { name: "Yes, cancel my visit" }));
    expect(await screen.findByText("Your visit is cancelled.")).toBeInTheDocument();
    expect(fake.writes(`/api/appointments/${later.id}/cancel`)[0]!.body).toEqual({});
    expect(await screen.findByText("Cancelled")).toBeInTheDocument();
  });
});
