import { useId, useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import type { ApiClient } from "../api/client";
import { ApiError, describeError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { useLoad } from "../patients/hooks";
import { sexLabel } from "../patients/format";
import { addPosition, getStaff, listDepartments, staffSchedule } from "./api";
import { CalendarFeedPanel } from "./CalendarFeedPanel";
import { addDays, dayLabel, daysBetween, rememberTimezone, shortDate, todayIn } from "./dates";
import { LicenceBadge } from "./LicenceBadge";
import { EXPIRING_WARN_DAYS, licencesOf, type LicenceState } from "./licence";
import { LicencesSection } from "./LicencesSection";
import { leaveLabel, shiftTimes, shiftTitle } from "./rota";
import type { Department, Position, StaffDetail } from "./types";
import "./staff.css";

const UPCOMING_DAYS = 14;

/** The record's licence state, from the server's reading of it (in the facility's zone). */
export function detailLicenceState(s: StaffDetail, today: string): LicenceState {
  const licences = licencesOf(s.qualifications);
  if (licences.length === 0) return { kind: "none" };
  if (!s.licence_valid_today) {
    const ended = licences.map((q) => q.valid_to).filter((d): d is string => !!d && d < today).sort();
    const last = ended[ended.length - 1] ?? null;
    return { kind: "expired", validTo: last, daysAgo: last ? daysBetween(last, today) : null };
  }
  if (!s.licence_valid_to) return { kind: "valid", validTo: null, daysLeft: null };
  const left = daysBetween(today, s.licence_valid_to);
  return left <= EXPIRING_WARN_DAYS
    ? { kind: "expiring", validTo: s.licence_valid_to, daysLeft: left }
    : { kind: "valid", validTo: s.licence_valid_to, daysLeft: left };
}

/** /staff/directory/:id */
export function StaffRecordPage() {
  const { id = "" } = useParams();
  const { api, permissions, user } = useAuth();
  const record = useLoad((signal) => getStaff(api, id, signal), [api, id]);
  const [message, setMessage] = useState("");
  const canWrite = permissions.has("staff:write");
  const today = todayIn();

  if (record.status === "error" && !record.data) {
    const missing = record.error instanceof ApiError && record.error.status === 404;
    return (
      <section className="page" aria-labelledby="staff-record-title">
        <p className="breadcrumb">
          <Link to="/staff/directory">← Staff directory</Link>
        </p>
        <h1 id="staff-record-title">{missing ? "Staff member not found" : "Could not load the record"}</h1>
        <div className="form-error" role="alert">
          {missing ? "There is no staff record at this address." : describeError(record.error)}{" "}
          {!missing && (
            <button type="button" className="link-button" onClick={record.reload}>
              Try again
            </button>
          )}
        </div>
      </section>
    );
  }
  const s = record.data;
  if (!s || s.id !== id) {
    return (
      <section className="page">
        <p className="page-loading" role="status">
          <span className="spinner" aria-hidden="true" /> Loading the staff record…
        </p>
      </section>
    );
  }
  const own = !!user && s.user_id === user.id;
  const changed = (text: string) => {
    setMessage(text);
    record.reload();
  };

  return (
    <section className="page staff-record" aria-labelledby="staff-record-title">
      <p className="breadcrumb">
        <Link to="/staff/directory">← Staff directory</Link>
      </p>
      <header className="record-header">
        <h1 id="staff-record-title" className="record-name">
          {s.display_name}
        </h1>
        <p className="record-sub">
          {[s.position, s.department?.name].filter(Boolean).join(" · ") || <span className="muted">No current post</span>}
        </p>
        <p className="record-tags">
          {!s.active && <span className="tag tag-danger">Former staff</span>}
          {s.clinical && <span className="tag">Clinical</span>}
          {own && <span className="tag">You</span>}
          <LicenceBadge state={detailLicenceState(s, today)} clinical={s.clinical} />
        </p>
      </header>
      <p className="search-status" role="status" aria-live="polite">
        {message}
      </p>

      <section className="record-section" aria-labelledby="details-heading">
        <h2 id="details-heading">Details</h2>
        <dl className="facts-grid">
          <div>
            <dt>Gender</dt>
            <dd>{sexLabel(s.gender)}</dd>
          </div>
          <div>
            <dt>Birth date</dt>
            <dd>{shortDate(s.birth_date)}</dd>
          </div>
          <div>
            <dt>Contact</dt>
            <dd>
              {s.telecoms.length === 0 ? (
                <span className="muted">—</span>
              ) : (
                s.telecoms.map((t) => (
                  <div key={`${t.system}-${t.value}`}>
                    {t.system === "email" ? <a href={`mailto:${t.value}`}>{t.value}</a> : t.value}
                    {t.use && <span className="muted"> ({t.use})</span>}
                  </div>
                ))
              )}
            </dd>
          </div>
          <div>
            <dt>Identifiers</dt>
            <dd>
              {s.identifiers.length === 0 ? (
                <span className="muted">—</span>
              ) : (
                s.identifiers.map((i) => (
                  <div key={`${i.system}|${i.value}`}>
                    <span className="mono">{i.value}</span> <span className="code">{i.system}</span>
                  </div>
                ))
              )}
            </dd>
          </div>
          <div>
            <dt>Sign-in account</dt>
            <dd>{s.user_id ? "Linked" : <span className="muted">None</span>}</dd>
          </div>
        </dl>
      </section>

      <PositionsSection api={api} staffId={s.id} positions={s.positions} canWrite={canWrite} onChanged={changed} />

      <LicencesSection
        api={api}
        staffId={s.id}
        qualifications={s.qualifications}
        today={today}
        canWrite={canWrite}
        onChanged={changed}
      />

      <UpcomingSection api={api} staffId={s.id} />

      {(canWrite || own) && <CalendarFeedPanel api={api} staffId={s.id} own={own} />}
    </section>
  );
}

function PositionsSection({
  api,
  staffId,
  positions,
  canWrite,
  onChanged,
}: {
  api: ApiClient;
  staffId: string;
  positions: readonly Position[];
  canWrite: boolean;
  onChanged: (message: string) => void;
}) {
  const [adding, setAdding] = useState(false);
  return (
    <section className="record-section" aria-labelledby="history-heading">
      <div className="record-section-head">
        <h2 id="history-heading">Employment history</h2>
        {canWrite && !adding && (
          <button type="button" className="button button-quiet button-small" onClick={() => setAdding(true)}>
            Add post…
          </button>
        )}
      </div>
      {positions.length === 0 ? (
        <p className="muted">No posts on record.</p>
      ) : (
        <div className="table-wrap">
          <table className="data-table">
            <caption className="visually-hidden">Posts held</caption>
            <thead>
              <tr>
                <th scope="col">Post</th>
                <th scope="col">Department</th>
                <th scope="col">From</th>
                <th scope="col">To</th>
              </tr>
            </thead>
            <tbody>
              {positions.map((p) => (
                <tr key={p.id}>
                  <td>
                    {p.title}
                    {p.current && <span className="tag">Current</span>}
                  </td>
                  <td>{p.department_name ?? <span className="muted">—</span>}</td>
                  <td>{shortDate(p.start_date)}</td>
                  <td>{p.end_date ? shortDate(p.end_date) : <span className="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {adding && (
        <PositionForm
          api={api}
          staffId={staffId}
          hasOpen={positions.some((p) => !p.end_date)}
          onCancel={() => setAdding(false)}
          onSaved={(p) => {
            setAdding(false);
            onChanged(`Added the post ${p.title}.`);
          }}
        />
      )}
    </section>
  );
}

function PositionForm({
  api,
  staffId,
  hasOpen,
  onSaved,
  onCancel,
}: {
  api: ApiClient;
  staffId: string;
  hasOpen: boolean;
  onSaved: (p: Position) => void;
  onCancel: () => void;
}) {
  const id = useId();
  const departments = useLoad((signal) => listDepartments(api, signal), [api]);
  const [title, setTitle] = useState("");
  const [departmentId, setDepartmentId] = useState("");
  const [start, setStart] = useState(todayIn());
  const [end, setEnd] = useState("");
  const [endPrevious, setEndPrevious] = useState(hasOpen);
  const [errors, setErrors] = useState<{ title?: string; start?: string; end?: string }>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const errs: typeof errors = {};
    if (!title.trim()) errs.title = "Give the post's title.";
    if (!start) errs.start = "Give the first day.";
    if (end && start && end < start) errs.end = "Ends before it starts.";
    setErrors(errs);
    const first = Object.keys(errs)[0];
    if (first) {
      document.getElementById(`${id}-${first}`)?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const saved = await addPosition(api, staffId, {
        title: title.trim(),
        department_id: departmentId || null,
        start_date: start,
        end_date: end || null,
        end_previous: endPrevious,
      });
      onSaved(saved);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const active: Department[] = (departments.data ?? []).filter((d) => d.active);
  const err = (key: keyof typeof errors) =>
    errors[key] ? (
      <span className="field-error" id={`${id}-${key}-error`}>
        {errors[key]}
      </span>
    ) : null;
  const aria = (key: keyof typeof errors) =>
    errors[key] ? { "aria-invalid": true as const, "aria-describedby": `${id}-${key}-error` } : {};
  return (
    <form className="panel" onSubmit={submit} noValidate aria-labelledby={`${id}-heading`}>
      <h3 id={`${id}-heading`} className="panel-title">
        Add a post
      </h3>
      <div className="form-grid">
        <div className="field">
          <label htmlFor={`${id}-title`}>Post</label>
          <input id={`${id}-title`} value={title} maxLength={200} autoFocus onChange={(e) => setTitle(e.target.value)} {...aria("title")} />
          {err("title")}
        </div>
        <div className="field">
          <label htmlFor={`${id}-department`}>Department</label>
          <select id={`${id}-department`} value={departmentId} onChange={(e) => setDepartmentId(e.target.value)}>
            <option value="">None</option>
            {active.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-start`}>From</label>
          <input id={`${id}-start`} type="date" value={start} onChange={(e) => setStart(e.target.value)} {...aria("start")} />
          {err("start")}
        </div>
        <div className="field">
          <label htmlFor={`${id}-end`}>To (optional)</label>
          <input id={`${id}-end`} type="date" value={end} min={start || undefined} onChange={(e) => setEnd(e.target.value)} {...aria("end")} />
          {err("end")}
        </div>
      </div>
      {hasOpen && (
        <label className="check">
          <input type="checkbox" checked={endPrevious} onChange={(e) => setEndPrevious(e.target.checked)} />
          This replaces the current post (end it the day before)
        </label>
      )}
      {error && (
        <div className="form-error" role="alert">
          {error}
        </div>
      )}
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? "Saving…" : "Add post"}
        </button>
        <button type="button" className="button button-quiet" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** The next two weeks of shifts and leave, in the facility's zone. */
function UpcomingSection({ api, staffId }: { api: ApiClient; staffId: string }) {
  const start = todayIn();
  const end = addDays(start, UPCOMING_DAYS - 1);
  const schedule = useLoad((signal) => staffSchedule(api, staffId, start, end, signal), [api, staffId, start]);
  const data = schedule.data;
  rememberTimezone(data?.timezone);
  return (
    <section className="record-section" aria-labelledby="upcoming-heading">
      <h2 id="upcoming-heading">Next two weeks</h2>
      {schedule.status === "error" && (
        <div className="form-error" role="alert">
          {describeError(schedule.error)}
        </div>
      )}
      {data && data.shifts.length === 0 && data.leave.length === 0 && <p className="muted">No shifts or leave.</p>}
      {data && (data.shifts.length > 0 || data.leave.length > 0) && (
        <ul className="plain-list upcoming-list">
          {data.leave.map((lv) => (
            <li key={lv.id}>
              <span className="rota-leave">{leaveLabel(lv.kind)}</span>{" "}
              {lv.start_date === lv.end_date ? dayLabel(lv.start_date) : `${dayLabel(lv.start_date)} – ${dayLabel(lv.end_date)}`}
            </li>
          ))}
          {data.shifts.map((sh) => (
            <li key={sh.id}>
              <strong>{dayLabel(sh.date)}</strong> · {shiftTitle(sh)} {shiftTimes(sh)}
              {sh.department_name && <span className="muted"> · {sh.department_name}</span>}
            </li>
          ))}
        </ul>
      )}
      {data && <p className="hint">Times in {data.timezone.replace(/_/g, " ")}.</p>}
    </section>
  );
}
