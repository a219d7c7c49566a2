import { Icon } from "../components/Icon";
import { modeLabel, statusLabel } from "./present";
import type { AppointmentStatus, Mode } from "./types";

export function StatusBadge({ status }: { status: AppointmentStatus }) {
  return <span className={`appt-status appt-status-${status.replace("_", "-")}`}>{statusLabel(status)}</span>;
}

export function ModeBadge({ mode }: { mode: Mode }) {
  return (
    <span className={`mode-badge mode-${mode.replace("_", "-")}`}>
      {mode === "video" && <Icon name="video" size={14} />}
      {modeLabel(mode)}
    </span>
  );
}
