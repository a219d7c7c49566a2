import { appointmentsCount, bookedLabel, type StrandedAppointments } from "./rota";

/** The booked appointments a leave or licence change would strand, with the button that saves anyway. */
export function BookedWarning({
  booked,
  where,
  note,
  action,
  busy,
  onConfirm,
}: {
  booked: StrandedAppointments;
  /** Completes "N appointments are booked …", e.g. "in this period — record anyway?". */
  where: string;
  note: string;
  action: string;
  busy: boolean;
  onConfirm: () => void;
}) {
  return (
    <div className="violation-panel" role="alert">
      <p className="violation-title">
        {appointmentsCount(booked.total)} {booked.total === 1 ? "is" : "are"} booked {where}
      </p>
      <ul>
        {booked.appointments.slice(0, 5).map((a) => (
          <li key={a.id}>{bookedLabel(a)}</li>
        ))}
      </ul>
      {booked.total > 5 && <p>…and {booked.total - 5} more.</p>}
      <p>{note}</p>
      <button type="button" className="button button-primary" disabled={busy} onClick={onConfirm}>
        {action}
      </button>
    </div>
  );
}
