import { Link } from "react-router";
import { useAuth } from "../auth/AuthContext";
import { Icon } from "../components/Icon";
import { hasAny, type NavItem } from "../nav";

/** Placeholder for a module that has not landed yet: says what it will do. */
export function ModulePage({ page }: { page: NavItem }) {
  return (
    <section className="page" aria-labelledby={`${page.id}-title`}>
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name={page.icon} size={26} />
        </span>
        <div>
          <h1 id={`${page.id}-title`}>{page.label}</h1>
          <p className="lead">{page.summary}</p>
        </div>
      </header>
      <div className="placeholder">
        <p>
          <span className="badge">Coming soon</span> This module arrives with its own issue; the navigation and
          access rules are already in place.
        </p>
        {page.planned.length > 0 && (
          <>
            <h2 className="section-title">Planned</h2>
            <ul className="planned">
              {page.planned.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          </>
        )}
      </div>
    </section>
  );
}

/** A section with sub-pages (Admin): links to the ones this user may open. */
export function SectionIndex({ page }: { page: NavItem }) {
  const { permissions } = useAuth();
  const children = (page.children ?? []).filter((c) => hasAny(permissions, c.anyOf));
  return (
    <section className="page" aria-labelledby={`${page.id}-title`}>
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name={page.icon} size={26} />
        </span>
        <div>
          <h1 id={`${page.id}-title`}>{page.label}</h1>
          <p className="lead">{page.summary}</p>
        </div>
      </header>
      <ul className="card-grid">
        {children.map((child) => (
          <li key={child.id}>
            <Link className="card card-link" to={child.path}>
              <span className="card-icon" aria-hidden="true">
                <Icon name={child.icon} size={22} />
              </span>
              <span className="card-title">{child.label}</span>
              <span className="card-text">{child.summary}</span>
            </Link>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function NotFoundPage() {
  return (
    <section className="page" aria-labelledby="nf-title">
      <h1 id="nf-title">Page not found</h1>
      <p className="lead">
        There is nothing at this address. <Link to="/">Go to the home page</Link>.
      </p>
    </section>
  );
}
