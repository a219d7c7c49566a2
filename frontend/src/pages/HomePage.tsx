import { Link } from "react-router";
import { useAuth } from "../auth/AuthContext";
import { rolesLabel } from "../auth/permissions";
import { Icon } from "../components/Icon";
import { isPortalUser, navFor } from "../nav";
import { MyHealth } from "../patients/ChartPage";

function greeting(hour: number): string {
  if (hour < 12) return "Good morning";
  if (hour < 18) return "Good afternoon";
  return "Good evening";
}

export function HomePage() {
  const { user, permissions } = useAuth();
  if (user === null) return null;
  const now = new Date();
  const portal = isPortalUser(permissions);
  const shortcuts = navFor(permissions).filter((item) => item.path !== "/");
  const today = now.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long" });

  return (
    <section className="page" aria-labelledby="home-title">
      <div className="hero">
        <p className="eyebrow">{today}</p>
        <h1 id="home-title">
          {greeting(now.getHours())}, {user.full_name}
        </h1>
        <p className="lead">
          Signed in as <strong className="role-pill">{rolesLabel(user.roles)}</strong>
          {portal ? " — here is everything about your care in one place." : " — here is what you can work on today."}
        </p>
      </div>

      {portal && (
        <div className="my-health">
          <h2 className="section-title">Your health record</h2>
          <MyHealth />
        </div>
      )}

      <h2 className="section-title">{portal ? "Your care" : "Your modules"}</h2>
      <ul className="card-grid">
        {shortcuts.map((item) => (
          <li key={item.id}>
            <Link className="card card-link" to={item.path}>
              <span className="card-icon" aria-hidden="true">
                <Icon name={item.icon} size={22} />
              </span>
              <span className="card-title">{item.label}</span>
              <span className="card-text">{item.summary}</span>
            </Link>
          </li>
        ))}
      </ul>
    </section>
  );
}
