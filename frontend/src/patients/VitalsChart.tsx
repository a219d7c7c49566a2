// A dependency-free SVG line chart per vital sign ("small multiples"): each has its own scale,
// the latest value is written out, and every point has a tooltip. The table under the charts
// holds the same numbers for screen readers and exact reading.
import type { Observation } from "../api/types";
import { CHARTED_VITALS, pointsOf, type VitalKind, type VitalPoint } from "./vitals";

const W = 280;
const H = 110;
const PAD = { top: 10, right: 10, bottom: 20, left: 34 };
const SERIES_CLASS = ["series-a", "series-b"];

function niceRange(points: VitalPoint[]): [number, number] {
  const all = points.flatMap((p) => p.values.filter((v): v is number => v !== null));
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (lo === hi) {
    lo -= Math.max(1, Math.abs(lo) * 0.05);
    hi += Math.max(1, Math.abs(hi) * 0.05);
  }
  const pad = (hi - lo) * 0.12;
  return [lo - pad, hi + pad];
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** Axis labels: whole numbers when the range is wide, one decimal when it is narrow (36.5–37.5 °C). */
function tick(value: number, range: number): string {
  return range >= 10 ? String(Math.round(value)) : value.toFixed(1);
}

function shortDate(ms: number): string {
  return new Date(ms).toLocaleDateString(undefined, { day: "numeric", month: "short" });
}

function Sparkline({ kind, points }: { kind: VitalKind; points: VitalPoint[] }) {
  const [lo, hi] = niceRange(points);
  const t0 = points[0]!.at;
  const t1 = points[points.length - 1]!.at;
  const x = (at: number) =>
    t1 === t0 ? PAD.left + (W - PAD.left - PAD.right) / 2 : PAD.left + ((at - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const last = points[points.length - 1]!;
  const latest = last.values.map((v) => (v === null ? "?" : fmt(v))).join("/");
  const summary = `${kind.label}: ${points.length} reading${points.length === 1 ? "" : "s"} from ${shortDate(t0)} to ${shortDate(t1)}; latest ${latest} ${kind.unit}.`;

  return (
    <figure className="vital-chart">
      <figcaption>
        <span className="vital-chart-title">{kind.label}</span>
        <span className="vital-chart-latest">
          {latest} <span className="muted">{kind.unit}</span>
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={summary} preserveAspectRatio="none">
        <line className="axis" x1={PAD.left} x2={W - PAD.right} y1={H - PAD.bottom} y2={H - PAD.bottom} />
        <text className="tick" x={PAD.left - 4} y={y(hi) + 8} textAnchor="end">
          {tick(hi, hi - lo)}
        </text>
        <text className="tick" x={PAD.left - 4} y={y(lo)} textAnchor="end">
          {tick(lo, hi - lo)}
        </text>
        <text className="tick" x={PAD.left} y={H - 5}>
          {shortDate(t0)}
        </text>
        {t1 !== t0 && (
          <text className="tick" x={W - PAD.right} y={H - 5} textAnchor="end">
            {shortDate(t1)}
          </text>
        )}
        {kind.series.map((name, s) => {
          const pts = points.filter((p) => p.values[s] != null);
          if (pts.length === 0) return null;
          const d = pts.map((p, i) => `${i === 0 ? "M" : "L"}${x(p.at).toFixed(1)},${y(p.values[s]!).toFixed(1)}`).join(" ");
          return (
            <g key={name} className={SERIES_CLASS[s]}>
              <path d={d} fill="none" />
              {pts.map((p) => (
                <circle key={p.at} cx={x(p.at)} cy={y(p.values[s]!)} r={2.6}>
                  <title>{`${name} ${fmt(p.values[s]!)} ${kind.unit} — ${new Date(p.at).toLocaleString()}`}</title>
                </circle>
              ))}
            </g>
          );
        })}
      </svg>
      {kind.series.length > 1 && (
        <p className="legend" aria-hidden="true">
          {kind.series.map((name, s) => (
            <span key={name} className={`legend-item ${SERIES_CLASS[s]}`}>
              <span className="legend-swatch" /> {name}
            </span>
          ))}
        </p>
      )}
    </figure>
  );
}

export function VitalsCharts({ observations }: { observations: readonly Observation[] }) {
  const charts = CHARTED_VITALS.map((kind) => ({ kind, points: pointsOf(kind, observations) })).filter(
    (c) => c.points.length > 0,
  );
  if (charts.length === 0) return <p className="muted">No vital signs recorded yet.</p>;
  return (
    <div className="vital-charts">
      {charts.map(({ kind, points }) => (
        <Sparkline key={kind.key} kind={kind} points={points} />
      ))}
    </div>
  );
}
