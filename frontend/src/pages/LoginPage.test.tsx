import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { renderApp } from "../test/render";

async function submit(username: string, password: string) {
  const user = userEvent.setup();
  if (username) await user.type(await screen.findByLabelText("Username"), username);
  if (password) await user.type(screen.getByLabelText("Password"), password);
  await user.click(screen.getByRole("button", { name: "Sign in" }));
}

describe("LoginPage", () => {
  it("has labelled fields and a submit button", async () => {
    await renderApp({ path: "/login" });
    expect(await screen.findByLabelText("Username")).toHaveAttribute("autocomplete", "username");
    expect(screen.getByLabelText("Password")).toHaveAttribute("type", "password");
    expect(screen.getByRole("button", { name: "Sign in" })).toBeEnabled();
  });

  it("explains a wrong password and clears the password field", async () => {
    await renderApp({ path: "/login" });
    await submit("doctor", "not-the-password");
    expect(await screen.findByRole("alert")).toHaveTextContent("The username or password is incorrect.");
    expect(screen.getByLabelText("Password")).toHaveValue("");
    await waitFor(() => expect(screen.getByLabelText("Password")).toHaveFocus());
  });

  it("explains a lock-out (429 + Retry-After) and disables the button", async () => {
    await renderApp({ path: "/login", lockedFor: 900 });
    await submit("doctor", "hospital-demo");
    expect(await screen.findByRole("alert")).toHaveTextContent(
      "Too many failed attempts. Please wait 15 minutes before trying again.",
    );
    expect(screen.getByRole("button", { name: "Sign in" })).toBeDisabled();
  });

  it("asks for both fields before calling the API", async () => {
    const { api } = await renderApp({ path: "/login" });
    await submit("doctor", "");
    expect(await screen.findByRole("alert")).toHaveTextContent("Enter your username and password.");
    expect(api.state.calls).toHaveLength(0);
  });
});
