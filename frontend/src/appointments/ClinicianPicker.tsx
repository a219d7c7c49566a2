import { useId, useState } from "react";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { useDebouncedValue, useLoad } from "../patients/hooks";
import { listClinicians, searchable } from "./api";
import type { Clinician } from "./types";

const FIND_DEBOUNCE_MS = 250;
/** Options listed at once; more are reached by typing part of a name. */
export const CLINICIAN_OPTIONS = 50;

export interface PickedClinician {
  id: string;
  display_name: string;
}

/**
 * A clinician select that scales: it lists the bookable clinicians (with clinic hours, optionally
 * offering one appointment type), and a search box above it narrows the list on the server, so a
 * clinician is reachable however many staff an import brought in. The current choice stays an
 * option (and so the select shows it) even when the list does not hold it.
 */
export function ClinicianPicker({
  value,
  selected,
  onChange,
  typeId = null,
  ownId = null,
  label = "Clinician",
  placeholder = "Choose a clinician…",
  allowNone = true,
  className = "field",
}: {
  value: string;
  /** Name of the current choice, for when the list does not hold it. */
  selected?: PickedClinician | null;
  onChange: (clinician: PickedClinician | null) => void;
  typeId?: string | null;
  ownId?: string | null;
  label?: string;
  placeholder?: string;
  /** Whether the placeholder stays choosable once a clinician is chosen. */
  allowNone?: boolean;
  className?: string;
}) {
  const { api } = useAuth();
  const id = useId();
  const [text, setText] = useState("");
  const settled = useDebouncedValue(text.trim(), FIND_DEBOUNCE_MS);
  const name = searchable(settled) ? settled : "";
  const result = useLoad(
    (signal) => listClinicians(api, { name, typeId, limit: CLINICIAN_OPTIONS }, signal),
    [api, name, typeId],
  );
  const items: Clinician[] = result.data?.items ?? [];
  const total = result.data?.total ?? 0;
  const current = value ? (items.find((c) => c.id === value) ?? selected ?? null) : null;
  const extra = current && !items.some((c) => c.id === current.id) ? current : null;

  let hint: string;
  if (result.status === "loading" && !result.data) hint = "Loading clinicians…";
  else if (name && total === 0) hint = `No bookable clinician matches “${name}”.`;
  else if (total > items.length) hint = `${items.length} of ${total} shown: type part of a name to find the others.`;
  else if (name) hint = `${total} clinician${total === 1 ? "" : "s"} match “${name}”.`;
  else hint = `${total} clinician${total === 1 ? "" : "s"} with clinic hours.`;

  return (
    <div className={`${className} clinician-picker`}>
      <label htmlFor={`${id}-find`}>Find a clinician</label>
      <input
        id={`${id}-find`}
        type="search"
        value={text}
        autoComplete="off"
        spellCheck={false}
        placeholder="Part of a name"
        aria-describedby={`${id}-hint`}
        onChange={(e) => setText(e.target.value)}
      />
      <label htmlFor={id}>{label}</label>
      <select
        id={id}
        value={value}
        aria-describedby={`${id}-hint`}
        aria-busy={result.status === "loading"}
        onChange={(e) => {
          const chosen = items.find((c) => c.id === e.target.value) ?? (extra?.id === e.target.value ? extra : null);
          onChange(chosen ? { id: chosen.id, display_name: chosen.display_name } : null);
        }}
      >
        {(!value || allowNone) && <option value="">{placeholder}</option>}
        {extra && (
          <option value={extra.id}>
            {extra.display_name}
            {ownId === extra.id ? " (you)" : ""}
          </option>
        )}
        {items.map((c) => (
          <option key={c.id} value={c.id}>
            {c.display_name}
            {c.position ? ` — ${c.position}` : ""}
            {ownId === c.id ? " (you)" : ""}
          </option>
        ))}
      </select>
      <span className="hint" id={`${id}-hint`} aria-live="polite">
        {hint}
      </span>
      {result.status === "error" && <span className="field-error">{describeError(result.error)}</span>}
    </div>
  );
}
