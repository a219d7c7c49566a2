/** "21–40 of 63" (or "of 1001+" when the total is only a lower bound) with Previous / Next;
 * hidden when everything fits on one page. */
export function Pager({
  total,
  limit,
  offset,
  onChange,
  label,
  busy = false,
  totalIsLowerBound = false,
}: {
  total: number;
  limit: number;
  offset: number;
  onChange: (offset: number) => void;
  label: string;
  busy?: boolean;
  totalIsLowerBound?: boolean;
}) {
  if (total <= limit && offset === 0) return null;
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + limit, total);
  return (
    <nav className="pager" aria-label={`${label} pages`}>
      <span className="pager-range">
        {first}–{last} of {total}
        {totalIsLowerBound ? "+" : ""}
      </span>
      <button
        type="button"
        className="button button-quiet button-small"
        disabled={busy || offset === 0}
        onClick={() => onChange(Math.max(0, offset - limit))}
      >
        Previous
      </button>
      <button
        type="button"
        className="button button-quiet button-small"
        disabled={busy || (offset + limit >= total && !totalIsLowerBound)}
        onClick={() => onChange(offset + limit)}
      >
        Next
      </button>
    </nav>
  );
}
