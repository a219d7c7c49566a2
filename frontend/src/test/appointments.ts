// Records shaped like the appointment book's answers, and a small in-memory router for its
// endpoints: free slots come from a list, booking takes one (409 slot_taken when gone), and every
// request is recorded with its headers for assertions.
import { addDays, atLocal, DEFAULT_ZONE, todayInZone, toLocalIso } from "../appointments/time";
import type { Appointment, AppointmentType, Slot, WaitlistEntry } from "../appointments/types";
import { err, json } from "./fakeApi";
import { PATIENT_ID } from "./patients";

export const ZONE = DEFAULT_ZONE;
export const DOCTOR_ID = "22222222-2222-4222-8222-222222222222";
export const DOCTOR_NAME = "Dr. Grace Okafor";
export const NURSE_ID = "33333333-3333-4333-8333-333333333333";
const T = "2026-01-10T09:30:00Z";

export const VIDEO_TYPE: AppointmentType = {
  id: "aaaaaaaa-0000-4000-8000-000000000001",
  code: "VIDEO15",
  name: "Video consultation",
  duration_minutes: 15,
  mode: "video",
  department_id: null,
  active: true,
};

export const GP_TYPE: AppointmentType = {
  id: "aaaaaaaa-0000-4000-8000-000000000002",
  code: "GP20",
  name: "General consultation",
  duration_minutes: 20,
  mode: "in_person",
  department_id: null,
  active: true,
};

/** A facility-local day `n` days from today. */
export function dayFromToday(n: number): string {
  return addDays(todayInZone(ZONE), n);
}

/** The facility's cancellation cut-off the fakes assume (the server's default). */
export const CUTOFF_HOURS = 24;

export function makeSlot(date: string, time: string, overrides: Partial<Slot> = {}, type = VIDEO_TYPE): Slot {
  const start = atLocal(date, time, ZONE);
  const end = new Date(start.getTime() + type.duration_minutes * 60_000);
  return {
    change_deadline: new Date(start.getTime() - CUTOFF_HOURS * 3600_000).toISOString(),
    start: start.toISOString(),
    end: end.toISOString(),
    local_start: toLocalIso(start, ZONE),
    local_end: toLocalIso(end, ZONE),
    staff_id: DOCTOR_ID,
    staff_name: DOCTOR_NAME,
    type_id: type.id,
    mode: type.mode,
    ...overrides,
  };
}

let counter = 0;

export function makeAppointment(slot: Slot, overrides: Partial<Appointment> = {}, type = VIDEO_TYPE): Appointment {
  counter += 1;
  return {
    id: `bbbbbbbb-0000-4000-8000-${String(counter).padStart(12, "0")}`,
    status: "booked",
    start: slot.start,
    end: slot.end,
    local_start: slot.local_start,
    local_end: slot.local_end,
    timezone: ZONE,
    mode: type.mode,
    type: { id: type.id, code: type.code, name: type.name, duration_minutes: type.duration_minutes, mode: type.mode },
    staff: { id: slot.staff_id, display_name: slot.staff_name },
    patient: { id: PATIENT_ID, display_name: "María José Godínez" },
    reason: null,
    room_id: type.mode === "video" ? "room-1" : null,
    booked_online: false,
    offer_expires_at: null,
    waitlist_entry_id: null,
    checked_in_at: null,
    completed_at: null,
    cancelled_at: null,
    cancel_reason: null,
    sequence: 0,
    created_at: T,
    updated_at: T,
    change_deadline: slot.change_deadline,
    actions: ["reschedule", "cancel"],
    ...overrides,
  };
}

export interface Call {
  method: string;
  path: string;
  search: URLSearchParams;
  headers: Headers;
  body: Record<string, unknown> | null;
}

type Answer = Response | null | undefined;

/**
 * The appointment endpoints over in-memory state. Hooks (`book`, `reschedule`, `cancel`) may
 * answer a request themselves (e.g. a 409, or a thrown TypeError for a lost connection); return
 * undefined to let the fake do what the server would.
 */
export function appointmentRoutes(options: {
  types?: AppointmentType[];
  slots?: Slot[];
  appointments?: Appointment[];
  waitlist?: WaitlistEntry[];
  book?: (body: Record<string, unknown>, headers: Headers) => Answer | Promise<Answer>;
  reschedule?: (id: string, body: Record<string, unknown>, headers: Headers) => Answer | Promise<Answer>;
  cancel?: (id: string, body: Record<string, unknown>, headers: Headers) => Answer | Promise<Answer>;
  patientSearch?: unknown;
  patient?: unknown;
  /** GET /api/staff/me (null when absent: an account without a staff record). */
  staffMe?: { id: string; display_name: string };
  /** The bookable clinicians (GET /api/appointments/clinicians); no type_ids: every type. */
  clinicians?: { id: string; display_name: string; position?: string | null; type_ids?: string[] }[];
  delayMs?: number;
}) {
  const calls: Call[] = [];
  const state = {
    types: options.types ?? [VIDEO_TYPE, GP_TYPE],
    slots: [...(options.slots ?? [])],
    appointments: [...(options.appointments ?? [])],
    waitlist: [...(options.waitlist ?? [])],
    /** Replayed answers by Idempotency-Key, as the server keeps them. */
    replays: new Map<string, Appointment>(),
  };
  const sleep = () => (options.delayMs ? new Promise((r) => setTimeout(r, options.delayMs)) : Promise.resolve());

  const routes = async (req: Request, url: URL) => {
    const text = req.method === "GET" ? "" : await req.text();
    const body = text ? (JSON.parse(text) as Record<string, unknown>) : null;
    calls.push({ method: req.method, path: url.pathname, search: url.searchParams, headers: req.headers, body });
    const path = url.pathname;
    const q = url.searchParams;

    if (req.method === "GET" && path === "/api/appointments/types") {
      const mode = q.get("mode");
      return json(200, state.types.filter((t) => !mode || t.mode === mode));
    }
    if (req.method === "GET" && path === "/api/appointments/slots") {
      const start = q.get("start") ?? "";
      const end = q.get("end") ?? "";
      const staff = q.get("staff_id");
      const found = state.slots.filter(
        (s) =>
          s.type_id === q.get("type_id") &&
          (!staff || s.staff_id === staff) &&
          new Date(s.start) >= new Date(start) &&
          new Date(s.start) < new Date(end),
      );
      return json(200, { items: found, next_cursor: null, timezone: ZONE, window_start: start, window_end: end });
    }
    if (req.method === "GET" && path === "/api/appointments") {
      const patient = q.get("patient_id");
      const staff = q.get("staff_id");
      const items = state.appointments
        .filter((a) => (!patient || a.patient.id === patient) && (!staff || a.staff.id === staff))
        .filter((a) => !q.get("start") || new Date(a.end) > new Date(q.get("start")!))
        .filter((a) => !q.get("end") || new Date(a.start) < new Date(q.get("end")!))
        .sort((a, b) => a.start.localeCompare(b.start));
      return json(200, { items, total: items.length, limit: Number(q.get("limit") ?? 50), offset: 0 });
    }
    if (req.method === "POST" && path === "/api/appointments") {
      await sleep();
      const key = req.headers.get("Idempotency-Key");
      if (key && state.replays.has(key)) return json(201, state.replays.get(key), { "Idempotent-Replayed": "true" });
      const answer = await options.book?.(body ?? {}, req.headers);
      if (answer) return answer;
      const slot = state.slots.find((s) => s.staff_id === body?.staff_id && s.start === body?.start);
      if (!slot) return err(409, "slot_taken", "That slot is already booked");
      state.slots = state.slots.filter((s) => s !== slot);
      const type = state.types.find((t) => t.id === body?.type_id) ?? VIDEO_TYPE;
      const appointment = makeAppointment(slot, { reason: (body?.reason as string) ?? null }, type);
      state.appointments.push(appointment);
      if (key) state.replays.set(key, appointment);
      return json(201, appointment);
    }
    const action = /^\/api\/appointments\/([^/]+)\/([a-z-]+)$/.exec(path);
    if (req.method === "POST" && action) {
      const [, id, verb] = action;
      const at = state.appointments.findIndex((a) => a.id === id);
      if (at < 0) return err(404, "not_found", "Appointment not found");
      const current = state.appointments[at]!;
      let updated: Appointment | null = null;
      if (verb === "reschedule") {
        const answer = await options.reschedule?.(id!, body ?? {}, req.headers);
        if (answer) return answer;
        const staffId = (body?.staff_id as string | undefined) ?? current.staff.id;
        const slot = state.slots.find((s) => s.staff_id === staffId && s.start === body?.start);
        if (!slot) return err(409, "slot_taken", "That slot is already booked");
        state.slots = state.slots.filter((s) => s !== slot);
        // The old time is free again.
        state.slots.push({
          start: current.start,
          end: current.end,
          local_start: current.local_start,
          local_end: current.local_end,
          staff_id: current.staff.id,
          staff_name: current.staff.display_name,
          type_id: current.type.id,
          mode: current.mode,
          change_deadline: current.change_deadline,
        });
        updated = {
          ...current,
          start: slot.start,
          end: slot.end,
          local_start: slot.local_start,
          local_end: slot.local_end,
          staff: { id: slot.staff_id, display_name: slot.staff_name },
          change_deadline: slot.change_deadline,
          sequence: current.sequence + 1,
        };
      } else if (verb === "cancel") {
        const answer = await options.cancel?.(id!, body ?? {}, req.headers);
        if (answer) return answer;
        updated = { ...current, status: "cancelled", cancel_reason: (body?.reason as string) ?? null, actions: [] };
      } else if (verb === "check-in") {
        updated = { ...current, status: "checked_in", checked_in_at: T, actions: ["complete"] };
      } else if (verb === "complete") {
        updated = { ...current, status: "completed", completed_at: T, actions: [] };
      } else if (verb === "no-show") {
        updated = { ...current, status: "no_show", actions: [] };
      }
      if (!updated) return err(404, "not_found", "Not found");
      state.appointments[at] = updated;
      return json(200, updated);
    }
    if (req.method === "GET" && path === "/api/appointments/waitlist") {
      return json(200, { items: state.waitlist, total: state.waitlist.length, limit: 50, offset: 0 });
    }
    if (req.method === "POST" && path === "/api/appointments/waitlist") {
      const entry: WaitlistEntry = {
        id: `cccccccc-0000-4000-8000-${String(state.waitlist.length + 1).padStart(12, "0")}`,
        patient_id: (body?.patient_id as string) ?? PATIENT_ID,
        type_id: body?.type_id as string,
        staff_id: (body?.staff_id as string) ?? null,
        department_id: (body?.department_id as string) ?? null,
        earliest: body?.earliest as string,
        latest: body?.latest as string,
        status: "waiting",
        note: (body?.note as string) ?? null,
        created_at: T,
        offered_appointment_id: null,
      };
      state.waitlist.push(entry);
      return json(201, entry);
    }
    if (req.method === "GET" && path === "/api/staff/me") {
      // The API answers 200 with a JSON null for an account without a staff record.
      return options.staffMe
        ? json(200, options.staffMe)
        : new Response("null", { status: 200, headers: { "Content-Type": "application/json" } });
    }
    if (req.method === "GET" && path === "/api/staff/departments") return json(200, []);
    const staffPath = /^\/api\/staff\/([0-9a-f-]{36})$/.exec(path);
    if (req.method === "GET" && staffPath) {
      const found = (options.clinicians ?? []).find((c) => c.id === staffPath[1]);
      return found ? json(200, { position: null, ...found }) : err(404, "staff_not_found", "Staff member not found");
    }
    if (req.method === "GET" && path === "/api/appointments/clinicians") {
      // Bookable clinicians, by name: part of a name (accents ignored), the type their hours offer.
      const fold = (t: string) => t.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
      const name = q.get("name");
      const type = q.get("type_id");
      const limit = Number(q.get("limit") ?? 50);
      const all = (options.clinicians ?? [])
        .map((c) => ({ position: null, department_id: null, department_name: null, type_ids: [] as string[], ...c }))
        .filter((c) => !name || fold(c.display_name).includes(fold(name)))
        .filter((c) => !type || c.type_ids.length === 0 || c.type_ids.includes(type));
      return json(200, { items: all.slice(0, limit), total: all.length, limit, offset: 0 });
    }
    if (req.method === "GET" && path === "/api/patients" && options.patientSearch) {
      return json(200, options.patientSearch);
    }
    if (req.method === "GET" && path.startsWith("/api/patients/") && options.patient) {
      return json(200, options.patient);
    }
    return null;
  };

  const writes = (path: string) => calls.filter((c) => c.method === "POST" && c.path === path);
  return { routes, calls, state, writes };
}
