import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { createApiClient, fetchMe, type ApiClient } from "../api/client";
import type { Me } from "../api/types";
import type { AuthSession } from "./session";

export type AuthStatus = "restoring" | "anonymous" | "authenticated";

export interface AuthState {
  status: AuthStatus;
  user: Me | null;
  permissions: ReadonlySet<string>;
  /** A one-line message for the login page, e.g. why the user was signed out. */
  notice: string | null;
  api: ApiClient;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

const EMPTY: ReadonlySet<string> = new Set();

export function AuthProvider({ session, children }: { session: AuthSession; children: ReactNode }) {
  const api = useMemo(() => createApiClient(session), [session]);
  const [status, setStatus] = useState<AuthStatus>(session.canRestore ? "restoring" : "anonymous");
  const [user, setUser] = useState<Me | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    return session.subscribe((event) => {
      setUser(null);
      setStatus("anonymous");
      setNotice(
        event.reason === "logout" ? "You have signed out." : "Your session has ended. Please sign in again.",
      );
    });
  }, [session]);

  useEffect(() => {
    let cancelled = false;
    session
      .restore()
      .then(async (restored) => {
        if (!restored) {
          if (!cancelled) setStatus((s) => (s === "restoring" ? "anonymous" : s));
          return;
        }
        const me = await fetchMe(api);
        if (!cancelled) {
          setUser(me);
          setStatus("authenticated");
        }
      })
      .catch(() => {
        if (!cancelled) setStatus("anonymous");
      });
    return () => {
      cancelled = true;
    };
  }, [session, api]);

  const login = useCallback(
    async (username: string, password: string) => {
      await session.login(username, password);
      const me = await fetchMe(api);
      setUser(me);
      setNotice(null);
      setStatus("authenticated");
    },
    [session, api],
  );

  const logout = useCallback(async () => {
    await session.logout();
  }, [session]);

  const permissions = useMemo(() => (user ? new Set(user.permissions) : EMPTY), [user]);

  const value = useMemo<AuthState>(
    () => ({ status, user, permissions, notice, api, login, logout }),
    [status, user, permissions, notice, api, login, logout],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (ctx === null) throw new Error("useAuth() outside <AuthProvider>");
  return ctx;
}
