import { useCallback, useRef, useState } from "react";

/**
 * One submission at a time: a second click while the first is on its way does nothing (the
 * Idempotency-Key covers what gets past this, e.g. a retry after a lost answer).
 */
export function useSubmit() {
  const inFlight = useRef(false);
  const [busy, setBusy] = useState(false);
  const run = useCallback(async (work: () => Promise<void>): Promise<void> => {
    if (inFlight.current) return;
    inFlight.current = true;
    setBusy(true);
    try {
      await work();
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  }, []);
  return { busy, run };
}
