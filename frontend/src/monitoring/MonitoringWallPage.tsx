import { useEffect, useMemo, useState } from "react";
import { Link } from "react-router";
import { unwrap } from "../api/client";
import { describeError } from "../api/errors";
import type { components } from "../api/schema";
import { useAuth } from "../auth/AuthContext";
import { Icon } from "../components/Icon";
import { openFeed, type FeedAlarm, type FeedEvent, type FeedStatus } from "./feed";
import "./monitoring.css";

type Tile = components["schemas"]["PatientTile"];
type Alarm = components["schemas"]["AlarmRead"] | (FeedAlarm & { patient_id?: string });

interface TileState {
  tile: Tile;
  latest: Record<string, { value: number; at: string }>;
  spark: number[];
  news2: Tile["news2"];
  alarms: Map<string, Alarm>;
}

function sparkPath(values: number[]): string {
  if (values.length < 2) return "";
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo || 1;
  return values
    .map((v, i) => `${((i / (values.length - 1)) * 100).toFixed(1)},${(28 - ((v - lo) / span) * 26).toFixed(1)}`)
    .join(" ");
}

function fmt(v: number | undefined, digits = 0): string {
  return v === undefined ? "–" : v.toFixed(digits);
}

/** One tile per monitored patient: live numbers, trend, NEWS2, alarms (acknowledge in place). */
export function MonitoringWallPage() {
  const { api } = useAuth();
  const [ward, setWard] = useState<string>("");
  const [wards, setWards] = useState<{ ward: string; patients: number }[]>([]);
  const [tiles, setTiles] = useState<Map<string, TileState>>(new Map());
  const [since, setSince] = useState<number | null>(null);
  const [status, setStatus] = useState<FeedStatus>("connecting");
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    unwrap(api.GET("/api/monitoring/wards")).then(setWards, () => setWards([]));
  }, [api]);

  useEffect(() => {
    let cancelled = false;
    unwrap(api.GET("/api/monitoring/overview", { params: { query: ward ? { ward } : {} } })).then(
      (overview) => {
        if (cancelled) return;
        const next = new Map<string, TileState>();
        for (const tile of overview.patients) {
          next.set(tile.patient_id, {
            tile,
            latest: Object.fromEntries(Object.entries(tile.latest).map(([k, v]) => [k, { value: v.value, at: v.at }])),
            spark: tile.sparkline.map((p) => p.v),
            news2: tile.news2,
            alarms: new Map(tile.open_alarms.map((a) => [a.id, a])),
          });
        }
        setTiles(next);
        setSince(overview.last_event_id);
      },
      (err) => setError(describeError(err)),
    );
    return () => {
      cancelled = true;
    };
  }, [api, ward, tick]);

  const ids = useMemo(() => [...tiles.keys()].sort().join(","), [tiles]);
  useEffect(() => {
    if (since === null || !ids) return;
    const apply = (event: FeedEvent) => {
      setTiles((current) => {
        const state = current.get(event.patient_id);
        if (!state) return current;
        const next = new Map(current);
        const copy: TileState = { ...state, latest: { ...state.latest }, alarms: new Map(state.alarms) };
        if (event.type === "reading" && event.reading.quality === "valid" && event.reading.value !== null) {
          const r = event.reading;
          if (r.metric === "bp") {
            copy.latest.sbp = { value: r.value!, at: r.effective_at };
            if (r.value2 !== null) copy.latest.dbp = { value: r.value2, at: r.effective_at };
          } else {
            copy.latest[r.metric] = { value: r.value!, at: r.effective_at };
          }
          if (r.metric === "hr") copy.spark = [...state.spark, r.value!].slice(-60);
        } else if (event.type === "alarm") {
          if (event.alarm.state === "resolved") copy.alarms.delete(event.alarm.id);
          else copy.alarms.set(event.alarm.id, event.alarm);
        } else if (event.type === "news2") {
          copy.news2 = event.news2;
        }
        next.set(event.patient_id, copy);
        return next;
      });
    };
    return openFeed(api, ids.split(","), since, apply, setStatus);
  }, [api, ids, since]);

  const acknowledge = async (id: string) => {
    try {
      const alarm = await unwrap(api.POST("/api/monitoring/alarms/{alarm_id}/acknowledge", { params: { path: { alarm_id: id } } }));
      setTiles((current) => {
        const next = new Map(current);
        const state = next.get(alarm.patient_id);
        if (state) {
          const alarms = new Map(state.alarms);
          if (alarm.state === "resolved") alarms.delete(alarm.id);
          else alarms.set(alarm.id, alarm);
          next.set(alarm.patient_id, { ...state, alarms });
        }
        return next;
      });
    } catch (err) {
      setError(describeError(err));
    }
  };

  const ordered = [...tiles.values()].sort((a, b) =>
    (a.tile.ward ?? "").localeCompare(b.tile.ward ?? "") || (a.tile.bed ?? "").localeCompare(b.tile.bed ?? "") ||
    a.tile.display_name.localeCompare(b.tile.display_name),
  );
  const allAlarms = ordered.flatMap((t) => [...t.alarms.values()].map((a) => ({ alarm: a, tile: t })));

  return (
    <section className="page page-wide" aria-labelledby="wall-title">
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name="activity" size={26} />
        </span>
        <div className="page-header-text">
          <h1 id="wall-title">Monitoring</h1>
          <p className="lead">
            Live vitals, NEWS2 and alarms.{" "}
            <span className={`feed-status feed-${status}`} data-testid="feed-status">
              {status === "live" ? "Live" : status === "degraded" ? "Live feed interrupted: updating from the database" : "Connecting…"}
            </span>
          </p>
        </div>
        <label className="wall-ward">
          Ward{" "}
          <select value={ward} onChange={(e) => setWard(e.target.value)} aria-label="Ward">
            <option value="">All monitored patients</option>
            {wards.map((w) => (
              <option key={w.ward} value={w.ward}>
                {w.ward} ({w.patients})
              </option>
            ))}
          </select>
        </label>
        <button type="button" className="button" onClick={() => setTick((t) => t + 1)}>
          Refresh
        </button>
      </header>
      {error && <p role="alert" className="form-error">{error}</p>}
      {ordered.length === 0 && <p>No monitored patients yet: register a device for a patient to see it here.</p>}
      <div className="wall-grid">
        {ordered.map((t) => {
          const worst = [...t.alarms.values()].some((a) => a.severity === "emergency")
            ? "emergency"
            : [...t.alarms.values()].some((a) => a.kind === "clinical")
              ? "urgent"
              : [...t.alarms.values()].length
                ? "technical"
                : "ok";
          return (
            <article key={t.tile.patient_id} className={`wall-tile tile-${worst}`} data-testid="wall-tile" data-patient={t.tile.patient_id}>
              <header>
                <Link to={`/monitoring/patients/${t.tile.patient_id}`} className="tile-name">
                  {t.tile.display_name || "Patient"}
                </Link>
                <span className="tile-where">{[t.tile.ward, t.tile.bed && `bed ${t.tile.bed}`].filter(Boolean).join(", ")}</span>
              </header>
              <div className="tile-numbers">
                <span className="tile-hr" data-testid="tile-hr"><b>{fmt(t.latest.hr?.value)}</b> HR</span>
                <span><b>{fmt(t.latest.spo2?.value)}</b> SpO₂</span>
                <span><b>{fmt(t.latest.rr?.value)}</b> RR</span>
                <span><b>{fmt(t.latest.sbp?.value)}/{fmt(t.latest.dbp?.value)}</b> BP</span>
                <span><b>{fmt(t.latest.temp?.value, 1)}</b> °C</span>
              </div>
              <svg className="tile-spark" viewBox="0 0 100 30" preserveAspectRatio="none" aria-label="Heart-rate trend">
                <polyline points={sparkPath(t.spark)} fill="none" stroke="currentColor" strokeWidth="1.5" />
              </svg>
              <div className={`tile-news2 news2-${t.news2?.response ?? "none"}`} data-testid="tile-news2">
                NEWS2 {t.news2 ? t.news2.total : "–"}
                {t.news2 && t.news2.missing.length > 0 && <small> (partial)</small>}
              </div>
              <ul className="tile-alarms">
                {[...t.alarms.values()].map((a) => (
                  <li key={a.id} className={`alarm alarm-${a.severity}`}>
                    {a.message}
                    {a.state === "acknowledged" ? <small> · acknowledged</small> : null}
                  </li>
                ))}
              </ul>
            </article>
          );
        })}
      </div>
      <h2>Alarms</h2>
      <table className="alarm-table" aria-label="Open alarms">
        <thead>
          <tr><th>Patient</th><th>Alarm</th><th>Severity</th><th>State</th><th>Raised</th><th>For</th><th /></tr>
        </thead>
        <tbody>
          {allAlarms.length === 0 && (
            <tr><td colSpan={7}>No open alarms.</td></tr>
          )}
          {allAlarms.map(({ alarm, tile }) => (
            <tr key={alarm.id} data-testid="alarm-row">
              <td>{tile.tile.display_name}</td>
              <td>{alarm.message}</td>
              <td>{alarm.severity}</td>
              <td>{alarm.state}{alarm.acknowledged_by_name ? ` by ${alarm.acknowledged_by_name}` : ""}</td>
              <td>{new Date(alarm.raised_at).toLocaleTimeString()}</td>
              <td>{alarm.notify_role}</td>
              <td>
                {alarm.state === "raised" && (
                  <button type="button" className="button button-primary" onClick={() => acknowledge(alarm.id)}>
                    Acknowledge
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
