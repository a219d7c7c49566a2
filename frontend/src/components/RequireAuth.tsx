import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router";
import { useAuth } from "../auth/AuthContext";
import { navFor, type NavItem } from "../nav";

function Splash() {
  return (
    <div className="splash" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      Restoring your session…
    </div>
  );
}

/** Route guard: signed-out users go to /login and come back here afterwards. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const { status } = useAuth();
  const location = useLocation();
  if (status === "restoring") return <Splash />;
  if (status === "anonymous") {
    return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  }
  return <>{children}</>;
}

function visiblePaths(items: readonly NavItem[]): Set<string> {
  const paths = new Set<string>();
  for (const item of items) {
    paths.add(item.path);
    for (const child of item.children ?? []) paths.add(child.path);
  }
  return paths;
}

/** Page guard: a page is reachable exactly when the navigation would show it. */
export function RequirePage({ page, children }: { page: NavItem; children: ReactNode }) {
  const { permissions } = useAuth();
  if (!visiblePaths(navFor(permissions)).has(page.path)) {
    return (
      <section className="page" aria-labelledby="forbidden-title">
        <h1 id="forbidden-title">Not available</h1>
        <p className="lead">Your role does not give access to {page.label}. If you need it, ask an administrator.</p>
      </section>
    );
  }
  return <>{children}</>;
}
