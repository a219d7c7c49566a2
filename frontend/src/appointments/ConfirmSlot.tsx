import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { ModeBadge } from "./Badges";
import { lateChangeNotice, type Audience } from "./booking";
import { formatVisit, zoneLabel } from "./time";
import type { Mode, Slot } from "./types";

/**
 * The chosen slot spelled out, with an optional (or, within the cut-off, required) reason and the
 * button that books it. The parent does the request; `error` is its answer in words.
 */
export function ConfirmSlot({
  slot,
  typeName,
  mode,
  zone,
  title,
  confirmLabel,
  busyLabel,
  reasonLabel,
  reasonRequired = false,
  reasonHint,
  busy,
  error,
  audience,
  onConfirm,
  onBack,
}: {
  slot: Slot;
  typeName: string;
  mode: Mode;
  zone: string;
  title: string;
  confirmLabel: string;
  busyLabel: string;
  reasonLabel: string | null;
  reasonRequired?: boolean;
  reasonHint?: string;
  busy: boolean;
  error?: string | null;
  /** Who books: says before confirming when the time is inside the cancellation cut-off. */
  audience?: Audience;
  onConfirm: (reason: string) => void;
  onBack: () => void;
}) {
  const late = audience ? lateChangeNotice(slot, audience) : null;
  const id = useId();
  const [reason, setReason] = useState("");
  const [missing, setMissing] = useState(false);
  const reasonRef = useRef<HTMLTextAreaElement>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => headingRef.current?.focus(), [slot]);
  useEffect(() => {
    if (reasonRequired && !reason.trim()) reasonRef.current?.focus();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [reasonRequired]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (reasonRequired && !reason.trim()) {
      setMissing(true);
      reasonRef.current?.focus();
      return;
    }
    onConfirm(reason.trim());
  };

  return (
    <form className="confirm-slot" onSubmit={submit} aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`} ref={headingRef} tabIndex={-1} className="focus-target">
        {title}
      </h3>
      <dl className="confirm-facts">
        <div>
          <dt>Visit</dt>
          <dd>
            {typeName}{" "}
            <ModeBadge mode={mode} />
          </dd>
        </div>
        <div>
          <dt>With</dt>
          <dd>{slot.staff_name}</dd>
        </div>
        <div>
          <dt>When</dt>
          <dd>
            <strong>{formatVisit(slot.local_start, slot.local_end)}</strong>{" "}
            <span className="muted small">· {zoneLabel(zone, new Date(slot.start))}</span>
          </dd>
        </div>
      </dl>
      {late && (
        <p className="notice-warn" id={`${id}-late`}>
          {late}
        </p>
      )}
      {reasonLabel !== null && (
        <div className="field">
          <label htmlFor={`${id}-reason`}>{reasonLabel}</label>
          <textarea
            id={`${id}-reason`}
            ref={reasonRef}
            rows={2}
            maxLength={500}
            value={reason}
            aria-invalid={missing && !reason.trim() ? true : undefined}
            aria-describedby={reasonHint ? `${id}-reason-hint` : undefined}
            onChange={(e) => {
              setReason(e.target.value);
              setMissing(false);
            }}
          />
          {reasonHint && (
            <span className="hint" id={`${id}-reason-hint`}>
              {reasonHint}
            </span>
          )}
          {missing && !reason.trim() && <span className="field-error">Give a reason.</span>}
        </div>
      )}
      {error && (
        <div className="form-error" role="alert">
          {error}
        </div>
      )}
      <div className="form-actions">
        <button
          type="submit"
          className="button button-primary"
          disabled={busy}
          aria-describedby={late ? `${id}-late` : undefined}
        >
          {busy ? busyLabel : confirmLabel}
        </button>
        <button type="button" className="button button-quiet" onClick={onBack} disabled={busy}>
          Choose another time
        </button>
      </div>
    </form>
  );
}
