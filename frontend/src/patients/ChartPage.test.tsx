import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Me } from "../api/types";
import { err, json, makeMe } from "../test/fakeApi";
import { PATIENT_ID, makeAllergy, makeChart, makeMed, patientsRoutes } from "../test/patients";
import { renderApp } from "../test/render";
import { ROLE_PERMISSIONS } from "../test/roles";
import { SubmissionKeys } from "./prescribing";

const doctor = makeMe({ permissions: [...ROLE_PERMISSIONS.doctor] });
const nurse = makeMe({ username: "nurse", roles: ["nurse"], permissions: [...ROLE_PERMISSIONS.nurse] });
const receptionist = makeMe({
  username: "receptionist",
  roles: ["receptionist"],
  permissions: [...ROLE_PERMISSIONS.receptionist],
});

async function openChart(me: Me, options: Parameters<typeof patientsRoutes>[0] = {}) {
  const api = patientsRoutes(options);
  const ui = await renderApp({ me, path: `/patients/${PATIENT_ID}`, routes: api.routes, signedIn: true });
  await screen.findByRole("heading", { level: 1, name: "María José Godínez" });
  return { ...ui, api, user: userEvent.setup() };
}

const CONFLICT = {
  error: {
    code: "allergy_conflict",
    message: "The patient has a recorded allergy to this medication; send override_reason to prescribe anyway",
    details: {
      allergy: {
        id: "a1",
        code: { system: "http://www.nlm.nih.gov/research/umls/rxnorm", code: "7984", display: "Penicillin V" },
        criticality: "high",
      },
      matched: { on: "ingredient", by: "code", system: "http://www.nlm.nih.gov/research/umls/rxnorm", code: "7984", display: null },
    },
  },
};

async function fillPrescription(user: ReturnType<typeof userEvent.setup>) {
  await user.click(screen.getByRole("button", { name: "Prescribe…" }));
  await user.type(screen.getByLabelText("Drug"), "Penicillin V Potassium 500 MG");
  await user.type(screen.getByLabelText("RxNorm code"), "834102");
  await user.type(screen.getByLabelText("Ingredient codes (optional)"), "7984");
  await user.type(screen.getByLabelText("Dose"), "500");
}

describe("the chart", () => {
  it("shows the allergy badges in the header, high criticality marked in words too", async () => {
    await openChart(doctor, {
      chart: makeChart({ allergies: [makeAllergy(), makeAllergy({ id: "a2", code: { display: "Peanut" }, criticality: "low" })] }),
    });
    const header = document.querySelector(".patient-header")!;
    const badges = within(header as HTMLElement).getAllByRole("listitem");
    expect(badges.map((b) => b.textContent)).toEqual(["⚠ Penicillin V · HIGH criticality", "Peanut · Low"]);
    expect(badges[0]).toHaveClass("allergy-high");
    expect(within(header as HTMLElement).getByText("00000018")).toBeInTheDocument();
    expect(screen.getByRole("list", { name: "Active medications" })).toHaveTextContent("Lisinopril 10 MG");
  });

  it("receptionist: demographics only; no clinical request is even made", async () => {
    const { api } = await openChart(receptionist);
    expect(screen.getByRole("heading", { name: "Demographics" })).toBeInTheDocument();
    expect(screen.getByText(/Clinical information is not shown for your role/)).toBeInTheDocument();
    for (const name of ["Allergies", "Active medications", "Active problems", "Latest vitals", "History"]) {
      expect(screen.queryByRole("heading", { name })).not.toBeInTheDocument();
    }
    expect(screen.queryByText(/Penicillin/)).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Prescribe…" })).not.toBeInTheDocument();
    const paths = api.calls.map((c) => c.path);
    expect(paths).toEqual([`/api/patients/${PATIENT_ID}`]);
  });

  it("nurse: the whole chart but no prescribing or stopping", async () => {
    await openChart(nurse);
    expect(screen.getByRole("heading", { name: "Active medications" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Prescribe…" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^Stop / })).not.toBeInTheDocument();
  });

  it("hints at a matching allergy before anything is sent", async () => {
    const { user, api } = await openChart(doctor);
    await user.click(screen.getByRole("button", { name: "Prescribe…" }));
    await user.type(screen.getByLabelText("Drug"), "penicillin v potassium");
    expect(screen.getByRole("note")).toHaveTextContent("may match the recorded allergy to Penicillin V");
    expect(screen.getByRole("note")).toHaveTextContent("high criticality");
    expect(api.calls.some((c) => c.method === "POST")).toBe(false);
  });
});

describe("stopping and the portal", () => {
  it("a doctor stops a medication with a reason (required)", async () => {
    const { user, api } = await openChart(doctor);
    await user.click(screen.getByRole("button", { name: "Stop Lisinopril 10 MG" }));
    const reason = screen.getByLabelText("Reason for stopping Lisinopril 10 MG");
    await waitFor(() => expect(reason).toHaveFocus());
    await user.click(screen.getByRole("button", { name: "Stop medication" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Give the reason for stopping.");
    await user.type(reason, "Cough");
    await user.click(screen.getByRole("button", { name: "Stop medication" }));
    expect(await screen.findByText("No active medications.")).toBeInTheDocument();
    const patch = api.calls.find((c) => c.method === "PATCH")!;
    expect(patch.body).toEqual({ status: "stopped", reason: "Cough" });
    expect(screen.getByText("Stopped Lisinopril 10 MG.")).toBeInTheDocument();
  });

  it("a patient sees their own chart on My health, read-only", async () => {
    const me = makeMe({
      username: "patient",
      full_name: "María José Godínez",
      roles: ["patient"],
      permissions: [...ROLE_PERMISSIONS.patient],
      patient_id: PATIENT_ID,
    });
    const api = patientsRoutes({});
    await renderApp({ me, path: "/", routes: api.routes, signedIn: true });
    expect(await screen.findByRole("heading", { level: 2, name: "María José Godínez" })).toBeInTheDocument();
    expect(screen.getByRole("list", { name: "Active medications" })).toHaveTextContent("Lisinopril");
    expect(screen.queryByRole("button", { name: "Prescribe…" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^Stop / })).not.toBeInTheDocument();
    expect(api.calls.map((c) => c.path)).toContain(`/api/patients/${PATIENT_ID}/chart`);
  });
});

describe("prescribing through the allergy check", () => {
  it("409 allergy_conflict -> warning -> override needs a reason -> resubmits with it", async () => {
    const sent: { body: Record<string, unknown>; key: string | null }[] = [];
    const { user } = await openChart(doctor, {
      prescribe: (body, headers) => {
        sent.push({ body, key: headers.get("Idempotency-Key") });
        if (!body.override_reason) return json(409, CONFLICT);
        return json(201, makeMed({ id: "new", medication: body.medication as never, allergy_override_reason: String(body.override_reason) }));
      },
    });
    await fillPrescription(user);
    await user.click(screen.getByRole("button", { name: "Prescribe" }));

    const warning = await screen.findByRole("alert");
    expect(warning).toHaveTextContent("Allergy conflict — not prescribed");
    expect(warning).toHaveTextContent("recorded allergy to Penicillin V (RxNorm 7984)");
    expect(warning).toHaveTextContent("high criticality");
    expect(warning).toHaveTextContent("Matched on the ingredient code RxNorm 7984");
    await waitFor(() => expect(within(warning).getByRole("heading")).toHaveFocus());
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body.override_reason).toBeUndefined();

    await user.click(within(warning).getByRole("button", { name: "Override with reason…" }));
    const reason = screen.getByLabelText("Reason for overriding the allergy (required)");
    await waitFor(() => expect(reason).toHaveFocus());
    await user.click(screen.getByRole("button", { name: "Prescribe despite allergy" }));
    expect(screen.getByText(/Give the clinical reason/)).toBeInTheDocument();
    expect(sent).toHaveLength(1); // no reason, nothing sent

    await user.type(reason, "Tolerated a supervised challenge");
    await user.click(screen.getByRole("button", { name: "Prescribe despite allergy" }));
    await waitFor(() => expect(sent).toHaveLength(2));
    expect(sent[1]!.body.override_reason).toBe("Tolerated a supervised challenge");
    // Same prescription otherwise.
    const { override_reason: _, ...rest } = sent[1]!.body;
    expect(rest).toEqual(sent[0]!.body);
    // Both carry a UUID key; a different body is a different submission (the server refuses a
    // key reused with another body).
    for (const s of sent) expect(s.key).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent[1]!.key).not.toBe(sent[0]!.key);

    const meds = await screen.findByRole("list", { name: "Active medications" });
    await waitFor(() => expect(meds).toHaveTextContent("Allergy overridden: Tolerated a supervised challenge"));
    expect(screen.queryByText("Allergy conflict — not prescribed")).not.toBeInTheDocument();
    expect(screen.getByText("Prescribed Penicillin V Potassium 500 MG.")).toBeInTheDocument();
  });

  it("an uncoded drug named like a recorded allergy: hinted before sending, refused by name", async () => {
    const sulfa = makeAllergy({
      code: { system: "http://www.nlm.nih.gov/research/umls/rxnorm", code: "10180", display: "Sulfamethoxazole" },
      criticality: "low",
    });
    const { user } = await openChart(doctor, {
      chart: makeChart({ allergies: [sulfa] }),
      prescribe: () =>
        json(409, {
          error: {
            ...CONFLICT.error,
            details: {
              allergy: sulfa,
              matched: { on: "medication", by: "display", system: null, code: null, display: "Sulfamethoxazole 400mg" },
            },
          },
        }),
    });
    await user.click(screen.getByRole("button", { name: "Prescribe…" }));
    await user.type(screen.getByLabelText("Drug"), "Sulfamethoxazole 400mg");
    expect(screen.getByRole("note")).toHaveTextContent("may match the recorded allergy to Sulfamethoxazole (RxNorm 10180)");
    expect(screen.getByRole("note")).toHaveTextContent("similar name");
    await user.click(screen.getByRole("button", { name: "Prescribe" }));
    const warning = await screen.findByRole("alert");
    expect(warning).toHaveTextContent("Matched on the drug name Sulfamethoxazole 400mg");
  });

  it("a check that could compare names only is said so after prescribing", async () => {
    const message =
      "Compared by name only with: Penicillin V (no code in a common system). No name matched, which proves less than a code: check these allergies yourself.";
    const { user } = await openChart(doctor, {
      prescribe: (body) =>
        json(201, {
          ...makeMed({ id: "new", medication: body.medication as never }),
          allergy_check: { status: "names_only", message, compared_by_name_only: [] },
        }),
    });
    await user.click(screen.getByRole("button", { name: "Prescribe…" }));
    await user.type(screen.getByLabelText("Drug"), "Amlodipine 5 MG");
    await user.click(screen.getByRole("button", { name: "Prescribe" }));
    const notice = await screen.findByRole("note", { name: "Allergy check" });
    expect(notice).toHaveTextContent(`⚠ Allergy check by name only: ${message}`);
    expect(screen.getByText("Prescribed Amlodipine 5 MG.")).toBeInTheDocument();
    // The next prescription starts without it; a clear check shows none.
    await user.click(screen.getByRole("button", { name: "Prescribe…" }));
    expect(screen.queryByRole("note", { name: "Allergy check" })).not.toBeInTheDocument();
  });

  it("a double click sends one request", async () => {
    const keys: (string | null)[] = [];
    const { user } = await openChart(doctor, {
      prescribe: (_body, headers) => {
        keys.push(headers.get("Idempotency-Key"));
        return json(201, makeMed({ id: "new" }));
      },
    });
    await user.click(screen.getByRole("button", { name: "Prescribe…" }));
    await user.type(screen.getByLabelText("Drug"), "Amlodipine 5 MG");
    await user.dblClick(screen.getByRole("button", { name: "Prescribe" }));
    await waitFor(() => expect(screen.queryByRole("button", { name: "Prescribe" })).not.toBeInTheDocument());
    expect(keys).toHaveLength(1);
  });

  it("retrying the same prescription after a failure reuses its key (the server replays, never doubles)", async () => {
    const keys: (string | null)[] = [];
    let fail = true;
    const { user } = await openChart(doctor, {
      prescribe: (_body, headers) => {
        keys.push(headers.get("Idempotency-Key"));
        return fail ? err(503, "service_unavailable", "down") : json(201, makeMed({ id: "new" }));
      },
    });
    await user.click(screen.getByRole("button", { name: "Prescribe…" }));
    await user.type(screen.getByLabelText("Drug"), "Amlodipine 5 MG");
    await user.click(screen.getByRole("button", { name: "Prescribe" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Something went wrong on our side");
    fail = false;
    await user.click(screen.getByRole("button", { name: "Prescribe" }));
    await waitFor(() => expect(keys).toHaveLength(2));
    expect(keys[1]).toBe(keys[0]);
  });
});

describe("SubmissionKeys", () => {
  it("same body, same key; changed body or after reset, a new key", () => {
    let n = 0;
    const keys = new SubmissionKeys(() => `k${++n}`);
    const a = keys.keyFor({ b: 1, a: [1, 2] });
    expect(keys.keyFor({ a: [1, 2], b: 1 })).toBe(a); // key order does not matter
    expect(keys.keyFor({ a: [1, 2], b: 1, override_reason: "x" })).not.toBe(a);
    keys.reset();
    expect(keys.keyFor({ a: [1, 2], b: 1, override_reason: "x" })).toBe("k3");
  });
});
