// The call's protocol logic against fake WebSocket and RTCPeerConnection objects: who offers,
// answering, relaying candidates, and restarting ICE when a connection fails.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Call, type CallSnapshot, type JoinInfo } from "./call";

class FakeSocket {
  static last: FakeSocket | null = null;
  static OPEN = 1;
  readyState = 1;
  sent: Record<string, unknown>[] = [];
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  constructor(public url: string) {
    FakeSocket.last = this;
  }
  send(text: string) {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }
  close() {
    this.readyState = 3;
  }
  receive(frame: Record<string, unknown>) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}

class FakePeerConnection {
  static all: FakePeerConnection[] = [];
  signalingState = "stable";
  connectionState = "new";
  localDescription: { type: string; sdp: string } | null = null;
  offers: { iceRestart?: boolean }[] = [];
  remote: { type: string; sdp: string }[] = [];
  tracks: unknown[] = [];
  candidates: unknown[] = [];
  onicecandidate: ((ev: { candidate: { toJSON: () => unknown } | null }) => void) | null = null;
  ontrack: ((ev: unknown) => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  constructor(public config: unknown) {
    FakePeerConnection.all.push(this);
  }
  addTrack(track: unknown) {
    this.tracks.push(track);
  }
  getSenders() {
    return this.tracks.map((track) => ({ track }));
  }
  async createOffer(options: { iceRestart?: boolean } = {}) {
    this.offers.push(options);
    return { type: "offer", sdp: `offer-${this.offers.length}${options.iceRestart ? "-restart" : ""}` };
  }
  async createAnswer() {
    return { type: "answer", sdp: "answer-1" };
  }
  async setLocalDescription(d: { type: string; sdp: string }) {
    this.localDescription = d;
    this.signalingState = d.type === "offer" ? "have-local-offer" : "stable";
  }
  async setRemoteDescription(d: { type: string; sdp: string }) {
    this.remote.push(d);
    this.signalingState = d.type === "offer" ? "have-remote-offer" : "stable";
  }
  async addIceCandidate(c: unknown) {
    this.candidates.push(c);
  }
  async getStats() {
    return new Map();
  }
  close() {
    this.connectionState = "closed";
  }
}

const JOIN: JoinInfo = {
  token: "t",
  signaling_url: "/ws/signaling",
  ice_servers: [{ urls: ["turn:turn.test:3478"], username: "1:u", credential: "c" }],
  peer_id: "me",
  role: "patient",
  display_name: "Me",
};

const flush = () => new Promise((r) => setTimeout(r, 0));

describe("Call", () => {
  let snapshots: CallSnapshot[];
  let call: Call;
  beforeEach(() => {
    FakePeerConnection.all = [];
    vi.stubGlobal("WebSocket", FakeSocket);
    vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
    vi.stubGlobal("MediaStream", class {
      getTracks() {
        return [];
      }
      addTrack() {}
    });
    snapshots = [];
    const local = { getTracks: () => ["audio-track", "video-track"] } as unknown as MediaStream;
    call = new Call(JOIN, local, (s) => snapshots.push(s), async () => JOIN);
    call.start();
  });
  afterEach(() => {
    call.dispose();
    vi.unstubAllGlobals();
  });

  it("waits, then offers to the admitted peers once admitted, and restarts ICE when the connection fails", async () => {
    const ws = FakeSocket.last!;
    expect(ws.url).toContain("/ws/signaling?token=t");
    ws.receive({ type: "welcome", peer_id: "me", role: "patient", state: "waiting" });
    ws.receive({ type: "peers", peers: [] });
    await flush();
    expect(snapshots.at(-1)!.state).toBe("waiting");
    expect(FakePeerConnection.all).toHaveLength(0);

    ws.receive({ type: "admitted", peer_id: "me" });
    ws.receive({ type: "peers", peers: [{ peer_id: "doc", role: "clinician", display_name: "Dr", state: "admitted" }] });
    await flush();
    expect(snapshots.at(-1)!.state).toBe("in-call");
    const pc = FakePeerConnection.all[0]!;
    expect(pc.config).toEqual({ iceServers: [{ urls: ["turn:turn.test:3478"], username: "1:u", credential: "c" }] });
    expect(pc.tracks).toEqual(["audio-track", "video-track"]);
    expect(ws.sent.filter((f) => f.type === "offer")).toEqual([{ type: "offer", to: "doc", sdp: "offer-1", restart: false }]);

    ws.receive({ type: "answer", from: "doc", sdp: "answer-from-doc" });
    ws.receive({ type: "candidate", from: "doc", candidate: { candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host" } });
    await flush();
    expect(pc.remote).toEqual([{ type: "answer", sdp: "answer-from-doc" }]);
    expect(pc.candidates).toHaveLength(1);
    pc.onicecandidate?.({ candidate: { toJSON: () => ({ candidate: "candidate:mine" }) } });
    expect(ws.sent.at(-1)).toEqual({ type: "candidate", to: "doc", candidate: { candidate: "candidate:mine" } });

    pc.connectionState = "failed";
    pc.onconnectionstatechange?.();
    await flush();
    expect(pc.offers.at(-1)).toEqual({ iceRestart: true });
    expect(ws.sent.filter((f) => f.type === "offer").at(-1)).toEqual({
      type: "offer",
      to: "doc",
      sdp: "offer-2-restart",
      restart: true,
    });
    expect(FakePeerConnection.all).toHaveLength(1); // the same connection, restarted
  });

  it("answers an offer from a peer already in the call", async () => {
    const ws = FakeSocket.last!;
    ws.receive({ type: "welcome", peer_id: "me", role: "clinician", state: "admitted" });
    ws.receive({ type: "admitted", peer_id: "pat", role: "patient", display_name: "Pat" });
    ws.receive({ type: "offer", from: "pat", sdp: "offer-from-pat" });
    await flush();
    const pc = FakePeerConnection.all[0]!;
    expect(pc.remote).toEqual([{ type: "offer", sdp: "offer-from-pat" }]);
    expect(ws.sent.filter((f) => f.type === "answer")).toEqual([{ type: "answer", to: "pat", sdp: "answer-1" }]);
    // The answering side does not restart ICE itself: the offerer does.
    pc.connectionState = "failed";
    pc.onconnectionstatechange?.();
    await flush();
    expect(ws.sent.filter((f) => f.type === "offer")).toHaveLength(0);
  });

  it("shows chat and the end of the visit", async () => {
    const ws = FakeSocket.last!;
    ws.receive({ type: "welcome", peer_id: "me", role: "patient", state: "admitted" });
    ws.receive({ type: "chat", id: "1", from: "doc", display_name: "Dr", text: "Hello", sent_at: "2026-01-01T00:00:00Z" });
    ws.receive({ type: "ended" });
    await flush();
    const last = snapshots.at(-1)!;
    expect(last.chat.map((c) => c.text)).toEqual(["Hello"]);
    expect(last.state).toBe("ended");
  });
});
