import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ROLE_PERMISSIONS } from "./test/roles";
import { makeMe } from "./test/fakeApi";
import { renderApp } from "./test/render";
import { navFor } from "./nav";

const labels = (perms: Iterable<string>) => navFor(perms).map((i) => i.label);

describe("navFor (which modules a user sees)", () => {
  it("shows every module only with its permission", () => {
    expect(labels([])).toEqual(["Home"]);
    expect(labels(["patients:read"])).toEqual(["Home", "Patients"]);
    expect(labels(["pharmacy:dispense", "inventory:read"])).toEqual(["Home", "Inventory", "Pharmacy"]);
    expect(labels(["billing:read", "insurance:read"])).toEqual(["Home", "Billing", "Insurance"]);
    expect(labels(["monitoring:read", "staff:read", "appointments:read", "telehealth:join"])).toEqual([
      "Home",
      "Appointments",
      "Telehealth",
      "Monitoring",
      "Staff",
    ]);
  });

  it("doctor: clinical modules, no Admin, no Billing, no Pharmacy", () => {
    const nav = labels(ROLE_PERMISSIONS.doctor);
    expect(nav).toEqual(["Home", "Patients", "Appointments", "Telehealth", "Monitoring", "Staff", "Inventory"]);
  });

  it("admin: Admin with Users and Audit log", () => {
    const admin = navFor(ROLE_PERMISSIONS.admin).find((i) => i.id === "admin");
    expect(admin?.children?.map((c) => c.label)).toEqual(["Users", "Audit log"]);
  });

  it("Admin needs admin:users or admin:audit, and shows only the sub-pages granted", () => {
    expect(labels(["admin:settings"])).not.toContain("Admin");
    const auditOnly = navFor(["admin:audit"]).find((i) => i.id === "admin");
    expect(auditOnly?.children?.map((c) => c.label)).toEqual(["Audit log"]);
  });

  it("every other role sees exactly its modules", () => {
    expect(labels(ROLE_PERMISSIONS.receptionist)).toEqual([
      "Home",
      "Patients",
      "Appointments",
      "Staff",
      "Billing",
      "Insurance",
    ]);
    expect(labels(ROLE_PERMISSIONS.pharmacist)).toEqual(["Home", "Patients", "Inventory", "Pharmacy"]);
    expect(labels(ROLE_PERMISSIONS.billing)).toEqual(["Home", "Patients", "Appointments", "Billing", "Insurance"]);
    expect(labels(ROLE_PERMISSIONS.nurse)).toEqual(labels(ROLE_PERMISSIONS.doctor));
  });

  it("patients get the portal navigation and nothing from the staff side", () => {
    expect(labels(ROLE_PERMISSIONS.patient)).toEqual([
      "My health",
      "My appointments",
      "My readings",
      "Video visits",
      "Billing",
    ]);
    expect(labels(["portal:self"])).toEqual(["My health", "My appointments", "My readings", "Billing"]);
  });
});

describe("the rendered shell", () => {
  async function signIn(me = makeMe(), path = "/") {
    const ui = await renderApp({ me, path });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Username"), me.username);
    await user.type(screen.getByLabelText("Password"), "hospital-demo");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    await screen.findByRole("navigation", { name: "Main" });
    return { ...ui, user };
  }

  it("greets a doctor by name and role; nav has Patients but not Admin", async () => {
    await signIn(makeMe({ full_name: "Dr. Ada Lovelace", permissions: [...ROLE_PERMISSIONS.doctor] }));
    expect(screen.getByRole("heading", { level: 1 })).toHaveTextContent("Dr. Ada Lovelace");
    expect(screen.getByRole("main")).toHaveTextContent("Doctor");
    const nav = screen.getByRole("navigation", { name: "Main" });
    expect(within(nav).getByRole("link", { name: "Patients" })).toBeInTheDocument();
    expect(within(nav).queryByRole("link", { name: "Admin" })).not.toBeInTheDocument();
  });

  it("shows Admin to an administrator", async () => {
    await signIn(
      makeMe({ username: "admin", full_name: "Alex Admin", roles: ["admin"], permissions: [...ROLE_PERMISSIONS.admin] }),
    );
    const nav = screen.getByRole("navigation", { name: "Main" });
    expect(within(nav).getByRole("link", { name: "Admin" })).toBeInTheDocument();
    expect(within(nav).getByRole("link", { name: "Audit log" })).toBeInTheDocument();
  });

  it("blocks a page the role may not open, even by URL, and comes back after login", async () => {
    await signIn(makeMe({ permissions: [...ROLE_PERMISSIONS.doctor] }), "/pharmacy");
    expect(screen.getByRole("heading", { level: 1 })).toHaveTextContent("Not available");
    expect(screen.queryByRole("link", { name: "Pharmacy" })).not.toBeInTheDocument();
  });

  it("opens a permitted module's placeholder from the nav", async () => {
    const { user } = await signIn(makeMe({ permissions: [...ROLE_PERMISSIONS.doctor] }));
    await user.click(within(screen.getByRole("navigation", { name: "Main" })).getByRole("link", { name: "Inventory" }));
    expect(await screen.findByRole("heading", { level: 1, name: "Inventory" })).toBeInTheDocument();
    expect(screen.getByText("Coming soon")).toBeInTheDocument();
  });

  it("opens the patient search (a landed module) from the nav", async () => {
    const { user } = await signIn(makeMe({ permissions: [...ROLE_PERMISSIONS.doctor] }));
    await user.click(within(screen.getByRole("navigation", { name: "Main" })).getByRole("link", { name: "Patients" }));
    expect(await screen.findByRole("heading", { level: 1, name: "Patients" })).toBeInTheDocument();
    await waitFor(() => expect(screen.getByLabelText("Name, MRN or identifier")).toHaveFocus());
    expect(screen.queryByText("Coming soon")).not.toBeInTheDocument();
  });

  it("keeps patients out of staff pages", async () => {
    const patient = makeMe({ username: "patient", full_name: "Pat Patient", roles: ["patient"], permissions: [...ROLE_PERMISSIONS.patient] });
    await signIn(patient, "/patients");
    expect(screen.getByRole("heading", { level: 1 })).toHaveTextContent("Not available");
    const nav = screen.getByRole("navigation", { name: "Main" });
    expect(within(nav).getByRole("link", { name: "My health" })).toBeInTheDocument();
    expect(within(nav).queryByRole("link", { name: "Patients" })).not.toBeInTheDocument();
  });

  it("logs out back to the login page", async () => {
    const { user, api } = await signIn();
    await user.click(screen.getByRole("button", { name: /log out/i }));
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("You have signed out.");
    expect(api.state.calls.some((c) => c.path === "/api/auth/logout")).toBe(true);
  });

  it("redirects a signed-out visitor to the login page", async () => {
    await act(async () => {
      await renderApp({ me: null, path: "/patients" });
    });
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
  });
});
