// The browser's half of the token protocol: login, refresh (rotating), logout, and a `fetch` that
// carries the bearer token and recovers once from an expired one. Framework-free so it can be
// tested without React and shared with any future non-React entry point.
//
// Where the tokens live, and why:
// - The access token lives only in memory (this object). Scripts on the page can still reach it
//   while the tab is open, but it never lands in storage, it dies with the tab, and it is short-lived.
// - The refresh token lives in sessionStorage so a reload does not log the user out. Trade-off:
//   sessionStorage is readable by any script running on our origin, so an XSS bug could steal it;
//   an httpOnly SameSite cookie would not be, but the API contract returns the token in the JSON
//   body. We accept that for now because (1) refresh tokens rotate and a reused one revokes the
//   whole family server-side, so a stolen token stops working as soon as either party refreshes;
//   (2) sessionStorage is per tab and cleared when the tab closes — unlike localStorage, two tabs
//   never share (and race to rotate) one refresh token, which would trip reuse detection;
//   (3) nothing else is persisted. Moving to a cookie later changes only this file.
import createClient, { type Client } from "openapi-fetch";
import { ApiError, apiErrorFromResponse, networkError, toApiError } from "../api/errors";
import type { TokenPair, paths } from "../api/types";

export const REFRESH_TOKEN_KEY = "hospital-hub.refresh-token";

export type SessionEndReason = "logout" | "expired";

export interface SessionEvent {
  type: "ended";
  reason: SessionEndReason;
}

type KeyValueStore = Pick<Storage, "getItem" | "setItem" | "removeItem">;

export interface AuthSessionOptions {
  /** Origin of the API; "" (the default) means same origin as the page. */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Where the refresh token is kept; defaults to window.sessionStorage. `null` keeps it in memory. */
  storage?: KeyValueStore | null;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

class MemoryStore implements KeyValueStore {
  private readonly map = new Map<string, string>();
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, value);
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
}

function defaultStorage(): KeyValueStore {
  try {
    if (typeof window !== "undefined" && window.sessionStorage) return window.sessionStorage;
  } catch {
    // Storage can throw when disabled by policy; fall back to memory (no reload survival).
  }
  return new MemoryStore();
}

/** How long before expiry to refresh: a fifth of the lifetime, at most a minute. */
export function refreshLeadMs(expiresInSeconds: number): number {
  return Math.min(60_000, expiresInSeconds * 200);
}

export class AuthSession {
  /** Origin the API lives at ("" = same origin); the app's typed client uses the same. */
  readonly baseUrl: string;
  private readonly baseFetch: typeof fetch;
  private readonly raw: Client<paths>;
  private readonly store: KeyValueStore;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  private accessToken: string | null = null;
  private expiresAt = 0;
  private timer: unknown = null;
  private refreshInFlight: Promise<string> | null = null;
  private restoring: Promise<boolean> | null = null;
  /** Bumped on login/logout so a refresh that finishes after logout cannot resurrect the session. */
  private generation = 0;
  private readonly listeners = new Set<(event: SessionEvent) => void>();

  constructor(options: AuthSessionOptions = {}) {
    this.baseFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.store = options.storage === null ? new MemoryStore() : (options.storage ?? defaultStorage());
    this.now = options.now ?? (() => Date.now());
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = options.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
    this.baseUrl = options.baseUrl ?? "";
    this.raw = createClient<paths>({ baseUrl: this.baseUrl, fetch: this.baseFetch });
  }

  // ---- state -------------------------------------------------------------------------------

  get isAuthenticated(): boolean {
    return this.accessToken !== null;
  }

  /** True when a refresh token is stored (e.g. after a reload) even if no access token is held yet. */
  get canRestore(): boolean {
    return this.store.getItem(REFRESH_TOKEN_KEY) !== null;
  }

  subscribe(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- login / refresh / logout ------------------------------------------------------------

  async login(username: string, password: string): Promise<void> {
    const generation = ++this.generation;
    const result = await this.call(() =>
      this.raw.POST("/api/auth/token", {
        body: { username, password, scope: "" },
        bodySerializer: (body) => {
          const form = new URLSearchParams();
          for (const [k, v] of Object.entries(body)) if (v != null) form.set(k, String(v));
          return form;
        },
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      }),
    );
    if (generation === this.generation) this.apply(result);
  }

  /**
   * Exchange the stored refresh token for a new pair. Single-flight: while one refresh is on the
   * wire every caller shares it, because the server rotates refresh tokens and treats a second use
   * of the old one as theft (revoking the whole session family).
   */
  refresh(): Promise<string> {
    if (this.refreshInFlight === null) {
      this.refreshInFlight = this.doRefresh().finally(() => {
        this.refreshInFlight = null;
      });
    }
    return this.refreshInFlight;
  }

  /**
   * After a page load: turn a stored refresh token into an access token. Memoised so React's
   * StrictMode double-mount (or two components asking) cannot spend the same token twice.
   */
  restore(): Promise<boolean> {
    if (this.restoring === null) {
      this.restoring = (async () => {
        if (this.accessToken !== null) return true;
        if (!this.canRestore) return false;
        try {
          await this.refresh();
          return true;
        } catch {
          return false;
        }
      })();
    }
    return this.restoring;
  }

  async logout(): Promise<void> {
    const refreshToken = this.store.getItem(REFRESH_TOKEN_KEY);
    let token: string | null = null;
    try {
      token = await this.validAccessToken();
    } catch {
      token = null;
    }
    if (token !== null && refreshToken !== null) {
      try {
        await this.raw.POST("/api/auth/logout", {
          body: { refresh_token: refreshToken },
          headers: { Authorization: `Bearer ${token}` },
        });
      } catch {
        // Offline: the local session ends regardless; the server's tokens expire on their own.
      }
    }
    this.end("logout");
  }

  // ---- authenticated fetch -----------------------------------------------------------------

  /**
   * A drop-in `fetch` for API calls: adds the bearer token, refreshes ahead of a known expiry
   * (timers are throttled in background tabs), and on a 401 `token_expired` refreshes once and
   * retries once. Other 401s (invalid/revoked tokens) are returned to the caller untouched.
   */
  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    let token: string | null;
    try {
      token = await this.validAccessToken();
    } catch {
      token = this.accessToken;
    }
    const first = await this.baseFetch(this.withBearer(request.clone(), token));
    if (first.status !== 401 || token === null) return first;

    const code = await errorCodeOf(first);
    if (code !== "token_expired") return first;

    let fresh: string;
    if (this.accessToken !== null && this.accessToken !== token) {
      fresh = this.accessToken; // another caller already refreshed while we were on the wire
    } else {
      try {
        fresh = await this.refresh();
      } catch {
        return first;
      }
    }
    return this.baseFetch(this.withBearer(request, fresh));
  };

  // ---- internals ---------------------------------------------------------------------------

  private async validAccessToken(): Promise<string | null> {
    if (this.accessToken === null) return null;
    // Already (nearly) expired, e.g. the tab slept through the timer: refresh before the request.
    if (this.now() >= this.expiresAt - 5_000) return this.refresh();
    return this.accessToken;
  }

  private withBearer(request: Request, token: string | null): Request {
    if (token === null) return request;
    const headers = new Headers(request.headers);
    headers.set("Authorization", `Bearer ${token}`);
    return new Request(request, { headers });
  }

  private async doRefresh(): Promise<string> {
    const generation = this.generation;
    const refreshToken = this.store.getItem(REFRESH_TOKEN_KEY);
    if (refreshToken === null) {
      this.end("expired");
      throw new ApiError({ status: 401, code: "not_authenticated", message: "No session to refresh" });
    }
    let pair: TokenPair;
    try {
      pair = await this.call(() => this.raw.POST("/api/auth/refresh", { body: { refresh_token: refreshToken } }));
    } catch (err) {
      // 4xx: the token is expired, revoked or reused; the session is over. 5xx/network: keep it
      // and let the next request try again.
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && generation === this.generation) {
        this.end("expired");
      }
      throw err;
    }
    if (generation !== this.generation) {
      throw new ApiError({ status: 401, code: "not_authenticated", message: "Signed out during refresh" });
    }
    this.apply(pair);
    return pair.access_token;
  }

  /** Run an openapi-fetch call; return its data or throw an ApiError for any failure. */
  private async call<T>(
    send: () => Promise<{ data?: T; error?: unknown; response: Response }>,
  ): Promise<T> {
    let result: { data?: T; error?: unknown; response: Response };
    try {
      result = await send();
    } catch (err) {
      throw networkError(err);
    }
    if (result.response.ok && result.data !== undefined) return result.data;
    if (result.error !== undefined) throw toApiError(result.response.status, result.error, result.response.headers);
    throw await apiErrorFromResponse(result.response);
  }

  private apply(pair: TokenPair): void {
    this.accessToken = pair.access_token;
    // Rotation: the old refresh token is dead the moment this one is issued.
    this.store.setItem(REFRESH_TOKEN_KEY, pair.refresh_token);
    const lifetimeMs = pair.expires_in * 1000;
    this.expiresAt = this.now() + lifetimeMs;
    this.schedule(Math.max(0, lifetimeMs - refreshLeadMs(pair.expires_in)));
  }

  private schedule(delayMs: number): void {
    this.cancelTimer();
    this.timer = this.setTimer(() => {
      this.timer = null;
      this.refresh().catch((err: unknown) => {
        // Network trouble: try again shortly while the access token is still good.
        if (err instanceof ApiError && (err.status === 0 || err.status >= 500) && this.accessToken !== null) {
          const left = this.expiresAt - this.now();
          if (left > 0) this.schedule(Math.min(15_000, left / 2));
        }
      });
    }, delayMs);
  }

  private cancelTimer(): void {
    if (this.timer !== null) {
      this.clearTimer(this.timer);
      this.timer = null;
    }
  }

  private end(reason: SessionEndReason): void {
    const hadSession = this.accessToken !== null || this.store.getItem(REFRESH_TOKEN_KEY) !== null;
    this.generation++;
    this.cancelTimer();
    this.accessToken = null;
    this.expiresAt = 0;
    this.store.removeItem(REFRESH_TOKEN_KEY);
    this.restoring = null;
    if (hadSession || reason === "logout") {
      for (const listener of [...this.listeners]) listener({ type: "ended", reason });
    }
  }
}

async function errorCodeOf(response: Response): Promise<string | null> {
  try {
    const body: unknown = await response.clone().json();
    const err = (body as { error?: { code?: unknown } } | null)?.error;
    return typeof err?.code === "string" ? err.code : null;
  } catch {
    return null;
  }
}
