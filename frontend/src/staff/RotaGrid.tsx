import { useRef, useState, type DragEvent, type RefObject } from "react";
import { Link } from "react-router";
import { dayLabel, hoursLabel, longDayLabel } from "./dates";
import { leaveLabel, leaveOnDay, shiftTimes, shiftTitle, violationTitle, type RotaGridModel, type Violation } from "./rota";
import type { Leave, Shift, ShiftDefinition } from "./types";

/** What is being dragged: a shift definition from the palette, or a shift already on the grid. */
export type DragPayload = { kind: "definition"; definition: ShiftDefinition } | { kind: "shift"; shift: Shift };

export const DRAG_TYPE = "application/x-hospital-hub-rota";

export interface CellProblem {
  staffId: string;
  day: string;
  violations: Violation[];
}

export function RotaGrid({
  grid,
  caption,
  today,
  canWrite,
  busy,
  problem,
  selectedId,
  dragging,
  onDrop,
  onAdd,
  onSelectShift,
  onSelectLeave,
}: {
  grid: RotaGridModel;
  caption: string;
  today: string;
  canWrite: boolean;
  busy: boolean;
  problem: CellProblem | null;
  selectedId: string | null;
  /** The drag in progress (HTML5 drag data cannot be read during dragover in every browser). */
  dragging: RefObject<DragPayload | null>;
  onDrop: (payload: DragPayload, staffId: string, day: string) => void;
  onAdd: (staffId: string, day: string) => void;
  onSelectShift: (shift: Shift) => void;
  onSelectLeave: (leave: Leave) => void;
}) {
  const [over, setOver] = useState<string | null>(null);
  const leaveTimer = useRef<number | null>(null);

  const dragProps = (staffId: string, day: string) => {
    if (!canWrite) return {};
    const key = `${staffId}|${day}`;
    return {
      onDragOver: (e: DragEvent) => {
        if (!dragging.current) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = dragging.current.kind === "shift" ? "move" : "copy";
        if (leaveTimer.current !== null) window.clearTimeout(leaveTimer.current);
        if (over !== key) setOver(key);
      },
      onDragLeave: () => {
        // dragleave fires when moving onto a child element; wait a tick before un-highlighting.
        leaveTimer.current = window.setTimeout(() => setOver((o) => (o === key ? null : o)), 30);
      },
      onDrop: (e: DragEvent) => {
        e.preventDefault();
        setOver(null);
        const payload = dragging.current;
        dragging.current = null;
        if (payload) onDrop(payload, staffId, day);
      },
    };
  };

  return (
    <div className="rota-wrap">
      <table className="rota-grid" aria-busy={busy}>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col" className="rota-corner">
              Staff
            </th>
            {grid.days.map((day) => (
              <th scope="col" key={day} className={day === today ? "rota-today" : undefined}>
                {dayLabel(day)}
                {day === today && <span className="visually-hidden"> (today)</span>}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {grid.rows.map((row) => {
            const name = row.person.display_name;
            return (
              <tr key={row.person.id}>
                <th scope="row" className="rota-person">
                  <Link to={`/staff/directory/${row.person.id}`} className="row-link">
                    {name}
                  </Link>
                  {row.person.position && <span className="rota-position">{row.person.position}</span>}
                  <span
                    className={`rota-hours${row.overLimit ? " rota-hours-over" : ""}`}
                    title={`Hours this week (limit ${grid.limit})`}
                  >
                    {hoursLabel(row.hours)}
                    {row.overLimit && <> · over {grid.limit} h</>}
                    <span className="visually-hidden"> rostered this week</span>
                  </span>
                </th>
                {row.cells.map((cell) => {
                  const key = `${cell.staffId}|${cell.day}`;
                  const bad = problem && problem.staffId === cell.staffId && problem.day === cell.day ? problem : null;
                  const classes = [
                    "rota-cell",
                    cell.day === today ? "rota-today" : "",
                    over === key ? "rota-drop" : "",
                    bad ? "rota-cell-bad" : "",
                    cell.leave.length > 0 ? "rota-cell-leave" : "",
                  ]
                    .filter(Boolean)
                    .join(" ");
                  return (
                    <td key={cell.day} className={classes} data-staff={cell.staffId} data-day={cell.day} {...dragProps(cell.staffId, cell.day)}>
                      {cell.leave.map((lv) =>
                        canWrite ? (
                          <button
                            key={lv.id}
                            type="button"
                            className={`rota-leave${selectedId === lv.id ? " rota-selected" : ""}`}
                            aria-label={`${leaveLabel(lv.kind)}, ${name}, ${longDayLabel(cell.day)}: details`}
                            onClick={() => onSelectLeave(lv)}
                          >
                            {leaveOnDay(lv, cell.day, grid.timezone)}
                          </button>
                        ) : (
                          <span key={lv.id} className="rota-leave">
                            {leaveOnDay(lv, cell.day, grid.timezone)}
                          </span>
                        ),
                      )}
                      {cell.shifts.map((s) => {
                        const label = `${shiftTitle(s)} ${shiftTimes(s)}, ${name}, ${longDayLabel(cell.day)}`;
                        const body = (
                          <>
                            <span className="rota-shift-name">{shiftTitle(s)}</span>
                            <span className="rota-shift-times">{shiftTimes(s)}</span>
                          </>
                        );
                        return canWrite ? (
                          <button
                            key={s.id}
                            type="button"
                            className={`rota-shift${selectedId === s.id ? " rota-selected" : ""}`}
                            draggable
                            aria-label={`${label}: change or remove`}
                            title={s.note ?? undefined}
                            onDragStart={(e) => {
                              dragging.current = { kind: "shift", shift: s };
                              e.dataTransfer.effectAllowed = "move";
                              e.dataTransfer.setData(DRAG_TYPE, s.id);
                            }}
                            onDragEnd={() => {
                              dragging.current = null;
                              setOver(null);
                            }}
                            onClick={() => onSelectShift(s)}
                          >
                            {body}
                          </button>
                        ) : (
                          <span key={s.id} className="rota-shift" aria-label={label} title={s.note ?? undefined}>
                            {body}
                          </span>
                        );
                      })}
                      {bad && (
                        <span className="rota-cell-problem">
                          ⚠ Not saved: {bad.violations.map((v) => violationTitle(v.code)).join(", ")}
                        </span>
                      )}
                      {canWrite && (
                        <button
                          type="button"
                          className="rota-add"
                          aria-label={`Add a shift for ${name} on ${longDayLabel(cell.day)}`}
                          onClick={() => onAdd(cell.staffId, cell.day)}
                        >
                          +
                        </button>
                      )}
                    </td>
                  );
                })}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
