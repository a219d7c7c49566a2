import { useState, type FormEvent } from "react";
import { unwrap } from "../api/client";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthContext";
import { Icon } from "../components/Icon";
import { useLoad } from "../patients/hooks";

/** The portal: enter a blood-pressure reading from a home cuff; see what was recorded. */
export function MyReadingsPage() {
  const { api, user } = useAuth();
  const patientId = user?.patient_id ?? "";
  const [tick, setTick] = useState(0);
  const [systolic, setSystolic] = useState("");
  const [diastolic, setDiastolic] = useState("");
  const [pulse, setPulse] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const readings = useLoad(
    () =>
      unwrap(
        api.GET("/api/monitoring/patients/{patient_id}/readings", {
          params: { path: { patient_id: patientId }, query: { metric: "bp", limit: 20 } },
        }),
      ),
    [api, patientId, tick],
    Boolean(patientId),
  );

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      await unwrap(
        api.POST("/api/monitoring/patients/{patient_id}/blood-pressure", {
          params: { path: { patient_id: patientId } },
          body: {
            systolic: Number(systolic),
            diastolic: Number(diastolic),
            pulse: pulse ? Number(pulse) : null,
            client_id: crypto.randomUUID(),
          },
        }),
      );
      setMessage("Saved. Your care team can see it.");
      setSystolic("");
      setDiastolic("");
      setPulse("");
      setTick((t) => t + 1);
    } catch (err) {
      setMessage(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="page" aria-labelledby="readings-title">
      <header className="page-header">
        <span className="page-icon" aria-hidden="true">
          <Icon name="heart" size={26} />
        </span>
        <div className="page-header-text">
          <h1 id="readings-title">My readings</h1>
          <p className="lead">Enter a blood-pressure reading from your home monitor.</p>
        </div>
      </header>
      {!patientId && <p>Your account is not linked to a patient record yet.</p>}
      <form onSubmit={submit} className="form-grid" aria-label="Blood pressure">
        <label>
          Systolic (upper, mmHg)
          <input type="number" min={40} max={300} required value={systolic} onChange={(e) => setSystolic(e.target.value)} />
        </label>
        <label>
          Diastolic (lower, mmHg)
          <input type="number" min={20} max={200} required value={diastolic} onChange={(e) => setDiastolic(e.target.value)} />
        </label>
        <label>
          Pulse (optional, per minute)
          <input type="number" min={20} max={250} value={pulse} onChange={(e) => setPulse(e.target.value)} />
        </label>
        <button type="submit" className="button button-primary" disabled={busy || !patientId}>
          Save reading
        </button>
      </form>
      {message && <p role="status">{message}</p>}
      <h2>Recent blood pressure</h2>
      <ul data-testid="my-readings">
        {(readings.data?.items ?? []).map((r) => (
          <li key={r.id}>
            {new Date(r.effective_at).toLocaleString()}: {r.value}/{r.value2} mmHg ({r.source === "portal" ? "you" : r.source})
          </li>
        ))}
      </ul>
    </section>
  );
}
