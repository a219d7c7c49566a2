import { useEffect, useRef, useState } from "react";
import { Call, type CallSnapshot, type JoinInfo, type RemotePeer } from "./call";

/** A <video> bound to a MediaStream (React cannot set srcObject as an attribute). */
export function StreamVideo({ stream, muted, label }: { stream: MediaStream | null; muted?: boolean; label: string }) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    if (ref.current && ref.current.srcObject !== stream) ref.current.srcObject = stream;
  }, [stream]);
  return <video ref={ref} autoPlay playsInline muted={muted} aria-label={label} className="tele-video" />;
}

/** Camera and microphone preview before joining: pick up the devices, show the picture. */
export function DeviceCheck({ onReady }: { onReady: (stream: MediaStream) => void }) {
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let cancelled = false;
    navigator.mediaDevices
      .getUserMedia({ video: { width: 640, height: 480 }, audio: true })
      .then((s) => {
        if (cancelled) s.getTracks().forEach((t) => t.stop());
        else setStream(s);
      })
      .catch((err: unknown) => setError(err instanceof Error ? err.message : "No camera or microphone"));
    return () => {
      cancelled = true;
    };
  }, []);
  return (
    <section className="tele-device-check" aria-label="Device check">
      <h2>Check your camera and microphone</h2>
      {error ? <p role="alert">We could not use your camera or microphone: {error}</p> : null}
      <StreamVideo stream={stream} muted label="Your camera preview" />
      <p>{stream ? `Camera: ${stream.getVideoTracks()[0]?.label || "ready"}. Microphone: ${stream.getAudioTracks()[0]?.label || "ready"}.` : "Starting your camera…"}</p>
      <button type="button" className="button primary" disabled={!stream} onClick={() => stream && onReady(stream)}>
        Join the visit
      </button>
    </section>
  );
}

function qualityText(peer: RemotePeer): string {
  if (!peer.quality) return peer.connection === "connected" ? "connected" : String(peer.connection);
  const q = peer.quality;
  const parts = [`${q.label}`];
  if (q.roundTripMs !== null) parts.push(`${Math.round(q.roundTripMs)} ms`);
  if (q.framesPerSecond !== null) parts.push(`${Math.round(q.framesPerSecond)} fps`);
  return parts.join(", ");
}

export interface CallControls {
  call: Call;
  snapshot: CallSnapshot;
}

/**
 * The call: remote videos with their connection quality, the self view, mute / camera / leave,
 * chat, consent to recording; the waiting room while not admitted. `extra` renders the
 * clinician's controls (waiting list, admit, record, end) from the live call.
 */
export function CallView({
  join,
  local,
  rejoin,
  onFinished,
  extra,
}: {
  join: JoinInfo;
  local: MediaStream;
  rejoin: () => Promise<JoinInfo>;
  onFinished?: (state: CallSnapshot["state"]) => void;
  extra?: (c: CallControls) => React.ReactNode;
}) {
  const [snapshot, setSnapshot] = useState<CallSnapshot | null>(null);
  const callRef = useRef<Call | null>(null);
  const [muted, setMuted] = useState(false);
  const [cameraOff, setCameraOff] = useState(false);
  const [message, setMessage] = useState("");
  const [consented, setConsented] = useState(false);
  const finished = useRef(onFinished);
  finished.current = onFinished;

  useEffect(() => {
    const call = new Call(join, local, (s) => {
      setSnapshot(s);
      if (s.state === "ended" || s.state === "left") finished.current?.(s.state);
    }, rejoin);
    callRef.current = call;
    call.start();
    return () => call.dispose();
  }, [join.peer_id]);

  const call = callRef.current;
  if (!snapshot || !call) return <p role="status">Connecting to the visit…</p>;
  const inCall = snapshot.peers.filter((p) => p.state === "admitted");

  return (
    <section className="tele-call" aria-label="Video visit">
      {snapshot.state === "waiting" ? (
        <p className="notice" role="status">
          You are in the waiting room. The clinician will let you in shortly.
        </p>
      ) : null}
      {snapshot.state === "ended" ? <p role="status">The visit has ended.</p> : null}
      {snapshot.state === "left" ? <p role="status">You left the visit.</p> : null}
      {snapshot.error ? <p role="alert">{snapshot.error}</p> : null}
      {snapshot.recording === "recording" ? <p className="tele-recording">● Recording</p> : null}
      <div className="tele-videos">
        {inCall.map((peer) => (
          <figure
            key={peer.peerId}
            className="tele-remote"
            data-peer={peer.peerId}
            data-frames-decoded={peer.quality?.framesDecoded ?? 0}
          >
            <StreamVideo stream={peer.stream} label={`Video of ${peer.displayName}`} />
            <figcaption>
              {peer.displayName} ({peer.role}) · <span className="tele-quality">{qualityText(peer)}</span>
            </figcaption>
          </figure>
        ))}
        <figure className="tele-self">
          <StreamVideo stream={local} muted label="Your camera" />
          <figcaption>You</figcaption>
        </figure>
      </div>
      <div className="tele-controls" role="toolbar" aria-label="Call controls">
        <button
          type="button"
          className="button"
          aria-pressed={muted}
          onClick={() => {
            local.getAudioTracks().forEach((t) => (t.enabled = muted));
            setMuted(!muted);
          }}
        >
          {muted ? "Unmute" : "Mute"}
        </button>
        <button
          type="button"
          className="button"
          aria-pressed={cameraOff}
          onClick={() => {
            local.getVideoTracks().forEach((t) => (t.enabled = cameraOff));
            setCameraOff(!cameraOff);
          }}
        >
          {cameraOff ? "Camera on" : "Camera off"}
        </button>
        <button type="button" className="button danger" onClick={() => call.leave()} disabled={snapshot.state === "ended" || snapshot.state === "left"}>
          Leave
        </button>
        <label className="tele-consent">
          <input
            type="checkbox"
            checked={consented}
            disabled={snapshot.state !== "in-call"}
            onChange={(e) => {
              setConsented(e.target.checked);
              call.setConsent(e.target.checked);
            }}
          />{" "}
          I agree to this visit being recorded
        </label>
      </div>
      {extra ? extra({ call, snapshot }) : null}
      {snapshot.state === "in-call" ? (
        <section className="tele-chat" aria-label="Chat">
          <h3>Chat</h3>
          <ul>
            {snapshot.chat.map((line) => (
              <li key={line.id}>
                <strong>{line.displayName}:</strong> {line.text}
              </li>
            ))}
          </ul>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              if (message.trim()) call.sendChat(message);
              setMessage("");
            }}
          >
            <label>
              Message <input value={message} onChange={(e) => setMessage(e.target.value)} maxLength={2000} />
            </label>
            <button type="submit" className="button">
              Send
            </button>
          </form>
        </section>
      ) : null}
    </section>
  );
}
