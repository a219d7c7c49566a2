import { Link, useParams } from "react-router";
import { useAuth } from "../auth/AuthContext";
import { isPortalUser } from "../nav";
import { PatientRecord } from "./PatientRecord";

/** /patients/:id — the chart for clinicians, demographics only for everyone else. */
export function ChartPage() {
  const { id = "" } = useParams();
  const { permissions } = useAuth();
  return (
    <>
      {permissions.has("monitoring:read") && (
        <p className="chart-monitor-link">
          <Link to={`/monitoring/patients/${id}`}>Remote monitoring: live vitals, devices, NEWS2 inputs</Link>
        </p>
      )}
      <PatientRecord
        key={id}
        patientId={id}
        clinical={permissions.has("clinical:read")}
        canPrescribe={permissions.has("clinical:prescribe")}
      />
    </>
  );
}

/** The portal's "My health": the patient's own chart, read-only. */
export function MyHealth() {
  const { user, permissions } = useAuth();
  if (!user || !isPortalUser(permissions)) return null;
  if (!user.patient_id) {
    return (
      <p className="notice">
        Your account is not linked to a patient record yet. Please ask reception to link it at your next visit.
      </p>
    );
  }
  return <PatientRecord patientId={user.patient_id} clinical canPrescribe={false} readOnly embedded />;
}
