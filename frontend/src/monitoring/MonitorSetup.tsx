import { useState, type FormEvent } from "react";
import { unwrap } from "../api/client";
import { describeError } from "../api/errors";
import type { components } from "../api/schema";
import { useAuth } from "../auth/AuthContext";
import { useLoad } from "../patients/hooks";

type Device = components["schemas"]["DeviceRead"];
type Profile = components["schemas"]["ProfileRead"];
type Threshold = components["schemas"]["ThresholdRead"];
type SeriesName = components["schemas"]["ThresholdItem"]["series"];

const LIMITS: { series: SeriesName; label: string }[] = [
  { series: "hr", label: "Heart rate (/min)" },
  { series: "rr", label: "Respiratory rate (/min)" },
  { series: "spo2", label: "SpO₂ (%)" },
  { series: "sbp", label: "Systolic BP (mmHg)" },
  { series: "temp", label: "Temperature (°C)" },
];

/** A nurse's side of monitoring one patient: devices and their tokens, ward and the NEWS2
 * inputs no device measures (ACVPU, oxygen, SpO2 scale 2), alarm thresholds. */
export function MonitorSetup({ patientId }: { patientId: string }) {
  const { api, permissions } = useAuth();
  const canWrite = permissions.has("monitoring:write");
  const [tick, setTick] = useState(0);
  const [message, setMessage] = useState<string | null>(null);
  const [newToken, setNewToken] = useState<string | null>(null);
  const [label, setLabel] = useState("");
  const path = { path: { patient_id: patientId } };
  const devices = useLoad(() => unwrap(api.GET("/api/monitoring/patients/{patient_id}/devices", { params: path })), [api, patientId, tick]);
  const profile = useLoad(() => unwrap(api.GET("/api/monitoring/patients/{patient_id}/profile", { params: path })), [api, patientId, tick]);
  const thresholds = useLoad(() => unwrap(api.GET("/api/monitoring/patients/{patient_id}/thresholds", { params: path })), [api, patientId, tick]);

  const run = async (work: () => Promise<unknown>, done: string) => {
    setMessage(null);
    try {
      await work();
      setMessage(done);
      setTick((t) => t + 1);
    } catch (err) {
      setMessage(describeError(err));
    }
  };

  const register = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      const device = await unwrap(
        api.POST("/api/monitoring/patients/{patient_id}/devices", { params: path, body: { label: label || "Monitor", kind: "monitor" } }),
      );
      setNewToken(device.token);
      setLabel("");
    }, "Device registered. Copy its token now: it is not shown again.");
  };

  const revoke = (device: Device) =>
    run(() => unwrap(api.POST("/api/monitoring/devices/{device_id}/revoke", { params: { path: { device_id: device.id } } })), `${device.label} revoked.`);

  const saveProfile = (changes: Partial<Profile>) =>
    run(() => unwrap(api.PATCH("/api/monitoring/patients/{patient_id}/profile", { params: path, body: changes })), "Saved.");

  const saveThresholds = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const items = LIMITS.flatMap(({ series }) => {
      const low = String(data.get(`${series}-low`) ?? "").trim();
      const high = String(data.get(`${series}-high`) ?? "").trim();
      if (!low && !high) return [];
      return [{ series, low: low || null, high: high || null }];
    });
    void run(() => unwrap(api.PUT("/api/monitoring/patients/{patient_id}/thresholds", { params: path, body: { thresholds: items } })), "Thresholds saved.");
  };

  const p = profile.data;
  const limits = new Map<string, Threshold>((thresholds.data ?? []).map((t) => [t.series, t]));
  return (
    <div className="monitor-setup">
      {message && <p role="status">{message}</p>}
      <section aria-labelledby="devices-title">
        <h2 id="devices-title">Devices</h2>
        <ul>
          {(devices.data ?? []).map((d) => (
            <li key={d.id}>
              {d.label} ({d.token_hint}…) {d.revoked_at ? "revoked" : d.last_seen_at ? `last seen ${new Date(d.last_seen_at).toLocaleString()}` : "not seen yet"}{" "}
              {canWrite && !d.revoked_at && (
                <button type="button" className="button" onClick={() => void revoke(d)}>
                  Revoke
                </button>
              )}
            </li>
          ))}
        </ul>
        {canWrite && (
          <form onSubmit={register} aria-label="Register a device">
            <label>
              Label <input value={label} onChange={(e) => setLabel(e.target.value)} maxLength={120} placeholder="Bedside monitor" />
            </label>{" "}
            <button type="submit" className="button button-primary">
              Register device
            </button>
          </form>
        )}
        {newToken && (
          <p className="notice">
            Device token (shown once): <code data-testid="device-token">{newToken}</code>
          </p>
        )}
      </section>
      {p && (
        <section aria-labelledby="news2-inputs-title">
          <h2 id="news2-inputs-title">Ward and NEWS2 inputs</h2>
          <div className="form-grid">
            <label>
              Ward <input defaultValue={p.ward ?? ""} onBlur={(e) => canWrite && e.target.value !== (p.ward ?? "") && void saveProfile({ ward: e.target.value })} disabled={!canWrite} />
            </label>
            <label>
              Bed <input defaultValue={p.bed ?? ""} onBlur={(e) => canWrite && e.target.value !== (p.bed ?? "") && void saveProfile({ bed: e.target.value })} disabled={!canWrite} />
            </label>
            <label>
              Consciousness (ACVPU){" "}
              <select value={p.consciousness ?? ""} disabled={!canWrite} onChange={(e) => void saveProfile({ consciousness: e.target.value as Profile["consciousness"] })}>
                <option value="" disabled>
                  not recorded
                </option>
                <option value="A">Alert</option>
                <option value="C">New confusion</option>
                <option value="V">Voice</option>
                <option value="P">Pain</option>
                <option value="U">Unresponsive</option>
              </select>
            </label>
            <label>
              Supplemental oxygen{" "}
              <select value={p.on_oxygen === null ? "" : p.on_oxygen ? "yes" : "no"} disabled={!canWrite} onChange={(e) => void saveProfile({ on_oxygen: e.target.value === "yes" })}>
                <option value="" disabled>
                  not recorded
                </option>
                <option value="no">Air</option>
                <option value="yes">Oxygen</option>
              </select>
            </label>
            <label>
              <input type="checkbox" checked={p.hypercapnic} disabled={!canWrite} onChange={(e) => void saveProfile({ hypercapnic: e.target.checked })} /> SpO₂ scale 2
              (hypercapnic respiratory failure)
            </label>
          </div>
        </section>
      )}
      {thresholds.data && (
        <section aria-labelledby="thresholds-title">
          <h2 id="thresholds-title">Alarm thresholds</h2>
          <form onSubmit={saveThresholds} key={tick} className="thresholds">
            {LIMITS.map(({ series, label: name }) => (
              <div key={series}>
                {name}: below <input name={`${series}-low`} type="number" step="any" defaultValue={limits.get(series)?.low ?? ""} disabled={!canWrite} aria-label={`${name} low`} /> or above{" "}
                <input name={`${series}-high`} type="number" step="any" defaultValue={limits.get(series)?.high ?? ""} disabled={!canWrite} aria-label={`${name} high`} />
              </div>
            ))}
            {canWrite && (
              <button type="submit" className="button button-primary">
                Save thresholds
              </button>
            )}
          </form>
        </section>
      )}
    </div>
  );
}
