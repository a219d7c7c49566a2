import { useId, useRef, useState } from "react";
import type { ApiClient } from "../api/client";
import { describeError } from "../api/errors";
import { useLoad } from "../patients/hooks";
import { formatDateTime } from "../patients/format";
import { createFeed, feedStatus, revokeFeed } from "./api";
import type { FeedCreated } from "./types";

/** Copy text to the clipboard; falls back to selecting it in `input` for a manual copy. */
export async function copyText(text: string, input?: HTMLInputElement | null): Promise<boolean> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through: the clipboard API needs a secure context and a user gesture
  }
  input?.focus();
  input?.select();
  try {
    return document.execCommand?.("copy") ?? false;
  } catch {
    return false;
  }
}

/**
 * The personal calendar feed: a secret URL calendar apps subscribe to. Shown to the person
 * themself and to staff administrators; the URL is shown once, when it is made.
 */
export function CalendarFeedPanel({ api, staffId, own }: { api: ApiClient; staffId: string; own: boolean }) {
  const id = useId();
  const status = useLoad((signal) => feedStatus(api, staffId, signal), [api, staffId]);
  const [created, setCreated] = useState<FeedCreated | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState("");
  const [confirm, setConfirm] = useState<"rotate" | "revoke" | null>(null);
  const urlRef = useRef<HTMLInputElement>(null);

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    setMessage("");
    try {
      await action();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
      setConfirm(null);
    }
  };

  const make = () =>
    run(async () => {
      const rotated = status.data?.active ?? false;
      const feed = await createFeed(api, staffId);
      setCreated(feed);
      setMessage(rotated ? "A new link was made; the old one no longer works." : "Calendar link created.");
      status.reload();
      requestAnimationFrame(() => urlRef.current?.focus());
    });

  const revoke = () =>
    run(async () => {
      await revokeFeed(api, staffId);
      setCreated(null);
      setMessage("The calendar link was revoked; calendars using it stop updating.");
      status.reload();
    });

  const copy = async () => {
    if (!created) return;
    const ok = await copyText(created.url, urlRef.current);
    setMessage(ok ? "Link copied to the clipboard." : "Select the link and copy it (Ctrl+C).");
  };

  const active = status.data?.active ?? false;
  const whose = own ? "your" : "their";

  return (
    <section className="record-section" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Calendar feed</h2>
      <p className="muted">
        Subscribe to {whose} shifts and leave from any calendar app (Outlook, Google, Apple). The link is a password: whoever
        has it can read the calendar.
      </p>
      {status.status === "error" && (
        <div className="form-error" role="alert">
          {describeError(status.error)}
        </div>
      )}
      {status.data && (
        <p>
          {active ? (
            <>
              <span className="licence-badge licence-tone-ok">Active</span> since {formatDateTime(status.data.created_at)}
              {status.data.last_read_at
                ? `; last read by a calendar ${formatDateTime(status.data.last_read_at)}.`
                : "; not read by a calendar yet."}
            </>
          ) : (
            "No calendar link yet."
          )}
        </p>
      )}
      {created && (
        <div className="feed-url">
          <label htmlFor={`${id}-url`}>Calendar link (shown only now)</label>
          <div className="feed-url-row">
            <input id={`${id}-url`} ref={urlRef} readOnly value={created.url} onFocus={(e) => e.currentTarget.select()} />
            <button type="button" className="button button-primary" onClick={() => void copy()}>
              Copy link
            </button>
          </div>
        </div>
      )}
      <p className="search-status" role="status" aria-live="polite">
        {message}
      </p>
      {error && (
        <div className="form-error" role="alert">
          {error}
        </div>
      )}
      {status.data && (
        <div className="form-actions">
          {!active && (
            <button type="button" className="button button-primary" disabled={busy} onClick={() => void make()}>
              Create calendar link
            </button>
          )}
          {active && confirm === null && (
            <>
              <button type="button" className="button button-quiet" disabled={busy} onClick={() => setConfirm("rotate")}>
                Replace link…
              </button>
              <button type="button" className="button button-quiet" disabled={busy} onClick={() => setConfirm("revoke")}>
                Revoke link…
              </button>
            </>
          )}
          {confirm === "rotate" && (
            <>
              <span className="confirm-text">The current link stops working at once.</span>
              <button type="button" className="button button-primary" disabled={busy} onClick={() => void make()}>
                Make a new link
              </button>
              <button type="button" className="button button-quiet" onClick={() => setConfirm(null)}>
                Cancel
              </button>
            </>
          )}
          {confirm === "revoke" && (
            <>
              <span className="confirm-text">Calendars using the link stop updating.</span>
              <button type="button" className="button button-danger" disabled={busy} onClick={() => void revoke()}>
                Revoke link
              </button>
              <button type="button" className="button button-quiet" onClick={() => setConfirm(null)}>
                Cancel
              </button>
            </>
          )}
        </div>
      )}
    </section>
  );
}
