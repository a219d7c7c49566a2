import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { Icon } from "../components/Icon";
import { searchModeOf, searchPatients } from "./api";
import { ageOf, formatDate, sexLabel, sortableName } from "./format";
import { useDebouncedValue, useLoad } from "./hooks";
import { Pager } from "./Pager";

export const SEARCH_DEBOUNCE_MS = 300;
export const SEARCH_PAGE_SIZE = 25;
/** Shorter fragments match half the hospital, and every patient shown is an audited disclosure. */
export const MIN_SEARCH_CHARS = 2;

export function PatientSearchPage() {
  const { api, permissions } = useAuth();
  const [params, setParams] = useSearchParams();
  const [text, setText] = useState(params.get("q") ?? "");
  const birthDate = params.get("dob") ?? "";
  const offset = Math.max(0, Number(params.get("offset") ?? 0) || 0);
  const debounced = useDebouncedValue(text, SEARCH_DEBOUNCE_MS);
  const [submitted, setSubmitted] = useState<string | null>(null);
  const resultsRef = useRef<HTMLTableSectionElement>(null);

  // The settled text goes into the URL, so Back from a chart returns to the same results.
  const settled = (submitted ?? debounced).trim();
  useEffect(() => {
    const current = params.get("q") ?? "";
    if (settled === current.trim()) return;
    setParams(
      (p) => {
        const next = new URLSearchParams(p);
        if (settled) next.set("q", settled);
        else next.delete("q");
        next.delete("offset"); // a new search starts on its first page
        return next;
      },
      { replace: true },
    );
  }, [settled, params, setParams]);

  useEffect(() => setSubmitted(null), [debounced]);

  const query = (params.get("q") ?? "").trim();
  const tooShort = query.length > 0 && query.length < MIN_SEARCH_CHARS;
  const enabled = (query.length >= MIN_SEARCH_CHARS || birthDate !== "") && !tooShort;
  const result = useLoad(
    (signal) => searchPatients(api, { text: query, birthDate, limit: SEARCH_PAGE_SIZE, offset }, signal),
    [api, query, birthDate, offset],
    enabled,
  );

  const setParam = (key: string, value: string) =>
    setParams((p) => {
      const next = new URLSearchParams(p);
      if (value) next.set(key, value);
      else next.delete(key);
      if (key !== "offset") next.delete("offset");
      return next;
    });

  const onSearchKey = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === "Enter") {
      event.preventDefault();
      setSubmitted(text); // no need to wait for the debounce
    } else if (event.key === "ArrowDown") {
      const first = resultsRef.current?.querySelector<HTMLAnchorElement>("a");
      if (first) {
        event.preventDefault();
        first.focus();
      }
    } else if (event.key === "Escape" && text) {
      setText("");
    }
  };

  const onResultsKey = (event: KeyboardEvent<HTMLTableSectionElement>) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const links = [...(resultsRef.current?.querySelectorAll<HTMLAnchorElement>("a") ?? [])];
    const at = links.indexOf(document.activeElement as HTMLAnchorElement);
    if (at < 0) return;
    event.preventDefault();
    if (event.key === "ArrowUp" && at === 0) {
      document.getElementById("patient-search")?.focus();
      return;
    }
    links[Math.min(links.length - 1, Math.max(0, at + (event.key === "ArrowDown" ? 1 : -1)))]?.focus();
  };

  const mode = searchModeOf(text.trim());
  const data = result.data;
  let status: string;
  if (!enabled) status = tooShort ? `Type at least ${MIN_SEARCH_CHARS} characters.` : "";
  else if (result.status === "loading") status = "Searching…";
  else if (result.status === "error") status = "";
  else if (data && data.total === 0) status = "No patients match this search.";
  else if (data?.total_is_lower_bound) status = `${data.total}+ patients found.`;
  else if (data) status = `${data.total} patient${data.total === 1 ? "" : "s"} found.`;
  else status = "";

  return (
    <section className="page" aria-labelledby="patients-title">
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name="users" size={26} />
        </span>
        <div className="page-header-text">
          <h1 id="patients-title">Patients</h1>
          <p className="lead">Find a patient by name, MRN or identifier.</p>
        </div>
        {permissions.has("patients:write") && (
          <Link className="button button-primary page-header-action" to="/patients/new">
            Register patient
          </Link>
        )}
      </header>

      <form className="search-bar" role="search" onSubmit={(e) => e.preventDefault()}>
        <div className="field search-field">
          <label htmlFor="patient-search">Name, MRN or identifier</label>
          <input
            id="patient-search"
            type="search"
            value={text}
            autoFocus
            autoComplete="off"
            spellCheck={false}
            placeholder="e.g. godi, 00000018"
            aria-describedby="patient-search-hint"
            onChange={(e) => setText(e.target.value)}
            onKeyDown={onSearchKey}
          />
          <span id="patient-search-hint" className="hint">
            {text.trim()
              ? mode === "identifier"
                ? "Searching by MRN or identifier (exact)."
                : "Searching names (any part, accents ignored)."
              : "Names match from the start of any part; accents are ignored."}
          </span>
        </div>
        <div className="field">
          <label htmlFor="patient-dob">Birth date</label>
          <input
            id="patient-dob"
            type="date"
            value={birthDate}
            max={new Date().toISOString().slice(0, 10)}
            onChange={(e) => setParam("dob", e.target.value)}
          />
        </div>
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

      {!enabled && !tooShort && (
        <div className="empty">
          <p>Start typing a name (accents optional), an MRN or another identifier, or pick a birth date.</p>
        </div>
      )}

      {enabled && data && data.items.length > 0 && (
        <>
          <div className="table-wrap">
            <table className="data-table" aria-busy={result.status === "loading"}>
              <caption className="visually-hidden">Patients matching the search</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">MRN</th>
                  <th scope="col">Birth date</th>
                  <th scope="col">Sex</th>
                </tr>
              </thead>
              <tbody ref={resultsRef} onKeyDown={onResultsKey}>
                {data.items.map((p) => {
                  const age = ageOf(p.birth_date);
                  return (
                    <tr key={p.id}>
                      <td>
                        <Link to={`/patients/${p.id}`} className="row-link">
                          {sortableName(p)}
                        </Link>
                        {!p.active && <span className="tag">Inactive</span>}
                        {p.deceased && <span className="tag">Deceased</span>}
                      </td>
                      <td className="mono">{p.mrn}</td>
                      <td>
                        {formatDate(p.birth_date)}
                        {age && <span className="muted"> ({age})</span>}
                      </td>
                      <td>{sexLabel(p.gender)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <Pager
            label="Search results"
            total={data.total}
            totalIsLowerBound={data.total_is_lower_bound}
            limit={SEARCH_PAGE_SIZE}
            offset={offset}
            busy={result.status === "loading"}
            onChange={(o) => setParam("offset", o ? String(o) : "")}
          />
        </>
      )}
    </section>
  );
}
