// A consultation call in the browser: the signaling protocol (docs/signaling.md) over a WebSocket
// and one RTCPeerConnection per other participant. Peer to peer; the peer that is admitted into
// the call offers to everyone already in it. A connection that fails restarts ICE (the offering
// side sends a new offer with iceRestart); a dropped socket reconnects with a fresh join token
// and resumes its place. No React here: CallView renders what `onChange` reports.

export interface IceServerSpec {
  urls: string[];
  username?: string | null;
  credential?: string | null;
}

export interface JoinInfo {
  token: string;
  signaling_url: string;
  ice_servers: IceServerSpec[];
  peer_id: string;
  role: string;
  display_name: string;
}

export interface RemotePeer {
  peerId: string;
  role: string;
  displayName: string;
  state: "waiting" | "admitted";
  stream: MediaStream | null;
  connection: RTCPeerConnectionState | "new";
  quality: Quality | null;
}

export interface Quality {
  framesDecoded: number;
  framesPerSecond: number | null;
  packetsLost: number;
  jitterMs: number | null;
  roundTripMs: number | null;
  label: "good" | "fair" | "poor";
}

export interface ChatLine {
  id: string;
  from: string;
  displayName: string;
  text: string;
  sentAt: string;
}

export type CallState = "connecting" | "waiting" | "in-call" | "ended" | "left" | "error";

export interface CallSnapshot {
  state: CallState;
  me: string;
  role: string;
  peers: RemotePeer[];
  chat: ChatLine[];
  consent: Record<string, boolean>;
  allConsented: boolean;
  recording: string | null;
  error: string | null;
}

type Frame = Record<string, unknown> & { type: string };

export function wsUrl(url: string, token: string, origin: string = window.location.origin): string {
  const absolute = url.startsWith("/") ? origin.replace(/^http/, "ws") + url : url;
  return `${absolute}${absolute.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
}

export function qualityLabel(q: Omit<Quality, "label">): Quality["label"] {
  if ((q.roundTripMs ?? 0) > 400 || (q.jitterMs ?? 0) > 100 || (q.framesPerSecond ?? 30) < 5) return "poor";
  if ((q.roundTripMs ?? 0) > 150 || (q.jitterMs ?? 0) > 30 || (q.framesPerSecond ?? 30) < 12) return "fair";
  return "good";
}

export class Call {
  private ws: WebSocket | null = null;
  private pcs = new Map<string, RTCPeerConnection>();
  private peers = new Map<string, RemotePeer>();
  private offerer = new Set<string>(); // peers this side offered to (it restarts their ICE)
  private chat: ChatLine[] = [];
  private consent: Record<string, boolean> = {};
  private allConsented = false;
  private recording: string | null = null;
  private state: CallState = "connecting";
  private error: string | null = null;
  private me = "";
  private pinger: number | undefined;
  private statsTimer: number | undefined;
  private closing = false;
  private reconnects = 0;

  constructor(
    private join: JoinInfo,
    private local: MediaStream,
    private onChange: (s: CallSnapshot) => void,
    private rejoin: () => Promise<JoinInfo>,
  ) {
    this.me = join.peer_id;
  }

  snapshot(): CallSnapshot {
    return {
      state: this.state,
      me: this.me,
      role: this.join.role,
      peers: [...this.peers.values()],
      chat: [...this.chat],
      consent: { ...this.consent },
      allConsented: this.allConsented,
      recording: this.recording,
      error: this.error,
    };
  }

  private changed() {
    this.onChange(this.snapshot());
  }

  start() {
    this.closing = false;
    const ws = new WebSocket(wsUrl(this.join.signaling_url, this.join.token));
    this.ws = ws;
    ws.onmessage = (ev) => {
      let frame: Frame;
      try {
        frame = JSON.parse(String(ev.data)) as Frame;
      } catch {
        return;
      }
      void this.handle(frame);
    };
    ws.onclose = (ev) => void this.closed(ev.code);
    window.clearInterval(this.pinger);
    this.pinger = window.setInterval(() => this.send({ type: "ping" }), 10_000);
    window.clearInterval(this.statsTimer);
    this.statsTimer = window.setInterval(() => void this.collectStats(), 2_000);
  }

  private async closed(code: number) {
    if (this.closing || this.state === "ended" || this.state === "left") return;
    if (code === 4410) {
      this.finish("ended");
      return;
    }
    if (code === 4409) return; // another tab took over
    // A dropped socket: get a fresh token (the old one may have expired) and resume the place.
    if (this.reconnects >= 5) {
      this.error = "The connection to the visit was lost.";
      this.finish("error");
      return;
    }
    this.reconnects += 1;
    await new Promise((r) => window.setTimeout(r, 500 * this.reconnects));
    try {
      this.join = await this.rejoin();
      this.start();
    } catch (err) {
      this.error = err instanceof Error ? err.message : "Could not rejoin the visit.";
      this.finish("error");
    }
  }

  send(frame: Frame) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private upsert(frame: Frame) {
    const id = String(frame.peer_id);
    const old = this.peers.get(id);
    this.peers.set(id, {
      peerId: id,
      role: String(frame.role ?? old?.role ?? ""),
      displayName: String(frame.display_name ?? old?.displayName ?? ""),
      state: (frame.state as RemotePeer["state"]) ?? old?.state ?? "admitted",
      stream: old?.stream ?? null,
      connection: old?.connection ?? "new",
      quality: old?.quality ?? null,
    });
  }

  private async handle(frame: Frame) {
    switch (frame.type) {
      case "welcome":
        this.me = String(frame.peer_id);
        this.reconnects = 0;
        this.state = frame.state === "admitted" ? "in-call" : "waiting";
        break;
      case "peers": {
        for (const p of (frame.peers as Frame[]) ?? []) {
          this.upsert(p);
          if (p.state === "admitted" && this.state === "in-call") await this.offer(String(p.peer_id), false);
        }
        break;
      }
      case "peer-joined":
        this.upsert(frame);
        break;
      case "admitted":
        if (frame.peer_id === this.me) this.state = "in-call";
        else this.upsert({ ...frame, state: "admitted" });
        break;
      case "peer-left":
        this.drop(String(frame.peer_id));
        break;
      case "offer":
        await this.answer(String(frame.from), String(frame.sdp));
        break;
      case "answer": {
        const pc = this.pcs.get(String(frame.from));
        if (pc && pc.signalingState === "have-local-offer") {
          await pc.setRemoteDescription({ type: "answer", sdp: String(frame.sdp) });
        }
        break;
      }
      case "candidate": {
        const pc = this.pcs.get(String(frame.from));
        if (pc && frame.candidate) {
          try {
            await pc.addIceCandidate(frame.candidate as RTCIceCandidateInit);
          } catch {
            /* a candidate for an old generation */
          }
        }
        break;
      }
      case "chat":
        this.chat.push({
          id: String(frame.id),
          from: String(frame.from),
          displayName: String(frame.display_name),
          text: String(frame.text),
          sentAt: String(frame.sent_at),
        });
        break;
      case "consent":
        this.consent[String(frame.peer_id)] = Boolean(frame.given);
        this.allConsented = Boolean(frame.all_consented);
        break;
      case "recording":
        this.recording = String(frame.status);
        break;
      case "ended":
        this.finish("ended");
        return;
      case "error":
        this.error = String(frame.message ?? frame.code);
        break;
    }
    this.changed();
  }

  private connection(remote: string): RTCPeerConnection {
    this.pcs.get(remote)?.close();
    const pc = new RTCPeerConnection({ iceServers: this.join.ice_servers.map((s) => ({ ...s, username: s.username ?? undefined, credential: s.credential ?? undefined })) });
    this.pcs.set(remote, pc);
    pc.onicecandidate = (ev) => {
      if (ev.candidate) this.send({ type: "candidate", to: remote, candidate: ev.candidate.toJSON() });
    };
    pc.ontrack = (ev) => {
      const peer = this.peers.get(remote);
      if (!peer) return;
      const stream = peer.stream ?? new MediaStream();
      if (!stream.getTracks().includes(ev.track)) stream.addTrack(ev.track);
      this.peers.set(remote, { ...peer, stream });
      this.changed();
    };
    pc.onconnectionstatechange = () => {
      const peer = this.peers.get(remote);
      if (peer) this.peers.set(remote, { ...peer, connection: pc.connectionState });
      if (pc.connectionState === "failed" && this.offerer.has(remote)) void this.restartIce(remote);
      this.changed();
    };
    return pc;
  }

  private async offer(remote: string, restart: boolean) {
    const pc = restart ? this.pcs.get(remote)! : this.connection(remote);
    if (!restart) for (const track of this.local.getTracks()) pc.addTrack(track, this.local);
    this.offerer.add(remote);
    await pc.setLocalDescription(await pc.createOffer(restart ? { iceRestart: true } : {}));
    this.send({ type: "offer", to: remote, sdp: pc.localDescription!.sdp, restart });
  }

  private async restartIce(remote: string) {
    if (!this.pcs.has(remote)) return;
    await this.offer(remote, true);
  }

  private async answer(remote: string, sdp: string) {
    let pc = this.pcs.get(remote);
    const renegotiating = pc && pc.signalingState === "stable" && pc.connectionState !== "closed";
    if (!pc || !renegotiating) pc = this.connection(remote);
    if (!this.peers.has(remote)) this.upsert({ type: "peer", peer_id: remote, state: "admitted" });
    await pc.setRemoteDescription({ type: "offer", sdp });
    const sending = pc.getSenders().some((s) => s.track);
    if (!sending) for (const track of this.local.getTracks()) pc.addTrack(track, this.local);
    await pc.setLocalDescription(await pc.createAnswer());
    this.send({ type: "answer", to: remote, sdp: pc.localDescription!.sdp });
  }

  private drop(remote: string) {
    this.pcs.get(remote)?.close();
    this.pcs.delete(remote);
    this.offerer.delete(remote);
    this.peers.delete(remote);
  }

  private async collectStats() {
    for (const [remote, pc] of this.pcs) {
      const peer = this.peers.get(remote);
      if (!peer) continue;
      const report = await pc.getStats();
      let framesDecoded = 0;
      let fps: number | null = null;
      let lost = 0;
      let jitter: number | null = null;
      let rtt: number | null = null;
      report.forEach((s: Record<string, unknown>) => {
        if (s.type === "inbound-rtp" && s.kind === "video") {
          framesDecoded += Number(s.framesDecoded ?? 0);
          fps = s.framesPerSecond === undefined ? fps : Number(s.framesPerSecond);
        }
        if (s.type === "inbound-rtp") {
          lost += Number(s.packetsLost ?? 0);
          if (s.jitter !== undefined) jitter = Math.max(jitter ?? 0, Number(s.jitter) * 1000);
        }
        if (s.type === "candidate-pair" && s.state === "succeeded" && s.currentRoundTripTime !== undefined) {
          rtt = Number(s.currentRoundTripTime) * 1000;
        }
      });
      const q = { framesDecoded, framesPerSecond: fps, packetsLost: lost, jitterMs: jitter, roundTripMs: rtt };
      this.peers.set(remote, { ...peer, quality: { ...q, label: qualityLabel(q) } });
    }
    if (this.pcs.size) this.changed();
  }

  admit(peerId: string) {
    this.send({ type: "admit", peer_id: peerId });
  }

  sendChat(text: string) {
    this.send({ type: "chat", text });
  }

  setConsent(given: boolean) {
    this.send({ type: "consent", given });
  }

  end() {
    this.send({ type: "end" });
  }

  leave() {
    this.send({ type: "leave" });
    this.finish("left");
  }

  private finish(state: CallState) {
    this.closing = true;
    this.state = state;
    window.clearInterval(this.pinger);
    window.clearInterval(this.statsTimer);
    for (const pc of this.pcs.values()) pc.close();
    this.pcs.clear();
    this.ws?.close();
    this.changed();
  }

  dispose() {
    if (this.state !== "ended" && this.state !== "left") this.finish("left");
  }
}
