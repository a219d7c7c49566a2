import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { Icon } from "../components/Icon";
import { useDebouncedValue, useLoad } from "../patients/hooks";
import { Pager } from "../patients/Pager";
import { listDepartments, searchStaff } from "./api";
import { todayIn } from "./dates";
import { LicenceBadge } from "./LicenceBadge";
import { licenceState } from "./licence";
import "./staff.css";

export const STAFF_PAGE_SIZE = 25;
const DEBOUNCE_MS = 300;

/** /staff/directory — everyone on the staff, by name and department, with their licence state. */
export function StaffDirectoryPage() {
  const { api } = useAuth();
  const [params, setParams] = useSearchParams();
  const [text, setText] = useState(params.get("q") ?? "");
  const debounced = useDebouncedValue(text, DEBOUNCE_MS);
  const departmentId = params.get("department") ?? "";
  const includeInactive = params.get("inactive") === "1";
  const offset = Math.max(0, Number(params.get("offset") ?? 0) || 0);
  const query = (params.get("q") ?? "").trim();

  const setParam = (key: string, value: string) =>
    setParams(
      (p) => {
        const next = new URLSearchParams(p);
        if (value) next.set(key, value);
        else next.delete(key);
        if (key !== "offset") next.delete("offset");
        return next;
      },
      { replace: key === "q" },
    );

  // The settled search text goes into the URL, so Back from a record returns to the same list.
  useEffect(() => {
    if (debounced.trim() !== query) setParam("q", debounced.trim());
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debounced]);

  const departments = useLoad((signal) => listDepartments(api, signal), [api]);
  const result = useLoad(
    (signal) =>
      searchStaff(api, { name: query, departmentId, includeInactive, limit: STAFF_PAGE_SIZE, offset }, signal),
    [api, query, departmentId, includeInactive, offset],
  );
  const deptName = new Map((departments.data ?? []).map((d) => [d.id, d.name]));
  const today = todayIn();
  const data = result.data;

  let status = "";
  if (result.status === "loading") status = "Searching…";
  else if (data && data.total === 0) status = "No staff members match.";
  else if (data) status = `${data.total} staff member${data.total === 1 ? "" : "s"}.`;

  return (
    <section className="page" aria-labelledby="staff-dir-title">
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name="badge" size={26} />
        </span>
        <div className="page-header-text">
          <h1 id="staff-dir-title">Staff directory</h1>
          <p className="lead">Find a colleague by name or department; licence problems are flagged.</p>
        </div>
      </header>

      <form className="search-bar staff-search" role="search" onSubmit={(e) => e.preventDefault()}>
        <div className="field search-field">
          <label htmlFor="staff-search">Name</label>
          <input
            id="staff-search"
            type="search"
            value={text}
            autoComplete="off"
            spellCheck={false}
            placeholder="e.g. okafor"
            aria-describedby="staff-search-hint"
            onChange={(e) => setText(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter") {
                e.preventDefault();
                setParam("q", text.trim());
              } else if (e.key === "Escape" && text) setText("");
            }}
          />
          <span id="staff-search-hint" className="hint">
            Any part of a name; accents are ignored.
          </span>
        </div>
        <div className="field">
          <label htmlFor="staff-department">Department</label>
          <select id="staff-department" value={departmentId} onChange={(e) => setParam("department", e.target.value)}>
            <option value="">All departments</option>
            {(departments.data ?? []).map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
                {d.active ? "" : " (closed)"}
              </option>
            ))}
          </select>
        </div>
        <label className="check staff-inactive">
          <input
            type="checkbox"
            checked={includeInactive}
            onChange={(e) => setParam("inactive", e.target.checked ? "1" : "")}
          />
          Include former staff
        </label>
      </form>

      <p className="search-status" role="status" aria-live="polite">
        {result.status === "loading" && <span className="spinner spinner-small" aria-hidden="true" />}
        {status}
      </p>
      {result.status === "error" && (
        <div className="form-error" role="alert">
          {describeError(result.error)}{" "}
          <button type="button" className="link-button" onClick={result.reload}>
            Try again
          </button>
        </div>
      )}

      {data && data.items.length > 0 && (
        <>
          <div className="table-wrap">
            <table className="data-table" aria-busy={result.status === "loading"}>
              <caption className="visually-hidden">Staff members</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Position</th>
                  <th scope="col">Department</th>
                  <th scope="col">Licence</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((s) => {
                  const state = licenceState(s.qualifications, today);
                  return (
                    <tr key={s.id}>
                      <td>
                        <Link to={`/staff/directory/${s.id}`} className="row-link">
                          {s.display_name}
                        </Link>
                        {!s.active && <span className="tag">Former staff</span>}
                        {s.clinical && <span className="tag">Clinical</span>}
                      </td>
                      <td>{s.position ?? <span className="muted">—</span>}</td>
                      <td>{(s.department_id && deptName.get(s.department_id)) || <span className="muted">—</span>}</td>
                      <td>
                        <LicenceBadge state={state} clinical={s.clinical} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <Pager
            label="Staff"
            total={data.total}
            limit={STAFF_PAGE_SIZE}
            offset={offset}
            busy={result.status === "loading"}
            onChange={(o) => setParam("offset", o ? String(o) : "")}
          />
        </>
      )}
    </section>
  );
}
