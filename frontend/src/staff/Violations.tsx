import { forwardRef } from "react";
import { describeConflict, violationTitle, type Violation } from "./rota";

/** The rules a refused change broke, each with what it clashed with, in the facility's time. */
export const ViolationList = forwardRef<
  HTMLDivElement,
  { title: string; violations: readonly Violation[]; timezone: string; id?: string }
>(function ViolationList({ title, violations, timezone, id }, ref) {
  return (
    <div className="violation-panel" role="alert" id={id} ref={ref} tabIndex={-1}>
      <p className="violation-title">{title}</p>
      <ul>
        {violations.map((v, i) => (
          <li key={`${v.code}-${i}`} data-code={v.code}>
            <strong>{violationTitle(v.code)}.</strong> {v.message}
            {v.conflictsWith.length > 0 && (
              <ul className="violation-refs">
                {v.conflictsWith.map((r, j) => (
                  <li key={j}>{describeConflict(r, timezone)}</li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
});

/** Weekly-hours warnings: saved, but worth a second look. */
export function WarningList({ messages, title = "Weekly hours" }: { messages: readonly string[]; title?: string }) {
  if (messages.length === 0) return null;
  return (
    <div className="rota-warning" role="note" aria-label={title}>
      <strong>{title}:</strong>
      <ul>
        {messages.map((m) => (
          <li key={m}>{m}</li>
        ))}
      </ul>
    </div>
  );
}
