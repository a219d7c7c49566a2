import { useEffect, useMemo, useRef, useState } from "react";
import { useSearchParams } from "react-router";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { Icon } from "../components/Icon";
import { useLoad } from "../patients/hooks";
import {
  checkNewShift,
  checkShiftChange,
  createShift,
  deleteLeave,
  deleteShift,
  getRota,
  listDefinitions,
  listDepartments,
  saveWeek,
  updateShift,
} from "./api";
import { addDays, dayLabel, facilityTimezone, isIsoDay, mondayOf, rememberTimezone, todayIn, weekDays, weekLabel } from "./dates";
import {
  appointmentsCount,
  buildGrid,
  checkedViolations,
  copyWeek,
  shiftCount,
  shiftTimes,
  shiftTitle,
  strandedInWarnings,
  violationTitle,
  violationsOf,
  warningText,
  warningsFor,
  weekProblemsOf,
  type Violation,
  type WeekItemProblem,
} from "./rota";
import { RotaGrid, type DragPayload } from "./RotaGrid";
import { AssignShiftForm, EMPTY_ASSIGN, LeaveDetails, LeaveForm, ShiftEditor, definitionLabel, type AssignValues } from "./RotaForms";
import type { Leave, RotaShift, RotaWarning, Shift, ShiftCheck, ShiftDefinition } from "./types";
import { ViolationList, WarningList } from "./Violations";
import "./staff.css";

type Source = "form" | "grid" | "editor";

const DEPARTMENT_KEY = "hospital-hub.rota.department";

/** The department last opened in this tab, so the sidebar's Rota link returns to it. */
function readDepartment(): string | null {
  try {
    return window.sessionStorage.getItem(DEPARTMENT_KEY);
  } catch {
    return null;
  }
}

function storeDepartment(id: string): void {
  try {
    window.sessionStorage.setItem(DEPARTMENT_KEY, id);
  } catch {
    // private mode or storage full: the URL still carries the choice
  }
}

interface Problem {
  source: Source;
  staffId: string;
  day: string;
  what: string;
  violations: Violation[] | null;
  message: string | null;
}

type Selection = { kind: "shift"; shift: Shift } | { kind: "leave"; leave: Leave } | null;

type CopyState =
  | { step: "idle" }
  | { step: "confirm"; shifts: RotaShift[]; existing: number }
  | { step: "failed"; problems: WeekItemProblem[] | null; message: string | null };

/** /staff/rota — a department's week: who works which shift, who is away, and the rules. */
export function RotaPage() {
  const { api, permissions } = useAuth();
  const canWrite = permissions.has("staff:rota");
  const [params, setParams] = useSearchParams();
  const [timezone, setTimezone] = useState(facilityTimezone);
  const today = todayIn(timezone);
  const weekParam = params.get("week");
  const monday = mondayOf(isIsoDay(weekParam) ? weekParam : today);
  const days = useMemo(() => weekDays(monday), [monday]);

  const departments = useLoad((signal) => listDepartments(api, signal), [api]);
  const activeDepartments = (departments.data ?? []).filter((d) => d.active);
  const remembered = readDepartment();
  const departmentId =
    params.get("department") ||
    activeDepartments.find((d) => d.id === remembered)?.id ||
    activeDepartments[0]?.id ||
    "";
  const department = departments.data?.find((d) => d.id === departmentId);

  const rota = useLoad(
    (signal) => getRota(api, departmentId, monday, addDays(monday, 6), signal),
    [api, departmentId, monday],
    departmentId !== "",
  );
  const definitions = useLoad((signal) => listDefinitions(api, signal), [api], canWrite);
  const defs: ShiftDefinition[] = definitions.data ?? [];

  // The rota names the facility's zone; "today" and every time shown follow it.
  const rotaTz = rota.data?.timezone;
  useEffect(() => {
    rememberTimezone(rotaTz);
    if (rotaTz && rotaTz !== timezone) setTimezone(rotaTz);
  }, [rotaTz, timezone]);

  const current = rota.data && rota.data.department.id === departmentId && rota.data.start === monday ? rota.data : null;
  const grid = useMemo(() => (current ? buildGrid(current) : null), [current]);
  const people = current?.staff ?? [];
  const names = useMemo(() => new Map(people.map((p) => [p.id, p.display_name])), [people]);

  const [assign, setAssign] = useState<AssignValues>(EMPTY_ASSIGN);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [status, setStatus] = useState<string>("");
  const [opWarnings, setOpWarnings] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [selection, setSelection] = useState<Selection>(null);
  const [selectionError, setSelectionError] = useState<string | null>(null);
  const [copy, setCopy] = useState<CopyState>({ step: "idle" });
  const dragging = useRef<DragPayload | null>(null);
  const assignFirstField = useRef<HTMLSelectElement>(null);
  const assignShiftField = useRef<HTMLSelectElement>(null);
  const editorHeading = useRef<HTMLHeadingElement>(null);
  const gridProblemRef = useRef<HTMLDivElement>(null);

  // A new week or department starts clean.
  useEffect(() => {
    setProblem(null);
    setSelection(null);
    setCopy({ step: "idle" });
    setOpWarnings([]);
    setAssign((a) => ({ ...a, day: "" }));
  }, [monday, departmentId]);

  const go = (changes: Record<string, string>) =>
    setParams((p) => {
      const next = new URLSearchParams(p);
      for (const [k, v] of Object.entries(changes)) {
        if (v) next.set(k, v);
        else next.delete(k);
      }
      return next;
    });

  const person = (id: string) => names.get(id) ?? "this person";
  const announce = (message: string, warnings: readonly RotaWarning[] = []) => {
    setStatus(message);
    setOpWarnings(warningsFor(warnings, monday).map((w) => warningText(w, names)));
  };

  /**
   * Every shift change goes through here: one place decides how a refusal is shown. `check` asks
   * the API first which rules the change would break (a 200), so a refused change is shown
   * without a refused request (a 409 the browser would log); the write still decides.
   */
  async function change(
    source: Source,
    target: { staffId: string; day: string; what: string },
    run: () => Promise<{ warnings?: RotaWarning[] } | void>,
    done: string,
    check?: () => Promise<ShiftCheck>,
  ): Promise<boolean> {
    if (busy) return false;
    setBusy(true);
    setProblem(null);
    setStatus("");
    try {
      const found = check ? await check().then(checkedViolations, () => []) : [];
      if (found.length > 0) {
        setProblem({ source, ...target, violations: found, message: null });
        if (source === "grid") requestAnimationFrame(() => gridProblemRef.current?.focus());
        return false;
      }
      const result = await run();
      announce(done, result?.warnings ?? []);
      rota.reload();
      return true;
    } catch (err) {
      const violations = violationsOf(err);
      setProblem({ source, ...target, violations, message: violations ? null : describeError(err) });
      if (source === "grid") requestAnimationFrame(() => gridProblemRef.current?.focus());
      return false;
    } finally {
      setBusy(false);
    }
  }

  const assignShift = async (values: AssignValues, source: Source) => {
    const def = defs.find((d) => d.id === values.definitionId);
    const what = `${def?.name ?? "Shift"} for ${person(values.staffId)} on ${dayLabel(values.day)}`;
    const body = {
      department_id: departmentId,
      staff_id: values.staffId,
      date: values.day,
      definition_id: values.definitionId,
      note: values.note.trim() || null,
    };
    const ok = await change(
      source,
      { staffId: values.staffId, day: values.day, what },
      () => createShift(api, body),
      `Added: ${what}.`,
      () => checkNewShift(api, body),
    );
    if (ok && source === "form") setAssign((a) => ({ ...a, note: "" }));
  };

  const moveShift = (shift: Shift, staffId: string, day: string) => {
    if (shift.staff_id === staffId && shift.date === day) return;
    const what = `${shiftTitle(shift)} ${shiftTimes(shift)} moved to ${person(staffId)} on ${dayLabel(day)}`;
    const changes: { staff_id?: string; date?: string } = {};
    if (staffId !== shift.staff_id) changes.staff_id = staffId;
    if (day !== shift.date) changes.date = day;
    void change(
      "grid",
      { staffId, day, what },
      () => updateShift(api, shift.id, changes),
      `${what}.`,
      () => checkShiftChange(api, shift.id, changes),
    ).then((ok) => {
      if (ok) setSelection(null);
    });
  };

  const onDrop = (payload: DragPayload, staffId: string, day: string) => {
    if (payload.kind === "definition") {
      void assignShift({ staffId, day, definitionId: payload.definition.id, note: "" }, "grid");
    } else {
      moveShift(payload.shift, staffId, day);
    }
  };

  const onAdd = (staffId: string, day: string) => {
    setAssign((a) => ({ ...a, staffId, day }));
    setProblem(null);
    requestAnimationFrame(() => assignShiftField.current?.focus());
  };

  const select = (next: Selection) => {
    setSelection(next);
    setSelectionError(null);
    setProblem((p) => (p?.source === "editor" ? null : p));
    requestAnimationFrame(() => editorHeading.current?.focus());
  };

  const saveEdit = (shift: Shift, changes: { staff_id?: string; date?: string; definition_id?: string; note?: string | null }) => {
    const staffId = changes.staff_id ?? shift.staff_id;
    const day = changes.date ?? shift.date;
    const what = `${shiftTitle(shift)} shift of ${shift.staff_name} on ${dayLabel(shift.date)}`;
    void change(
      "editor",
      { staffId, day, what },
      () => updateShift(api, shift.id, changes),
      `Changed: ${what}.`,
      () => checkShiftChange(api, shift.id, changes),
    ).then((ok) => {
      if (ok) setSelection(null);
    });
  };

  const removeShift = async (shift: Shift) => {
    setBusy(true);
    setSelectionError(null);
    try {
      await deleteShift(api, shift.id);
      announce(`Removed: ${shiftTitle(shift)} shift of ${shift.staff_name} on ${dayLabel(shift.date)}.`);
      setSelection(null);
      rota.reload();
    } catch (err) {
      setSelectionError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const removeLeave = async (leave: Leave) => {
    setBusy(true);
    setSelectionError(null);
    try {
      await deleteLeave(api, leave.id);
      announce(`Deleted the leave of ${leave.staff_name}.`);
      setSelection(null);
      rota.reload();
    } catch (err) {
      setSelectionError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  // --- copy last week ---
  const startCopy = async () => {
    if (!current || busy) return;
    setBusy(true);
    setStatus("");
    setProblem(null);
    try {
      const previous = await getRota(api, departmentId, addDays(monday, -7), addDays(monday, -1));
      const shifts = copyWeek(previous, monday);
      if (shifts.length === 0) {
        setCopy({ step: "idle" });
        announce(`The week of ${dayLabel(addDays(monday, -7))} has no shifts to copy.`);
        return;
      }
      const existing = shiftCount(current);
      if (existing > 0) setCopy({ step: "confirm", shifts, existing });
      else await finishCopy(shifts, false);
    } catch (err) {
      setCopy({ step: "failed", problems: null, message: describeError(err) });
    } finally {
      setBusy(false);
    }
  };

  const finishCopy = async (shifts: RotaShift[], replace: boolean) => {
    setBusy(true);
    try {
      const result = await saveWeek(api, { department_id: departmentId, week_start: monday, shifts, replace });
      setCopy({ step: "idle" });
      announce(
        `Copied ${result.created.length} shift${result.created.length === 1 ? "" : "s"} from last week` +
          (result.removed.length > 0 ? `, replacing ${result.removed.length}.` : "."),
        result.warnings,
      );
      rota.reload();
    } catch (err) {
      const problems = weekProblemsOf(err);
      setCopy({ step: "failed", problems, message: problems ? null : describeError(err) });
    } finally {
      setBusy(false);
    }
  };

  const weekWarnings = current ? warningsFor(current.warnings, monday).map((w) => warningText(w, names)) : [];
  const shownWarnings = [...new Set([...opWarnings, ...weekWarnings])];
  const cellProblem = problem?.violations ? { staffId: problem.staffId, day: problem.day, violations: problem.violations } : null;
  const deptName = department?.name ?? current?.department.name ?? "";

  return (
    <section className="page page-wide rota-page" aria-labelledby="rota-title">
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name="calendar" size={26} />
        </span>
        <div className="page-header-text">
          <h1 id="rota-title">Rota</h1>
          <p className="lead">
            {canWrite
              ? "Who works when, week by week. Drag a shift onto a day, or use the form below."
              : "Who works when, week by week."}
          </p>
        </div>
      </header>

      <div className="rota-toolbar">
        <div className="field">
          <label htmlFor="rota-department">Department</label>
          <select
            id="rota-department"
            value={departmentId}
            onChange={(e) => {
              storeDepartment(e.target.value);
              go({ department: e.target.value });
            }}
          >
            {departmentId === "" && <option value="">—</option>}
            {(departments.data ?? [])
              .filter((d) => d.active || d.id === departmentId)
              .map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name}
                </option>
              ))}
          </select>
        </div>
        <nav className="rota-weeknav" aria-label="Weeks">
          <button type="button" className="button button-quiet" onClick={() => go({ week: addDays(monday, -7) })}>
            ‹ Previous week
          </button>
          <button type="button" className="button button-quiet" onClick={() => go({ week: "" })} disabled={monday === mondayOf(today)}>
            This week
          </button>
          <button type="button" className="button button-quiet" onClick={() => go({ week: addDays(monday, 7) })}>
            Next week ›
          </button>
          <div className="field rota-goto">
            <label htmlFor="rota-week">Week of</label>
            <input
              id="rota-week"
              type="date"
              value={monday}
              onChange={(e) => isIsoDay(e.target.value) && go({ week: mondayOf(e.target.value) })}
            />
          </div>
        </nav>
        {canWrite && (
          <button
            type="button"
            className="button button-quiet rota-copy"
            disabled={!current || busy}
            onClick={() => void startCopy()}
          >
            Copy last week
          </button>
        )}
      </div>

      <h2 className="rota-week-title">
        {deptName && <>{deptName} · </>}
        {weekLabel(monday)}
        <span className="rota-tz"> Times in {timezone.replace(/_/g, " ")}</span>
      </h2>

      <p className="search-status" role="status" aria-live="polite">
        {rota.status === "loading" && <span className="spinner spinner-small" aria-hidden="true" />}
        {rota.status === "loading" && !current ? "Loading the rota…" : status}
      </p>

      {departments.status === "error" && (
        <div className="form-error" role="alert">
          {describeError(departments.error)}{" "}
          <button type="button" className="link-button" onClick={departments.reload}>
            Try again
          </button>
        </div>
      )}
      {departments.status === "ready" && activeDepartments.length === 0 && (
        <div className="empty">
          <p>There are no departments yet. A staff administrator creates them.</p>
        </div>
      )}
      {rota.status === "error" && (
        <div className="form-error" role="alert">
          {describeError(rota.error)}{" "}
          <button type="button" className="link-button" onClick={rota.reload}>
            Try again
          </button>
        </div>
      )}

      <WarningList messages={shownWarnings} />

      {copy.step === "confirm" && (
        <div className="notice rota-confirm" role="alert">
          <p>
            This week already has {copy.existing} shift{copy.existing === 1 ? "" : "s"} in {deptName}. Last week had{" "}
            {copy.shifts.length}.
          </p>
          <div className="form-actions">
            <button type="button" className="button button-primary" disabled={busy} onClick={() => void finishCopy(copy.shifts, true)}>
              Replace this week’s shifts
            </button>
            <button type="button" className="button button-quiet" disabled={busy} onClick={() => void finishCopy(copy.shifts, false)}>
              Add to them
            </button>
            <button type="button" className="button button-quiet" onClick={() => setCopy({ step: "idle" })}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {copy.step === "failed" && (
        <div className="violation-panel" role="alert">
          <p className="violation-title">Nothing was copied{copy.problems ? ": some shifts break the rota rules." : "."}</p>
          {copy.message && <p>{copy.message}</p>}
          {copy.problems && (
            <ul>
              {copy.problems.map((p) => (
                <li key={p.index}>
                  <strong>
                    {person(p.staffId)}, {p.day ? dayLabel(p.day) : "?"}:
                  </strong>{" "}
                  {p.violations.map((v) => `${violationTitle(v.code)} — ${v.message}`).join("; ")}
                </li>
              ))}
            </ul>
          )}
          <button type="button" className="link-button" onClick={() => setCopy({ step: "idle" })}>
            Dismiss
          </button>
        </div>
      )}

      {problem?.source === "grid" && (
        <div className="rota-grid-problem">
          {problem.violations ? (
            <ViolationList
              ref={gridProblemRef}
              title={`Not saved — ${problem.what}: the rota rules refuse it.`}
              violations={problem.violations}
              timezone={timezone}
            />
          ) : (
            <div className="form-error" role="alert" ref={gridProblemRef} tabIndex={-1}>
              Not saved — {problem.what}: {problem.message}
            </div>
          )}
        </div>
      )}

      {canWrite && defs.length > 0 && grid && grid.rows.length > 0 && (
        <div className="rota-palette" role="group" aria-label="Shift definitions">
          <span className="rota-palette-hint">Drag onto a day:</span>
          <ul>
            {defs.map((d) => (
              <li key={d.id}>
                <button
                  type="button"
                  className="rota-chip"
                  draggable
                  title="Drag onto a person's day, or press to pick it in the form"
                  onDragStart={(e) => {
                    dragging.current = { kind: "definition", definition: d };
                    e.dataTransfer.effectAllowed = "copy";
                    e.dataTransfer.setData("text/plain", d.name);
                  }}
                  onDragEnd={() => {
                    dragging.current = null;
                  }}
                  onClick={() => {
                    setAssign((a) => ({ ...a, definitionId: d.id }));
                    assignFirstField.current?.focus();
                  }}
                >
                  {definitionLabel(d)}
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}

      {grid && grid.rows.length === 0 && (
        <div className="empty">
          <p>No one is in {deptName || "this department"} this week. People join a department through a post on their staff record.</p>
        </div>
      )}
      {grid && grid.rows.length > 0 && (
        <RotaGrid
          grid={grid}
          caption={`Rota of ${deptName}, week of ${weekLabel(monday)}`}
          today={today}
          canWrite={canWrite}
          busy={rota.status === "loading" || busy}
          problem={cellProblem}
          selectedId={selection?.kind === "shift" ? selection.shift.id : selection?.kind === "leave" ? selection.leave.id : null}
          dragging={dragging}
          onDrop={onDrop}
          onAdd={onAdd}
          onSelectShift={(shift) => select({ kind: "shift", shift })}
          onSelectLeave={(leave) => select({ kind: "leave", leave })}
        />
      )}

      {canWrite && current && (
        <div className="rota-side">
          {selection?.kind === "shift" && (
            <ShiftEditor
              key={selection.shift.id}
              shift={selection.shift}
              people={people}
              days={days}
              definitions={defs}
              busy={busy}
              violations={problem?.source === "editor" ? problem.violations : null}
              error={problem?.source === "editor" && !problem.violations ? problem.message : selectionError}
              timezone={timezone}
              headingRef={editorHeading}
              onSave={(changes) => saveEdit(selection.shift, changes)}
              onRemove={() => void removeShift(selection.shift)}
              onClose={() => {
                setSelection(null);
                setProblem((p) => (p?.source === "editor" ? null : p));
              }}
            />
          )}
          {selection?.kind === "leave" && (
            <LeaveDetails
              key={selection.leave.id}
              leave={selection.leave}
              timezone={timezone}
              busy={busy}
              error={selectionError}
              headingRef={editorHeading}
              onDelete={() => void removeLeave(selection.leave)}
              onClose={() => setSelection(null)}
            />
          )}
          <AssignShiftForm
            values={assign}
            onChange={(v) => {
              setAssign(v);
              setProblem((p) => (p?.source === "form" ? null : p));
            }}
            people={people}
            days={days}
            definitions={defs}
            busy={busy}
            violations={problem?.source === "form" ? problem.violations : null}
            error={problem?.source === "form" && !problem.violations ? problem.message : null}
            timezone={timezone}
            firstFieldRef={assignFirstField}
            shiftFieldRef={assignShiftField}
            onSubmit={(v) => void assignShift(v, "form")}
          />
          <LeaveForm
            key={`${departmentId}|${monday}`}
            api={api}
            people={people}
            defaultDay={monday}
            onSaved={(result) => {
              const cancelled = result.cancelled_shifts.length;
              const stranded = strandedInWarnings(result.warnings);
              announce(
                `Recorded ${result.leave.kind === "unavailable" ? "unavailability" : "leave"} for ${result.leave.staff_name}` +
                  (cancelled > 0 ? `; ${cancelled} shift${cancelled === 1 ? "" : "s"} taken off the rota.` : ".") +
                  (stranded ? ` ${appointmentsCount(stranded.total)} to reschedule.` : ""),
              );
              rota.reload();
            }}
          />
        </div>
      )}
    </section>
  );
}
