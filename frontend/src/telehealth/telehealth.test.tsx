import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { json, makeMe } from "../test/fakeApi";
import { PATIENT_ID } from "../test/patients";
import { renderApp } from "../test/render";
import { ROLE_PERMISSIONS } from "../test/roles";
import { qualityLabel, wsUrl } from "./call";

const patient = makeMe({
  username: "patient",
  full_name: "María José Godínez",
  roles: ["patient"],
  permissions: [...ROLE_PERMISSIONS.patient],
  patient_id: PATIENT_ID,
});

function consultation(id: string, minutesFromNow: number, canJoin: boolean, status = "scheduled") {
  const start = new Date(Date.now() + minutesFromNow * 60_000);
  return {
    id,
    appointment_id: `a-${id}`,
    status,
    start: start.toISOString(),
    end: new Date(start.getTime() + 20 * 60_000).toISOString(),
    local_start: start.toISOString(),
    timezone: "Europe/London",
    join_opens_at: new Date(start.getTime() - 15 * 60_000).toISOString(),
    join_closes_at: new Date(start.getTime() + 50 * 60_000).toISOString(),
    can_join: canJoin,
    my_role: "patient",
    patient: { id: PATIENT_ID, display_name: "María José Godínez" },
    clinician: { id: "s1", display_name: "Dr. Grace Okafor" },
    type_name: "Video consultation",
    encounter_id: null,
    started_at: null,
    ended_at: null,
  };
}

describe("Video visits (patient portal)", { timeout: 20_000 }, () => {
  it("offers Join only inside the window, and says when it opens otherwise", async () => {
    const routes = (_req: Request, url: URL) =>
      url.pathname === "/api/telehealth/consultations"
        ? json(200, [consultation("soon", 5, true), consultation("later", 24 * 60, false)])
        : null;
    await renderApp({ me: patient, path: "/my/visits", routes, signedIn: true });
    await screen.findByRole("heading", { level: 1, name: "Video visits" });
    const join = await screen.findByRole("link", { name: "Join" });
    expect(join.getAttribute("href")).toBe("/my/visits/soon");
    expect(screen.getAllByRole("link", { name: "Join" })).toHaveLength(1);
    const later = (await screen.findByText(/Join opens/)).closest("li")!;
    expect(later.textContent).toContain("Dr. Grace Okafor");
    expect(within(later).queryByRole("link")).toBeNull();
  });
});

describe("call helpers", () => {
  it("builds the signaling URL on this origin or keeps an absolute one", () => {
    expect(wsUrl("/ws/signaling", "a b", "https://hub.example")).toBe("wss://hub.example/ws/signaling?token=a%20b");
    expect(wsUrl("wss://sig.example/ws/signaling", "t", "http://x")).toBe("wss://sig.example/ws/signaling?token=t");
  });

  it("grades connection quality from getStats numbers", () => {
    const base = { framesDecoded: 10, packetsLost: 0 };
    expect(qualityLabel({ ...base, framesPerSecond: 30, jitterMs: 5, roundTripMs: 40 })).toBe("good");
    expect(qualityLabel({ ...base, framesPerSecond: 10, jitterMs: 5, roundTripMs: 40 })).toBe("fair");
    expect(qualityLabel({ ...base, framesPerSecond: 30, jitterMs: 5, roundTripMs: 600 })).toBe("poor");
  });
});
