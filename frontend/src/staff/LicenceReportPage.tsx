import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { Icon } from "../components/Icon";
import { useDebouncedValue, useLoad } from "../patients/hooks";
import { expiringLicences } from "./api";
import { shortDate } from "./dates";
import { daysLeftText, licenceTitle } from "./licence";
import "./staff.css";

export const DEFAULT_DAYS = 90;
const PRESETS = [30, 60, 90, 180];
const MAX_DAYS = 3650;

export function parseDays(value: string | null): number {
  if (value === null || value.trim() === "") return DEFAULT_DAYS;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= MAX_DAYS ? n : DEFAULT_DAYS;
}

/** /staff/licences — licences ending within N days, and clinicians whose licence has ended. */
export function LicenceReportPage() {
  const { api } = useAuth();
  const [params, setParams] = useSearchParams();
  const days = parseDays(params.get("days"));
  const [text, setText] = useState(String(days));
  const settled = useDebouncedValue(text, 400);
  const typed = Number(settled);
  const valid = settled.trim() !== "" && Number.isInteger(typed) && typed >= 0 && typed <= MAX_DAYS;
  const effective = valid ? typed : days;

  const setDays = (n: number, replace = false) => {
    setText(String(n));
    setParams(
      (p) => {
        const next = new URLSearchParams(p);
        next.set("days", String(n));
        return next;
      },
      { replace },
    );
  };

  // A settled, valid number goes into the URL (replacing, not stacking history entries).
  useEffect(() => {
    if (valid && typed !== days) setDays(typed, true);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [settled]);

  const report = useLoad((signal) => expiringLicences(api, effective, signal), [api, effective]);
  const data = report.data;
  const expired = data?.items.filter((i) => i.status === "expired").length ?? 0;

  return (
    <section className="page" aria-labelledby="licences-title">
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name="shield" size={26} />
        </span>
        <div className="page-header-text">
          <h1 id="licences-title">Expiring licences</h1>
          <p className="lead">Licences that end soon, and clinicians who can no longer be rostered or booked.</p>
        </div>
      </header>

      <form className="panel licence-filter" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="licence-days">Ending within (days)</label>
          <input
            id="licence-days"
            type="number"
            inputMode="numeric"
            min={0}
            max={MAX_DAYS}
            value={text}
            aria-invalid={!valid && settled === text ? true : undefined}
            aria-describedby="licence-days-hint"
            onChange={(e) => setText(e.target.value)}
          />
          <span id="licence-days-hint" className="hint">
            0 to {MAX_DAYS}.
          </span>
        </div>
        <div className="licence-presets" role="group" aria-label="Common ranges">
          {PRESETS.map((n) => (
            <button
              key={n}
              type="button"
              className="button button-quiet button-small"
              aria-pressed={effective === n}
              onClick={() => setDays(n)}
            >
              {n} days
            </button>
          ))}
        </div>
      </form>

      <p className="search-status" role="status" aria-live="polite">
        {report.status === "loading" && <span className="spinner spinner-small" aria-hidden="true" />}
        {report.status === "loading"
          ? "Loading…"
          : data
            ? data.items.length === 0
              ? `No licences end within ${data.days} days of ${shortDate(data.as_of)}.`
              : `${data.items.length} licence${data.items.length === 1 ? "" : "s"} as of ${shortDate(data.as_of)}` +
                (expired > 0 ? `, ${expired} already expired.` : ".")
            : ""}
      </p>
      {report.status === "error" && (
        <div className="form-error" role="alert">
          {describeError(report.error)}{" "}
          <button type="button" className="link-button" onClick={report.reload}>
            Try again
          </button>
        </div>
      )}

      {data && data.items.length > 0 && (
        <div className="table-wrap">
          <table className="data-table" aria-busy={report.status === "loading"}>
            <caption className="visually-hidden">Licences ending within {data.days} days</caption>
            <thead>
              <tr>
                <th scope="col">Staff member</th>
                <th scope="col">Department</th>
                <th scope="col">Licence</th>
                <th scope="col">Valid to</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((item) => (
                <tr key={item.licence.id}>
                  <td>
                    <Link to={`/staff/directory/${item.staff_id}`} className="row-link">
                      {item.display_name}
                    </Link>
                    {item.clinical && <span className="tag">Clinical</span>}
                  </td>
                  <td>{item.department_name ?? <span className="muted">—</span>}</td>
                  <td>
                    {licenceTitle(item.licence)}
                    {item.licence.issuer && <div className="muted small">{item.licence.issuer}</div>}
                  </td>
                  <td>{shortDate(item.licence.valid_to)}</td>
                  <td>
                    <span className={`licence-badge ${item.status === "expired" ? "licence-expired" : "licence-expiring"}`}>
                      {item.status === "expired" ? "⚠ " : ""}
                      {daysLeftText(item.days_left)}
                    </span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
