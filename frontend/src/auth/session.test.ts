import { afterEach, describe, expect, it, vi } from "vitest";
import { createApiClient, fetchMe } from "../api/client";
import { ApiError } from "../api/errors";
import { BASE, fakeApi, memoryStorage } from "../test/fakeApi";
import { AuthSession, REFRESH_TOKEN_KEY, refreshLeadMs } from "./session";

function setup(opts: Parameters<typeof fakeApi>[0] = {}) {
  const api = fakeApi(opts);
  const storage = memoryStorage();
  const session = new AuthSession({ baseUrl: BASE, fetch: api.fetch, storage });
  const client = createApiClient(session, BASE);
  return { api, storage, session, client };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("AuthSession login", () => {
  it("keeps the access token in memory and only the refresh token in storage", async () => {
    const { session, storage, client, api } = setup();
    await session.login("doctor", "hospital-demo");
    expect(session.isAuthenticated).toBe(true);
    expect([...storage.map.entries()]).toEqual([[REFRESH_TOKEN_KEY, "refresh-1"]]);
    const me = await fetchMe(client);
    expect(me.full_name).toBe("Dr. Grace Hopper");
    expect(api.state.calls.at(-1)?.auth).toBe("Bearer access-1");
  });

  it("sends the OAuth2 password form", async () => {
    const seen: string[] = [];
    const { fetch } = fakeApi();
    const session = new AuthSession({
      baseUrl: BASE,
      storage: memoryStorage(),
      fetch: async (input, init) => {
        const req = new Request(input, init);
        seen.push(req.headers.get("Content-Type") ?? "", await req.clone().text());
        return fetch(req);
      },
    });
    await session.login("doctor", "hospital-demo");
    expect(seen[0]).toContain("application/x-www-form-urlencoded");
    expect(new URLSearchParams(seen[1]).get("username")).toBe("doctor");
    expect(new URLSearchParams(seen[1]).get("password")).toBe("hospital-demo");
  });

  it("throws the API's error code for bad credentials", async () => {
    const { session } = setup();
    const error = await session.login("doctor", "wrong").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("invalid_credentials");
    expect((error as ApiError).status).toBe(401);
    expect(session.isAuthenticated).toBe(false);
  });
});

describe("refresh on 401 token_expired", () => {
  it("refreshes once for many concurrent 401s and retries each request (single-flight)", async () => {
    const { session, client, api, storage } = setup({ refreshDelayMs: 20 });
    await session.login("doctor", "hospital-demo");
    api.state.expireAccessTokens();

    const results = await Promise.all([fetchMe(client), fetchMe(client), fetchMe(client), fetchMe(client)]);

    expect(results.map((m) => m.username)).toEqual(["doctor", "doctor", "doctor", "doctor"]);
    expect(api.state.refreshCalls).toBe(1);
    expect(api.state.familyRevoked).toBe(false);
    // The rotated refresh token replaced the old one.
    expect(storage.getItem(REFRESH_TOKEN_KEY)).toBe("refresh-2");
    const retried = api.state.calls.filter((c) => c.path === "/api/auth/me" && c.auth === "Bearer access-2");
    expect(retried).toHaveLength(4);
  });

  it("retries only once: a second 401 goes back to the caller", async () => {
    const { session, client, api } = setup();
    await session.login("doctor", "hospital-demo");
    api.state.expireAccessTokens();
    // Every token the server issues from now on is already expired too.
    const originalSet = api.state.liveAccess.set.bind(api.state.liveAccess);
    api.state.liveAccess.set = (k: string, v: string) => {
      const r = originalSet(k, v);
      api.state.expireAccessTokens();
      return r;
    };
    const error = await fetchMe(client).catch((e: unknown) => e);
    expect((error as ApiError).code).toBe("token_expired");
    expect(api.state.refreshCalls).toBe(1);
    expect(api.state.calls.filter((c) => c.path === "/api/auth/me")).toHaveLength(2);
  });

  it("does not refresh on other 401 codes", async () => {
    const { session, client, api } = setup();
    await session.login("doctor", "hospital-demo");
    api.state.liveAccess.clear(); // server forgot the token: invalid_token, not expiry
    const error = await fetchMe(client).catch((e: unknown) => e);
    expect((error as ApiError).code).toBe("invalid_token");
    expect(api.state.refreshCalls).toBe(0);
  });

  it("ends the session when the refresh token is rejected", async () => {
    const { session, client, api, storage } = setup();
    await session.login("doctor", "hospital-demo");
    const ended = vi.fn();
    session.subscribe(ended);
    api.state.expireAccessTokens();
    storage.setItem(REFRESH_TOKEN_KEY, "refresh-stolen-and-unknown");

    const error = await fetchMe(client).catch((e: unknown) => e);

    expect((error as ApiError).status).toBe(401);
    expect(ended).toHaveBeenCalledWith({ type: "ended", reason: "expired" });
    expect(session.isAuthenticated).toBe(false);
    expect(storage.getItem(REFRESH_TOKEN_KEY)).toBeNull();
  });
});

describe("restore after reload", () => {
  it("spends the stored refresh token once even when asked twice (StrictMode)", async () => {
    const first = setup();
    await first.session.login("doctor", "hospital-demo");
    // A "reload": a new session object over the same storage and server.
    const session = new AuthSession({ baseUrl: BASE, fetch: first.api.fetch, storage: first.storage });
    const [a, b] = await Promise.all([session.restore(), session.restore()]);
    expect([a, b]).toEqual([true, true]);
    expect(first.api.state.refreshCalls).toBe(1);
    expect(first.api.state.familyRevoked).toBe(false);
    expect(session.isAuthenticated).toBe(true);
  });

  it("reports false with nothing stored, without calling the API", async () => {
    const { session, api } = setup();
    expect(await session.restore()).toBe(false);
    expect(api.state.calls).toHaveLength(0);
  });
});

describe("automatic refresh before expiry", () => {
  it("refreshes ahead of expiry on a timer and keeps using the new token", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const { session, client, api, storage } = setup({ expiresIn: 300 });
    await session.login("doctor", "hospital-demo");
    expect(api.state.refreshCalls).toBe(0);

    await vi.advanceTimersByTimeAsync(300_000 - refreshLeadMs(300) - 1_000);
    expect(api.state.refreshCalls).toBe(0);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(api.state.refreshCalls).toBe(1);
    expect(storage.getItem(REFRESH_TOKEN_KEY)).toBe("refresh-2");

    await fetchMe(client);
    expect(api.state.calls.at(-1)?.auth).toBe("Bearer access-2");
  });

  it("refreshes before sending when the token already expired (e.g. a sleeping tab)", async () => {
    let now = 1_000_000;
    const api = fakeApi({ expiresIn: 60 });
    const session = new AuthSession({
      baseUrl: BASE,
      fetch: api.fetch,
      storage: memoryStorage(),
      now: () => now,
      setTimer: () => 0, // timers never fire
      clearTimer: () => undefined,
    });
    await session.login("doctor", "hospital-demo");
    now += 61_000;
    await fetchMe(createApiClient(session, BASE));
    expect(api.state.refreshCalls).toBe(1);
    expect(api.state.calls.filter((c) => c.path === "/api/auth/me").map((c) => c.auth)).toEqual([
      "Bearer access-2",
    ]);
  });
});

describe("logout", () => {
  it("calls the API with bearer and refresh token, then clears everything", async () => {
    const { session, api, storage } = setup();
    await session.login("doctor", "hospital-demo");
    const ended = vi.fn();
    session.subscribe(ended);
    await session.logout();
    const call = api.state.calls.at(-1);
    expect(call).toEqual({ method: "POST", path: "/api/auth/logout", auth: "Bearer access-1" });
    expect(session.isAuthenticated).toBe(false);
    expect(storage.getItem(REFRESH_TOKEN_KEY)).toBeNull();
    expect(ended).toHaveBeenCalledWith({ type: "ended", reason: "logout" });
  });

  it("still signs out locally when the network is down", async () => {
    const { session, storage } = setup();
    await session.login("doctor", "hospital-demo");
    // Swap in a dead network for the logout call.
    (session as unknown as { raw: { POST: () => Promise<never> } }).raw.POST = () =>
      Promise.reject(new TypeError("Failed to fetch"));
    await session.logout();
    expect(session.isAuthenticated).toBe(false);
    expect(storage.getItem(REFRESH_TOKEN_KEY)).toBeNull();
  });
});
