import { useEffect, useRef, useState } from "react";
import { Link, useParams } from "react-router";
import type uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { unwrap } from "../api/client";
import { useAuth } from "../auth/AuthContext";
import { Icon } from "../components/Icon";
import { openFeed, SERIES_LABEL, type FeedEvent, type FeedStatus } from "./feed";
import { MonitorSetup } from "./MonitorSetup";
import "./monitoring.css";

const SERIES = ["hr", "spo2", "rr", "sbp", "temp"] as const;
const ECG_SECONDS = 6;

/** One patient: a live ECG strip and downsampled charts (min/max/mean) of the last hours. */
export function PatientMonitorPage() {
  const { id = "" } = useParams();
  const { api } = useAuth();
  const [hours, setHours] = useState(6);
  const [status, setStatus] = useState<FeedStatus>("connecting");
  const canvas = useRef<HTMLCanvasElement | null>(null);
  const samples = useRef<number[]>([]);
  const rate = useRef(360);

  useEffect(() => {
    unwrap(api.GET("/api/monitoring/patients/{patient_id}/ecg", { params: { path: { patient_id: id }, query: { seconds: ECG_SECONDS } } }))
      .then((ecg) => {
        for (const s of ecg.segments) {
          rate.current = Math.round(1000 / s.period_ms);
          samples.current.push(...s.data.split(" ").map(Number));
        }
      })
      .catch(() => undefined);
    const onEvent = (event: FeedEvent) => {
      if (event.type === "ecg") {
        rate.current = Math.round(1000 / event.ecg.period_ms);
        samples.current.push(...event.ecg.data.split(" ").map(Number));
        const keep = rate.current * ECG_SECONDS;
        if (samples.current.length > keep) samples.current.splice(0, samples.current.length - keep);
      }
    };
    const stop = openFeed(api, [id], 0, onEvent, setStatus, { ecg: true });
    let frame = 0;
    const draw = () => {
      const el = canvas.current;
      const ctx = el?.getContext("2d");
      if (el && ctx) {
        const data = samples.current;
        ctx.clearRect(0, 0, el.width, el.height);
        ctx.strokeStyle = "#1a7f37";
        ctx.beginPath();
        const n = rate.current * ECG_SECONDS;
        data.forEach((v, i) => {
          const x = (i / n) * el.width;
          const y = el.height / 2 - (Number.isFinite(v) ? v : 0) * (el.height / 4);
          if (i === 0) ctx.moveTo(x, y);
          else ctx.lineTo(x, y);
        });
        ctx.stroke();
      }
      frame = requestAnimationFrame(draw);
    };
    frame = requestAnimationFrame(draw);
    return () => {
      stop();
      cancelAnimationFrame(frame);
    };
  }, [api, id]);

  return (
    <section className="page page-wide" aria-labelledby="pm-title">
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name="activity" size={26} />
        </span>
        <div className="page-header-text">
          <h1 id="pm-title">Patient monitor</h1>
          <p>
            <Link to={`/patients/${id}`}>Open the chart</Link>
          </p>
          <p className="lead">
            Live ECG and vital-sign history. <span className={`feed-status feed-${status}`}>{status}</span>
          </p>
        </div>
        <label>
          Range{" "}
          <select value={hours} onChange={(e) => setHours(Number(e.target.value))} aria-label="Range">
            <option value={1}>1 hour</option>
            <option value={6}>6 hours</option>
            <option value={24}>24 hours</option>
            <option value={24 * 7}>7 days</option>
            <option value={24 * 30}>30 days</option>
          </select>
        </label>
      </header>
      <h2>ECG</h2>
      <canvas ref={canvas} className="ecg-strip" width={1000} height={140} aria-label="Live ECG strip" />
      <h2>Vital signs</h2>
      <div className="vitals-charts">
        {SERIES.map((s) => (
          <HistoryChart key={s} patientId={id} series={s} hours={hours} />
        ))}
      </div>
      <MonitorSetup patientId={id} />
    </section>
  );
}

function HistoryChart({ patientId, series, hours }: { patientId: string; series: (typeof SERIES)[number]; hours: number }) {
  const { api } = useAuth();
  const box = useRef<HTMLDivElement | null>(null);
  useEffect(() => {
    let plot: uPlot | null = null;
    let cancelled = false;
    const end = new Date();
    const start = new Date(end.getTime() - hours * 3_600_000);
    unwrap(
      api.GET("/api/monitoring/patients/{patient_id}/history", {
        params: { path: { patient_id: patientId }, query: { series, start: start.toISOString(), end: end.toISOString() } },
      }),
    ).then(async (history) => {
      // Loaded on demand: uPlot measures the screen when it is imported.
      const { default: UPlot } = await import("uplot");
      if (cancelled || !box.current) return;
      const xs = history.buckets.map((b) => new Date(b.start).getTime() / 1000);
      plot = new UPlot(
        {
          title: `${SERIES_LABEL[series]} (${history.unit}, ${history.bucket_seconds} s buckets)`,
          width: 420,
          height: 180,
          series: [
            {},
            { label: "min", stroke: "#8c959f" },
            { label: "mean", stroke: "#0969da", width: 2 },
            { label: "max", stroke: "#8c959f" },
          ],
        },
        [xs, history.buckets.map((b) => b.min), history.buckets.map((b) => b.mean), history.buckets.map((b) => b.max)],
        box.current,
      );
    }, () => undefined);
    return () => {
      cancelled = true;
      plot?.destroy();
    };
  }, [api, patientId, series, hours]);
  return <div ref={box} data-testid={`chart-${series}`} />;
}
