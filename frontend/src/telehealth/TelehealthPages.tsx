import { useCallback, useState } from "react";
import { Link, useParams } from "react-router";
import createClient from "openapi-fetch";
import { describeError } from "../api/errors";
import type { paths } from "../api/types";
import { useAuth } from "../auth/AuthContext";
import { useLoad } from "../patients/hooks";
import { PatientRecord } from "../patients/PatientRecord";
import {
  addVisitNote,
  getConsultation,
  guestJoin,
  inviteGuest,
  joinConsultation,
  listConsultations,
  startRecording,
  stopRecording,
  type Consultation,
  type JoinResponse,
} from "./api";
import type { JoinInfo } from "./call";
import { CallView, DeviceCheck, type CallControls } from "./CallView";
import "./telehealth.css";

function when(c: Consultation): string {
  return new Date(c.start).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function opensText(c: Consultation): string {
  return `Join opens ${new Date(c.join_opens_at).toLocaleTimeString(undefined, { timeStyle: "short" })}`;
}

function ConsultationList({ items, to }: { items: Consultation[]; to: (c: Consultation) => string }) {
  if (items.length === 0) return <p>No video visits in the next two weeks.</p>;
  return (
    <ul className="tele-list">
      {items.map((c) => (
        <li key={c.id}>
          <span>
            <strong>{when(c)}</strong> · {c.type_name} · {c.my_role === "patient" ? c.clinician.display_name : c.patient.display_name} ·{" "}
            <span className="tele-status">{c.status.replace("_", " ")}</span>
          </span>
          {c.can_join ? (
            <Link className="button primary" to={to(c)}>
              Join
            </Link>
          ) : (
            <span className="muted">{c.status === "ended" || c.status === "missed" ? "" : opensText(c)}</span>
          )}
        </li>
      ))}
    </ul>
  );
}

/** The portal's "Video visits": upcoming visits, Join live inside the window. */
export function MyVisitsPage() {
  const { api } = useAuth();
  const list = useLoad((signal) => listConsultations(api, signal), [api]);
  return (
    <div className="page">
      <h1>Video visits</h1>
      {list.status === "error" ? <p role="alert">{describeError(list.error)}</p> : null}
      {list.data ? <ConsultationList items={list.data} to={(c) => `/my/visits/${c.id}`} /> : <p role="status">Loading…</p>}
    </div>
  );
}

function toJoinInfo(j: JoinResponse): JoinInfo {
  return { ...j, ice_servers: j.ice_servers.map((s) => ({ ...s })) };
}

/** Device check, then the call (the waiting room first). */
function JoinFlow({ join, extra }: { join: () => Promise<JoinResponse>; extra?: (c: CallControls) => React.ReactNode }) {
  const [local, setLocal] = useState<MediaStream | null>(null);
  const [info, setInfo] = useState<JoinInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const rejoin = useCallback(async () => toJoinInfo(await join()), [join]);
  if (!local) return <DeviceCheck onReady={(s) => {
    setLocal(s);
    join().then((j) => setInfo(toJoinInfo(j))).catch((err: unknown) => setError(describeError(err)));
  }} />;
  if (error) return <p role="alert">{error}</p>;
  if (!info) return <p role="status">Joining…</p>;
  return <CallView join={info} local={local} rejoin={rejoin} extra={extra} onFinished={() => local.getTracks().forEach((t) => t.stop())} />;
}

export function PatientCallPage() {
  const { id = "" } = useParams();
  const { api } = useAuth();
  const join = useCallback(() => joinConsultation(api, id), [api, id]);
  return (
    <div className="page">
      <h1>Your video visit</h1>
      <JoinFlow join={join} />
    </div>
  );
}

/** Clinician: the day's video visits. */
export function ClinicianVisitsPage() {
  const { api } = useAuth();
  const list = useLoad((signal) => listConsultations(api, signal), [api]);
  return (
    <div className="page">
      <h1>Video visits</h1>
      {list.status === "error" ? <p role="alert">{describeError(list.error)}</p> : null}
      {list.data ? <ConsultationList items={list.data} to={(c) => `/telehealth/${c.id}`} /> : <p role="status">Loading…</p>}
    </div>
  );
}

function ClinicianControls({ id, controls }: { id: string; controls: CallControls }) {
  const { api } = useAuth();
  const { call, snapshot } = controls;
  const [recordingId, setRecordingId] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [invite, setInvite] = useState<string | null>(null);
  const [guestName, setGuestName] = useState("");
  const waiting = snapshot.peers.filter((p) => p.state === "waiting");
  return (
    <section className="tele-clinician" aria-label="Clinician controls">
      <h3>Waiting room</h3>
      {waiting.length === 0 ? <p>Nobody is waiting.</p> : null}
      <ul>
        {waiting.map((p) => (
          <li key={p.peerId}>
            {p.displayName} ({p.role}){" "}
            <button type="button" className="button primary" onClick={() => call.admit(p.peerId)}>
              Admit {p.displayName}
            </button>
          </li>
        ))}
      </ul>
      <div className="tele-controls">
        <button
          type="button"
          className="button"
          disabled={!snapshot.allConsented || snapshot.recording === "recording" || recordingId !== null}
          title={snapshot.allConsented ? "" : "Every participant must consent first"}
          onClick={() =>
            startRecording(api, id)
              .then((r) => {
                setRecordingId(r.id);
                setNote("Recording starts…");
              })
              .catch((err: unknown) => setNote(describeError(err)))
          }
        >
          Start recording
        </button>
        {recordingId ? (
          <button
            type="button"
            className="button"
            onClick={() =>
              stopRecording(api, id, recordingId)
                .then(() => {
                  setRecordingId(null);
                  setNote("Recording stopped.");
                })
                .catch((err: unknown) => setNote(describeError(err)))
            }
          >
            Stop recording
          </button>
        ) : null}
        <button type="button" className="button danger" onClick={() => call.end()} disabled={snapshot.state === "ended"}>
          End visit
        </button>
      </div>
      {note ? <p role="status">{note}</p> : null}
      <form
        className="tele-invite"
        onSubmit={(e) => {
          e.preventDefault();
          if (!guestName.trim()) return;
          inviteGuest(api, id, guestName.trim(), "other")
            .then((inv) => setInvite(`${window.location.origin}${inv.path}`))
            .catch((err: unknown) => setInvite(describeError(err)));
        }}
      >
        <label>
          Invite a guest (interpreter, family) <input value={guestName} onChange={(e) => setGuestName(e.target.value)} placeholder="Name" />
        </label>
        <button type="submit" className="button">
          Create link
        </button>
        {invite ? <output className="tele-link">{invite}</output> : null}
      </form>
    </section>
  );
}

function VisitNotes({ patientId, encounterId }: { patientId: string; encounterId: string }) {
  const { api } = useAuth();
  const [text, setText] = useState("");
  const [saved, setSaved] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      className="tele-notes"
      aria-label="Visit notes"
      onSubmit={(e) => {
        e.preventDefault();
        if (!text.trim()) return;
        addVisitNote(api, patientId, encounterId, text.trim())
          .then(() => {
            setSaved((s) => [...s, text.trim()]);
            setText("");
            setError(null);
          })
          .catch((err: unknown) => setError(describeError(err)));
      }}
    >
      <h3>Visit notes</h3>
      <ul>{saved.map((n, i) => <li key={i}>{n}</li>)}</ul>
      <label>
        Note <textarea value={text} onChange={(e) => setText(e.target.value)} rows={3} />
      </label>
      <button type="submit" className="button primary">
        Save note
      </button>
      {error ? <p role="alert">{error}</p> : null}
    </form>
  );
}

/** Clinician: the call beside the patient's chart, with notes and prescribing. */
export function ClinicianCallPage() {
  const { id = "" } = useParams();
  const { api, permissions } = useAuth();
  const detail = useLoad((signal) => getConsultation(api, id, signal), [api, id]);
  const [encounterId, setEncounterId] = useState<string | null>(null);
  const join = useCallback(async () => {
    const j = await joinConsultation(api, id);
    setEncounterId(j.encounter_id ?? null);
    return j;
  }, [api, id]);
  if (detail.status === "error") return <p role="alert">{describeError(detail.error)}</p>;
  if (!detail.data) return <p role="status">Loading…</p>;
  const c = detail.data;
  return (
    <div className="page tele-clinician-page">
      <h1>
        Video visit with {c.patient.display_name}
      </h1>
      <div className="tele-split">
        <div>
          <JoinFlow join={join} extra={(controls) => <ClinicianControls id={id} controls={controls} />} />
          {encounterId ? <VisitNotes patientId={c.patient.id} encounterId={encounterId} /> : null}
        </div>
        <aside aria-label="Patient chart">
          <PatientRecord
            patientId={c.patient.id}
            clinical={permissions.has("clinical:read")}
            canPrescribe={permissions.has("clinical:prescribe")}
            encounterId={encounterId}
            embedded
          />
        </aside>
      </div>
    </div>
  );
}

/** A guest's page (no account): the one-time link's secret is in the URL fragment. */
export function GuestVisitPage() {
  const token = window.location.hash.replace(/^#/, "");
  const join = useCallback(async () => {
    const api = createClient<paths>({ baseUrl: window.location.origin });
    const key = `hh-guest-resume:${token.slice(0, 12)}`;
    const answer = await guestJoin(api, token, sessionStorage.getItem(key));
    if (answer.resume_key) sessionStorage.setItem(key, answer.resume_key);
    return answer;
  }, [token]);
  return (
    <main className="page">
      <h1>Join a video visit as a guest</h1>
      {token ? <JoinFlow join={join} /> : <p role="alert">This link is incomplete.</p>}
    </main>
  );
}
