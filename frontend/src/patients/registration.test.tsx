import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiError } from "../api/errors";
import { json, makeMe } from "../test/fakeApi";
import { makePatient, patientsRoutes } from "../test/patients";
import { renderApp } from "../test/render";
import { ROLE_PERMISSIONS } from "../test/roles";
import {
  EMPTY_REGISTRATION,
  mapServerErrors,
  registrationPayload,
  validateRegistration,
  type RegistrationForm,
} from "./registration";

const form = (over: Partial<RegistrationForm> = {}): RegistrationForm => ({
  ...EMPTY_REGISTRATION,
  given: "María José",
  family: "Godínez",
  ...over,
});

const validation = (details: { loc: (string | number)[]; msg: string }[]) =>
  new ApiError({ status: 422, code: "validation_error", message: "The request body is invalid", details });

describe("registration: validation mirrors the server", () => {
  it("needs a family or given name, a past birth date, valid codes and emails", () => {
    const now = new Date(2026, 0, 15);
    expect(validateRegistration(form(), now)).toEqual({});
    expect(validateRegistration(form({ given: "", family: "" }), now).family).toMatch(/family name or a given name/);
    expect(validateRegistration(form({ birthDate: "2026-01-16" }), now).birthDate).toMatch(/future/);
    expect(validateRegistration(form({ language: "english!" }), now).language).toMatch(/language code/);
    expect(validateRegistration(form({ email: "nope" }), now).email).toBeDefined();
    expect(validateRegistration(form({ emergencyPhone: "555" }), now).emergencyName).toBeDefined();
    const twice = form({ identifiers: [{ system: "s", value: "1" }, { system: "s", value: "1" }] });
    expect(validateRegistration(twice, now)["identifiers.1.value"]).toMatch(/twice/);
    expect(validateRegistration(form({ identifiers: [{ system: "", value: "X1" }] }), now)["identifiers.0.system"]).toBeDefined();
    expect(validateRegistration(form({ postalCode: "x".repeat(21) }), now).postalCode).toMatch(/20/);
  });

  it("builds the PatientCreate body", () => {
    const { body } = registrationPayload(
      form({ prefix: "Sra.", phone: "+1 555", emergencyName: "Luis", identifiers: [{ system: " s ", value: " v " }] }),
    );
    expect(body.names[0]).toMatchObject({ given: ["María", "José"], family: "Godínez", prefix: ["Sra."], is_primary: true });
    expect(body.telecoms).toEqual([{ system: "phone", value: "+1 555", use: "mobile" }]);
    expect(body.contacts[0]).toMatchObject({ name: "Luis", relationship: { code: "C" } });
    expect(body.identifiers).toEqual([{ system: "s", value: "v" }]);
    expect(body.addresses).toEqual([]);
  });
});

describe("registration: the server's errors land on the fields", () => {
  it("maps 422 locations, the most specific path winning", () => {
    const f = form({
      email: "a@b.co",
      phone: "1",
      emergencyName: "Luis",
      emergencyEmail: "x@y.z",
      identifiers: [{ system: "", value: "" }, { system: "urn:x", value: "1" }],
    });
    const { locs } = registrationPayload(f);
    const mapped = mapServerErrors(
      validation([
        { loc: ["body", "names", 0, "given", 1], msg: "String should have at most 100 characters" },
        { loc: ["body", "telecoms", 1, "value"], msg: "bad" },
        { loc: ["body", "contacts", 0, "email"], msg: "value is not a valid email address" },
        { loc: ["body", "identifiers", 0, "value"], msg: "too long" },
        { loc: ["body", "names", 0], msg: "Value error, a name needs a family name, a given name or a text" },
        { loc: ["body"], msg: "Value error, at most one name can be primary" },
      ]),
      f,
      locs,
    )!;
    expect(mapped.fields.given).toBe("String should have at most 100 characters.");
    expect(mapped.fields.email).toBe("Bad."); // telecoms[1] is the email: phone came first
    expect(mapped.fields.emergencyEmail).toBe("Value is not a valid email address.");
    // The empty first row was not sent: the server's identifiers[0] is the form's row 1.
    expect(mapped.fields["identifiers.1.value"]).toBe("Too long.");
    expect(mapped.fields.family).toBe("A name needs a family name, a given name or a text.");
    expect(mapped.form).toEqual(["At most one name can be primary."]);
  });

  it("explains a 409 duplicate identifier on its row, with the owner", () => {
    const f = form({ identifiers: [{ system: "urn:hospital-hub:passport", value: "P1" }] });
    const mapped = mapServerErrors(
      new ApiError({
        status: 409,
        code: "duplicate_identifier",
        message: "A patient with this identifier is already registered",
        details: { system: "urn:hospital-hub:passport", value: "P1", patient_id: "p-42" },
      }),
      f,
      registrationPayload(f).locs,
    )!;
    expect(mapped.duplicate).toEqual({ system: "urn:hospital-hub:passport", value: "P1", patientId: "p-42" });
    expect(mapped.fields["identifiers.0.value"]).toMatch(/Already registered/);
  });

  it("leaves other errors to the generic message", () => {
    expect(mapServerErrors(new ApiError({ status: 500, code: "internal_error", message: "x" }), form(), [])).toBeNull();
  });
});

describe("the registration form", () => {
  const receptionist = makeMe({
    username: "receptionist",
    roles: ["receptionist"],
    permissions: [...ROLE_PERMISSIONS.receptionist],
  });

  async function openForm(register: (body: Record<string, unknown>) => Response) {
    const api = patientsRoutes({ register });
    await renderApp({ me: receptionist, path: "/patients/new", routes: api.routes, signedIn: true });
    await screen.findByRole("heading", { level: 1, name: "Register a patient" });
    return { api, user: userEvent.setup() };
  }

  it("validates before sending and focuses the error summary", async () => {
    const { api, user } = await openForm(() => json(201, makePatient()));
    await user.click(screen.getByRole("button", { name: "Register patient" }));
    const summary = await screen.findByText("Please correct the following:");
    await waitFor(() => expect(summary.closest("[role=alert]")).toHaveFocus());
    expect(screen.getByRole("link", { name: /Family name: Enter a family name/ })).toBeInTheDocument();
    expect(screen.getByLabelText("Family name")).toHaveAttribute("aria-invalid", "true");
    expect(api.calls.filter((c) => c.method === "POST")).toHaveLength(0);
  });

  it("shows a 422 inline on the field and a 409 duplicate with a link to the existing patient", async () => {
    let answer: Response = json(422, {
      error: {
        code: "validation_error",
        message: "The request body is invalid",
        details: [{ loc: ["body", "preferred_language"], msg: "String should match pattern", type: "string_pattern_mismatch" }],
      },
    });
    const { api, user } = await openForm(() => answer);
    await user.type(screen.getByLabelText("Given names"), "María José");
    await user.type(screen.getByLabelText("Family name"), "Godínez");
    await user.type(screen.getByLabelText("Preferred language"), "es");
    await user.click(screen.getByRole("button", { name: "Add identifier" }));
    await user.type(screen.getByLabelText("Identifier 1 type"), "urn:hospital-hub:passport");
    await user.type(screen.getByLabelText("Identifier 1 value"), "P1");
    await user.click(screen.getByRole("button", { name: "Register patient" }));

    const language = screen.getByLabelText("Preferred language");
    await waitFor(() => expect(language).toHaveAttribute("aria-invalid", "true"));
    expect(language).toHaveAccessibleDescription("String should match pattern.");
    const post = api.calls.find((c) => c.method === "POST")!;
    expect(post.headers.get("Idempotency-Key")).toMatch(/^[0-9a-f-]{36}$/);

    answer = json(409, {
      error: {
        code: "duplicate_identifier",
        message: "A patient with this identifier is already registered",
        details: { system: "urn:hospital-hub:passport", value: "P1", patient_id: "existing-id" },
      },
    });
    await user.click(screen.getByRole("button", { name: "Register patient" }));
    expect(await screen.findByText("This identifier is already registered")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Open the existing patient" })).toHaveAttribute("href", "/patients/existing-id");
    expect(screen.getByLabelText("Identifier 1 value")).toHaveAttribute("aria-invalid", "true");
  });
});
