import { useEffect, useRef, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import { useAuth } from "../auth/AuthContext";
import { rolesLabel } from "../auth/permissions";
import { isPortalUser, navFor } from "../nav";
import { Icon } from "./Icon";

function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter((p) => !/^(dr|mr|mrs|ms|mx)\.?$/i.test(p));
  const letters = parts.length > 1 ? [parts[0], parts[parts.length - 1]] : parts.slice(0, 1);
  return letters.map((p) => (p ?? "").charAt(0).toUpperCase()).join("") || "?";
}

export function SideNav() {
  const { permissions } = useAuth();
  const items = navFor(permissions);
  const portal = isPortalUser(permissions);
  return (
    <nav className="sidenav" aria-label="Main">
      <ul>
        {items.map((item) => (
          <li key={item.id}>
            <NavLink to={item.path} end={item.path === "/" || item.children !== undefined}>
              <Icon name={item.icon} />
              <span>{item.label}</span>
            </NavLink>
            {item.children && (
              <ul className="subnav" aria-label={`${item.label} sections`}>
                {item.children.map((child) => (
                  <li key={child.id}>
                    <NavLink to={child.path}>
                      <span>{child.label}</span>
                    </NavLink>
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ul>
      <p className="sidenav-foot">{portal ? "Patient portal" : "Staff workspace"}</p>
    </nav>
  );
}

export function AppShell() {
  const { user, logout } = useAuth();
  const [menuOpen, setMenuOpen] = useState(false);
  const [signingOut, setSigningOut] = useState(false);
  const location = useLocation();
  const toggleRef = useRef<HTMLButtonElement>(null);

  // Close the small-screen menu after navigating.
  useEffect(() => setMenuOpen(false), [location.pathname]);

  // Escape closes the menu and hands focus back to its button.
  useEffect(() => {
    if (!menuOpen) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") {
        setMenuOpen(false);
        toggleRef.current?.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [menuOpen]);

  if (user === null) return null;
  const onLogout = async () => {
    setSigningOut(true);
    try {
      await logout();
    } finally {
      setSigningOut(false);
    }
  };

  return (
    <div className={`shell${menuOpen ? " menu-open" : ""}`}>
      <a className="skip-link" href="#main">
        Skip to main content
      </a>
      <header className="topbar">
        <button
          ref={toggleRef}
          type="button"
          className="icon-button menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="sidebar"
          onClick={() => setMenuOpen((o) => !o)}
        >
          <Icon name={menuOpen ? "close" : "menu"} />
          <span className="visually-hidden">{menuOpen ? "Close menu" : "Open menu"}</span>
        </button>
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">
            <Icon name="cross" size={18} />
          </span>
          <span className="brand-name">Hospital Hub</span>
        </div>
        <div className="account">
          <span className="avatar" aria-hidden="true">
            {initials(user.full_name)}
          </span>
          <span className="account-text">
            <span className="account-name">{user.full_name}</span>
            <span className="account-role">{rolesLabel(user.roles)}</span>
          </span>
          <button type="button" className="button button-quiet" onClick={onLogout} disabled={signingOut}>
            <Icon name="logout" size={18} />
            <span>{signingOut ? "Signing out…" : "Log out"}</span>
          </button>
        </div>
      </header>
      <div className="body">
        <aside id="sidebar" className="sidebar">
          <SideNav />
        </aside>
        <div className="backdrop" aria-hidden="true" onClick={() => setMenuOpen(false)} />
        <main id="main" className="main" tabIndex={-1}>
          <Outlet />
        </main>
      </div>
    </div>
  );
}
