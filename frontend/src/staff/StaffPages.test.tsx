import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Me } from "../api/types";
import { json, makeMe } from "../test/fakeApi";
import { renderApp } from "../test/render";
import { ROLE_PERMISSIONS } from "../test/roles";
import { GEN, GRACE, MATEO, makeStaff, staffRoutes } from "../test/staff";

const receptionist = makeMe({
  id: "00000000-0000-4000-8000-0000000000aa",
  username: "receptionist",
  roles: ["receptionist"],
  permissions: [...ROLE_PERMISSIONS.receptionist],
});
const admin = makeMe({
  id: "00000000-0000-4000-8000-0000000000ad",
  username: "admin",
  roles: ["admin"],
  permissions: [...ROLE_PERMISSIONS.admin],
});
/** makeMe's id is the one linked to Grace's record in the fake API. */
const doctor = makeMe({ permissions: [...ROLE_PERMISSIONS.doctor] });

async function open(me: Me, path: string, options: Parameters<typeof staffRoutes>[0] = {}) {
  const api = staffRoutes(options);
  const ui = await renderApp({ me, path, routes: api.routes, signedIn: true });
  return { ...ui, api, user: userEvent.setup() };
}

describe("staff directory", () => {
  it("lists staff with post, department and licence state; expired licences stand out", async () => {
    await open(receptionist, "/staff/directory");
    const table = await screen.findByRole("table", { name: "Staff members" });
    const grace = within(table).getByRole("link", { name: "Dr. Grace Okafor" }).closest("tr")!;
    const mateo = within(table).getByRole("link", { name: "Mateo Núñez" }).closest("tr")!;
    expect(grace).toHaveTextContent("Consultant physician");
    await waitFor(() => expect(grace).toHaveTextContent("General Medicine"));
    expect(within(grace).getByText(/^Valid to/)).toHaveClass("licence-valid");
    const expired = within(mateo).getByText(/Licence expired/);
    expect(expired).toHaveClass("licence-expired");
    expect(expired).toHaveTextContent("⚠ Licence expired 31 Jan 2020");
    expect(screen.getByText("2 staff members.")).toBeInTheDocument();
  });

  it("flags a licence that ends within 30 days", async () => {
    const soon = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
    await open(receptionist, "/staff/directory", {
      staff: [
        makeStaff({
          qualifications: [
            { id: "q", kind: "licence", code: { system: null, code: "GMC", display: "GMC" }, number: null, issuer: null, valid_from: null, valid_to: soon },
          ],
        }),
      ],
    });
    const badge = await screen.findByText(/Licence expires (in \d+ days|today)/);
    expect(badge).toHaveClass("licence-expiring");
  });

  it("searches by name and filters by department through the API", async () => {
    const { user, api } = await open(receptionist, "/staff/directory");
    await screen.findByRole("table", { name: "Staff members" });
    await user.selectOptions(await screen.findByLabelText("Department"), GEN);
    await user.type(screen.getByLabelText("Name"), "mateo{Enter}");
    await waitFor(() => expect(screen.queryByRole("link", { name: "Dr. Grace Okafor" })).not.toBeInTheDocument());
    expect(screen.getByRole("link", { name: "Mateo Núñez" })).toBeInTheDocument();
    const last = api.calls.filter((c) => c.path === "/api/staff").at(-1)!;
    expect(last.search.get("name")).toBe("mateo");
    expect(last.search.get("department_id")).toBe(GEN);
    expect(last.search.get("active")).toBe("true");
  });

  it("opens a staff record from the list", async () => {
    const { user } = await open(receptionist, "/staff/directory");
    await user.click(await screen.findByRole("link", { name: "Dr. Grace Okafor" }));
    expect(await screen.findByRole("heading", { level: 1, name: "Dr. Grace Okafor" })).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "Employment history" })).toBeInTheDocument();
    expect(screen.getByRole("table", { name: "Licences and qualifications" })).toHaveTextContent("GMC registration · GMC-7012345");
  });
});

describe("staff record", () => {
  it("read-only for a receptionist: no licence editing, no calendar feed of someone else", async () => {
    const { api } = await open(receptionist, `/staff/directory/${GRACE}`);
    await screen.findByRole("heading", { level: 1, name: "Dr. Grace Okafor" });
    expect(screen.queryByRole("button", { name: "Add licence…" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^Edit / })).not.toBeInTheDocument();
    expect(screen.queryByRole("heading", { name: "Calendar feed" })).not.toBeInTheDocument();
    expect(api.calls.some((c) => c.path.endsWith("/calendar-feed"))).toBe(false);
  });

  it("an administrator adds a licence", async () => {
    const { user, api } = await open(admin, `/staff/directory/${MATEO}`);
    await screen.findByRole("heading", { level: 1, name: "Mateo Núñez" });
    await user.click(screen.getByRole("button", { name: "Add licence…" }));
    const form = screen.getByRole("form", { name: "Add a licence" });
    await user.click(within(form).getByRole("button", { name: "Add licence" }));
    expect(within(form).getByText("Give the type or the number.")).toBeInTheDocument();
    await user.type(within(form).getByLabelText("Type"), "NMC registration");
    await user.type(within(form).getByLabelText("Number"), "NMC-2");
    await user.type(within(form).getByLabelText("Valid from"), "2026-01-01");
    await user.type(within(form).getByLabelText("Valid to"), "2028-12-31");
    await user.click(within(form).getByRole("button", { name: "Add licence" }));
    await screen.findByText("Added NMC registration · NMC-2.");
    const post = api.calls.find((c) => c.method === "POST" && c.path === `/api/staff/${MATEO}/licences`)!;
    expect(post.body).toEqual({
      kind: "licence",
      code: { system: null, code: null, display: "NMC registration" },
      number: "NMC-2",
      issuer: null,
      valid_from: "2026-01-01",
      valid_to: "2028-12-31",
    });
  });

  it("ending a licence over booked appointments asks first, then saves with the acknowledgement", async () => {
    const url = `/api/staff/${GRACE}/licences/q-grace`;
    const { user, api } = await open(admin, `/staff/directory/${GRACE}`, {
      answer: (method, path, body) => {
        if (method !== "PATCH" || path !== url) return null;
        const b = body as Record<string, unknown>;
        if (!b.acknowledge_appointments) {
          return json(409, {
            error: {
              code: "appointments_without_licence",
              message: "stranded",
              details: {
                staff_id: GRACE,
                total: 2,
                truncated: false,
                appointments: [
                  { id: "a1", start: "", end: "", local_start: "2026-03-02T09:00:00+00:00", type: "GP consultation", mode: "in_person", status: "booked" },
                  { id: "a2", start: "", end: "", local_start: "2026-03-03T11:30:00+00:00", type: "Video consultation", mode: "video", status: "booked" },
                ],
              },
            },
          });
        }
        const { acknowledge_appointments: _ack, ...rest } = b;
        return json(200, {
          id: "q-grace",
          ...rest,
          warnings: [{ code: "appointments_without_licence", message: "reschedule", total: 2, appointments: [] }],
        });
      },
    });
    await screen.findByRole("heading", { level: 1, name: "Dr. Grace Okafor" });
    await user.click(screen.getByRole("button", { name: "Edit GMC registration · GMC-7012345" }));
    const form = screen.getByRole("form", { name: /^Edit / });
    const validTo = within(form).getByLabelText("Valid to");
    await user.clear(validTo);
    await user.type(validTo, "2026-02-28");
    await user.click(within(form).getByRole("button", { name: "Save licence" }));
    const alert = await within(form).findByRole("alert");
    expect(alert).toHaveTextContent("2 appointments are booked on days this leaves without a valid licence — save anyway?");
    expect(alert).toHaveTextContent("Mon 2 Mar 09:00 · GP consultation");
    await user.click(within(form).getByRole("button", { name: "Save anyway" }));
    expect(await screen.findByText(/2 appointments now fall on days without a valid licence: reschedule them\./)).toBeInTheDocument();
    const patches = api.calls.filter((c) => c.method === "PATCH" && c.path === url).map((c) => c.body as Record<string, unknown>);
    expect(patches.map((b) => b.valid_to)).toEqual(["2026-02-28", "2026-02-28"]);
    expect(patches.map((b) => b.acknowledge_appointments)).toEqual([false, true]);
  });

  it("the person themself creates, copies and revokes their calendar link", async () => {
    const { user, api } = await open(doctor, `/staff/directory/${GRACE}`);
    expect(await screen.findByRole("heading", { name: "Calendar feed" })).toBeInTheDocument();
    await user.click(await screen.findByRole("button", { name: "Create calendar link" }));
    const url = await screen.findByLabelText("Calendar link (shown only now)");
    expect(url).toHaveValue("http://hub.test/api/staff/calendar-feeds/secret-token-1234567890.ics");
    await user.click(screen.getByRole("button", { name: "Copy link" }));
    expect(await screen.findByText("Link copied to the clipboard.")).toBeInTheDocument();
    // user-event stands in for the system clipboard.
    expect(await navigator.clipboard.readText()).toBe("http://hub.test/api/staff/calendar-feeds/secret-token-1234567890.ics");
    await user.click(await screen.findByRole("button", { name: "Revoke link…" }));
    await user.click(screen.getByRole("button", { name: "Revoke link" }));
    expect(await screen.findByText(/The calendar link was revoked/)).toBeInTheDocument();
    expect(screen.queryByLabelText("Calendar link (shown only now)")).not.toBeInTheDocument();
    expect(api.calls.filter((c) => c.path === `/api/staff/${GRACE}/calendar-feed`).map((c) => c.method)).toEqual(
      expect.arrayContaining(["GET", "POST", "DELETE"]),
    );
  });

  it("a missing record says so", async () => {
    await open(receptionist, "/staff/directory/50000000-0000-4000-8000-00000000dead");
    expect(await screen.findByRole("heading", { level: 1, name: "Staff member not found" })).toBeInTheDocument();
  });
});

describe("expiring licences report", () => {
  it("asks for the chosen window and lists expired ones first, in words", async () => {
    const { user, api } = await open(receptionist, "/staff/licences", {
      answer: (_method, path) =>
        path === "/api/staff/licences/expiring"
          ? json(200, {
              as_of: "2026-01-05",
              days: 30,
              items: [
                {
                  staff_id: MATEO,
                  display_name: "Mateo Núñez",
                  clinical: true,
                  department_id: GEN,
                  department_name: "General Medicine",
                  licence: { id: "q1", kind: "licence", code: { system: null, code: "NMC", display: "NMC registration" }, number: "NMC-1", issuer: "NMC", valid_from: null, valid_to: "2026-01-02" },
                  status: "expired",
                  days_left: -3,
                },
                {
                  staff_id: GRACE,
                  display_name: "Dr. Grace Okafor",
                  clinical: true,
                  department_id: GEN,
                  department_name: "General Medicine",
                  licence: { id: "q2", kind: "licence", code: { system: null, code: "GMC", display: "GMC registration" }, number: null, issuer: null, valid_from: null, valid_to: "2026-01-20" },
                  status: "expiring",
                  days_left: 15,
                },
              ],
            })
          : null,
    });
    const table = await screen.findByRole("table", { name: /Licences ending within/ });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows[0]).toHaveTextContent("Mateo Núñez");
    expect(within(rows[0]!).getByText(/Expired 3 days ago/)).toHaveClass("licence-expired");
    expect(within(rows[1]!).getByText("Expires in 15 days")).toHaveClass("licence-expiring");
    expect(screen.getByText("2 licences as of 5 Jan 2026, 1 already expired.")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "30 days" }));
    await waitFor(() =>
      expect(api.calls.filter((c) => c.path === "/api/staff/licences/expiring").at(-1)!.search.get("days")).toBe("30"),
    );
    expect(api.calls.find((c) => c.path === "/api/staff/licences/expiring")!.search.get("days")).toBe("90");
  });
});
