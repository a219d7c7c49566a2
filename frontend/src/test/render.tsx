import { render } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { AppRoutes } from "../App";
import { AuthProvider } from "../auth/AuthContext";
import { AuthSession } from "../auth/session";
import { BASE, fakeApi, makeMe, memoryStorage, type Route } from "./fakeApi";
import type { Me } from "../api/types";

/** Render the real routes over a fake API, signed in as `me` (or signed out). */
export async function renderApp(
  options: { me?: Me | null; path?: string; lockedFor?: number; routes?: Route; signedIn?: boolean } = {},
) {
  const me = options.me === undefined ? makeMe() : options.me;
  const api = fakeApi({
    users: me ? { [me.username]: { password: "hospital-demo", me } } : {},
    routes: options.routes,
  });
  api.state.lockedFor = options.lockedFor ?? 0;
  const session = new AuthSession({ baseUrl: BASE, fetch: api.fetch, storage: memoryStorage() });
  // Already signed in (skips the login form): the app restores the session as after a reload.
  if (options.signedIn && me) await session.login(me.username, "hospital-demo");
  const ui = render(
    <AuthProvider session={session}>
      <MemoryRouter initialEntries={[options.path ?? "/"]}>
        <AppRoutes />
      </MemoryRouter>
    </AuthProvider>,
  );
  return { ...ui, api, session };
}
