import { shortDate } from "./dates";
import { licenceBadgeText, type LicenceState } from "./licence";

/**
 * Expired and expiring licences stand out (in words, not only colour); a valid one is quiet.
 * Staff who need no licence (non-clinical, none on record) show a dash.
 */
export function LicenceBadge({ state, clinical }: { state: LicenceState; clinical: boolean }) {
  if (state.kind === "none") {
    return clinical ? (
      <span className="licence-badge licence-expired">No licence on record</span>
    ) : (
      <span className="muted">—</span>
    );
  }
  if (state.kind === "expired") {
    return (
      <span className="licence-badge licence-expired" title={state.validTo ? `Ended ${shortDate(state.validTo)}` : undefined}>
        ⚠ {licenceBadgeText(state)}
        {state.validTo && <span className="licence-badge-date"> {shortDate(state.validTo)}</span>}
      </span>
    );
  }
  if (state.kind === "expiring") {
    return (
      <span className="licence-badge licence-expiring" title={`Valid to ${shortDate(state.validTo)}`}>
        {licenceBadgeText(state)}
      </span>
    );
  }
  return (
    <span className="licence-badge licence-valid">
      Valid{state.validTo ? ` to ${shortDate(state.validTo)}` : ""}
    </span>
  );
}
