import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { err, json, makeMe } from "../test/fakeApi";
import { makePatient, page, patientsRoutes } from "../test/patients";
import { renderApp } from "../test/render";
import { ROLE_PERMISSIONS } from "../test/roles";

const doctor = makeMe({ permissions: [...ROLE_PERMISSIONS.doctor] });

function many(n: number, offset: number) {
  return Array.from({ length: n }, (_, i) =>
    makePatient({
      id: `00000000-0000-4000-8000-${String(offset + i).padStart(12, "0")}`,
      mrn: String(10000000 + offset + i),
      names: [{ use: null, text: null, family: `Family${offset + i}`, given: ["Ana"], prefix: [], suffix: [], is_primary: true }],
    }),
  );
}

async function open(search?: (q: URLSearchParams) => Response) {
  const api = patientsRoutes({ search });
  const ui = await renderApp({ me: doctor, path: "/patients", routes: api.routes, signedIn: true });
  const box = await screen.findByLabelText("Name, MRN or identifier");
  const searches = () => api.calls.filter((c) => c.method === "GET" && c.path === "/api/patients");
  return { ...ui, api, box, searches, user: userEvent.setup() };
}

describe("patient search", () => {
  it("debounces typing into one request, by name, and lists the results", async () => {
    const { box, searches, user } = await open();
    await user.type(box, "godi");
    expect(await screen.findByRole("link", { name: "Godínez, María José" })).toBeInTheDocument();
    // Four keystrokes, one search: g / go / god were never sent.
    expect(searches()).toHaveLength(1);
    expect(searches()[0]!.search.get("name")).toBe("godi");
    expect(searches()[0]!.search.get("identifier")).toBeNull();
    expect(screen.getByRole("status")).toHaveTextContent("1 patient found.");
    const row = screen.getByRole("row", { name: /Godínez/ });
    expect(within(row).getByText("00000018")).toBeInTheDocument();
    expect(within(row).getByText("Female")).toBeInTheDocument();
  });

  it("waits for two characters before searching", async () => {
    const { box, searches, user } = await open();
    await user.type(box, "g");
    expect(await screen.findByText("Type at least 2 characters.")).toBeInTheDocument();
    await new Promise((r) => setTimeout(r, 400));
    expect(searches()).toHaveLength(0);
  });

  it("sends digits as an MRN/identifier search, and Enter skips the wait", async () => {
    const { box, searches, user } = await open();
    await user.type(box, "00000018{Enter}");
    await screen.findByRole("link", { name: "Godínez, María José" });
    expect(searches().at(-1)!.search.get("identifier")).toBe("00000018");
    expect(searches().at(-1)!.search.get("name")).toBeNull();
  });

  it("pages through results with Previous / Next", async () => {
    const { box, searches, user } = await open((q) => {
      const offset = Number(q.get("offset") ?? 0);
      return json(200, page(many(offset === 0 ? 25 : 10, offset), 35, 25, offset));
    });
    await user.type(box, "ana");
    expect(await screen.findByText("1–25 of 35")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Previous" })).toBeDisabled();
    await user.click(screen.getByRole("button", { name: "Next" }));
    expect(await screen.findByText("26–35 of 35")).toBeInTheDocument();
    expect(searches().at(-1)!.search.get("offset")).toBe("25");
    expect(searches().at(-1)!.search.get("limit")).toBe("25");
    expect(screen.getByRole("link", { name: "Family25, Ana" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Next" })).toBeDisabled();
    // A new search starts again on the first page.
    await user.type(box, "x");
    await waitFor(() => expect(searches().at(-1)!.search.get("name")).toBe("anax"));
    expect(searches().at(-1)!.search.get("offset")).toBe("0");
  });

  it("shows a capped total as a lower bound and keeps Next enabled", async () => {
    const { box, searches, user } = await open((q) => {
      const offset = Number(q.get("offset") ?? 0);
      return json(200, { ...page(many(25, offset), offset === 0 ? 1001 : 1025, 25, offset), total_is_lower_bound: true });
    });
    await user.type(box, "ana");
    expect(await screen.findByText("1–25 of 1001+")).toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("1001+ patients found.");
    await user.click(screen.getByRole("button", { name: "Next" }));
    expect(await screen.findByText("26–50 of 1025+")).toBeInTheDocument();
    expect(searches().at(-1)!.search.get("offset")).toBe("25");
    expect(screen.getByRole("button", { name: "Next" })).toBeEnabled();
  });

  it("filters by birth date", async () => {
    const { searches, user } = await open();
    await user.type(screen.getByLabelText("Birth date"), "1984-03-12");
    await waitFor(() => expect(searches().at(-1)?.search.getAll("birth_date")).toEqual(["1984-03-12"]));
  });

  it("says when nothing matches, and explains an error", async () => {
    let fail = false;
    const { box, user } = await open(() =>
      fail ? err(500, "internal_error", "boom") : json(200, page([], 0, 25)),
    );
    await user.type(box, "zz");
    expect(await screen.findByText("No patients match this search.")).toBeInTheDocument();
    fail = true;
    await user.type(box, "z");
    expect(await screen.findByRole("alert")).toHaveTextContent("Something went wrong on our side");
    fail = false;
    await user.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByText("No patients match this search.")).toBeInTheDocument();
  });

  it("moves from the search box into the results with the arrow key", async () => {
    const { box, user } = await open();
    await user.type(box, "godi");
    const link = await screen.findByRole("link", { name: "Godínez, María José" });
    await user.keyboard("{ArrowDown}");
    await waitFor(() => expect(link).toHaveFocus());
    await user.keyboard("{ArrowUp}");
    await waitFor(() => expect(box).toHaveFocus());
  });
});
