// An in-memory stand-in for the auth endpoints, faithful to the contract: rotating refresh tokens,
// reuse detection, the error shape, and `token_expired` for stale access tokens.
import type { Me } from "../api/types";

export const BASE = "http://hub.test";

export interface FakeApiOptions {
  expiresIn?: number;
  users?: Record<string, { password: string; me: Me }>;
  /** Artificial latency for /api/auth/refresh, so concurrent callers really overlap. */
  refreshDelayMs?: number;
  /** Other endpoints (authenticated requests only); answer null to fall through to a 404. */
  routes?: Route;
}

export type Route = (req: Request, url: URL, username: string) => Response | null | Promise<Response | null>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function err(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  return json(status, { error: { code, message, details: null } }, headers);
}

export function makeMe(overrides: Partial<Me> = {}): Me {
  return {
    id: "00000000-0000-4000-8000-000000000001",
    username: "doctor",
    email: "doctor@example.org",
    full_name: "Dr. Grace Hopper",
    roles: ["doctor"],
    permissions: ["patients:read", "clinical:read", "appointments:read", "telehealth:join"],
    patient_id: null,
    ...overrides,
  };
}

export function fakeApi(options: FakeApiOptions = {}) {
  const expiresIn = options.expiresIn ?? 900;
  const users = options.users ?? { doctor: { password: "hospital-demo", me: makeMe() } };
  let counter = 0;
  const liveAccess = new Map<string, string>(); // token -> username
  const liveRefresh = new Map<string, string>();
  const usedRefresh = new Set<string>();
  const state = {
    calls: [] as { method: string; path: string; auth: string | null }[],
    refreshCalls: 0,
    familyRevoked: false,
    lockedFor: 0,
    /** Mark every access token issued so far as expired. */
    expireAccessTokens() {
      for (const t of [...liveAccess.keys()]) expired.add(t);
    },
    liveAccess,
  };
  const expired = new Set<string>();

  function issue(username: string) {
    counter += 1;
    const access = `access-${counter}`;
    const refresh = `refresh-${counter}`;
    liveAccess.set(access, username);
    liveRefresh.set(refresh, username);
    return { access_token: access, refresh_token: refresh, token_type: "bearer", expires_in: expiresIn };
  }

  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = new Request(input, init);
    const url = new URL(req.url);
    const auth = req.headers.get("Authorization");
    state.calls.push({ method: req.method, path: url.pathname, auth });
    const bearer = auth?.startsWith("Bearer ") ? auth.slice(7) : null;

    if (req.method === "POST" && url.pathname === "/api/auth/token") {
      if (state.lockedFor > 0) {
        return err(429, "too_many_requests", "Too many failed login attempts", {
          "Retry-After": String(state.lockedFor),
        });
      }
      const form = new URLSearchParams(await req.text());
      const user = users[form.get("username") ?? ""];
      if (!user || user.password !== form.get("password")) {
        return err(401, "invalid_credentials", "Incorrect username or password");
      }
      return json(200, issue(form.get("username") ?? ""));
    }
    if (req.method === "POST" && url.pathname === "/api/auth/refresh") {
      state.refreshCalls += 1;
      const body = (await req.json()) as { refresh_token: string };
      if (options.refreshDelayMs) await new Promise((r) => setTimeout(r, options.refreshDelayMs));
      if (usedRefresh.has(body.refresh_token)) {
        state.familyRevoked = true;
        liveRefresh.clear();
        liveAccess.clear();
        return err(401, "invalid_token", "Refresh token reuse detected; session revoked");
      }
      const username = liveRefresh.get(body.refresh_token);
      if (!username) return err(401, "invalid_token", "Unknown refresh token");
      liveRefresh.delete(body.refresh_token);
      usedRefresh.add(body.refresh_token);
      return json(200, issue(username));
    }
    if (req.method === "POST" && url.pathname === "/api/auth/logout") {
      if (!bearer || !liveAccess.has(bearer)) return err(401, "invalid_token", "Invalid token");
      liveRefresh.clear();
      liveAccess.delete(bearer);
      return new Response(null, { status: 204 });
    }
    if (req.method === "GET" && url.pathname === "/api/auth/me") {
      if (!bearer) return err(401, "not_authenticated", "Authentication required");
      if (expired.has(bearer)) return err(401, "token_expired", "Access token expired");
      const username = liveAccess.get(bearer);
      if (!username) return err(401, "invalid_token", "Invalid token");
      return json(200, users[username]?.me);
    }
    if (options.routes && url.pathname.startsWith("/api/")) {
      if (!bearer) return err(401, "not_authenticated", "Authentication required");
      const username = liveAccess.get(bearer);
      if (!username) return err(401, "invalid_token", "Invalid token");
      const answer = await options.routes(req, url, username);
      if (answer) return answer;
    }
    return err(404, "not_found", "Not found");
  };

  return { fetch, state };
}

/** A sessionStorage double that lets a test look inside. */
export function memoryStorage() {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k: string) => map.get(k) ?? null,
    setItem: (k: string, v: string) => void map.set(k, v),
    removeItem: (k: string) => void map.delete(k),
  };
}
