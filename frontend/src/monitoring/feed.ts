// The live feed: /ws/monitoring with replay from the last event id after a reconnect.
import type { ApiClient } from "../api/client";
import { unwrap } from "../api/client";

export interface FeedReading {
  id: number;
  metric: string;
  value: number | null;
  value2: number | null;
  unit: string;
  quality: string;
  effective_at: string;
}

export interface FeedAlarm {
  id: string;
  kind: string;
  key: string;
  severity: string;
  state: string;
  message: string;
  value: string | null;
  news2_score: number | null;
  condition_active: boolean;
  trigger_count: number;
  raised_at: string;
  notify_role: string;
  escalation_level: number;
  acknowledged_by_name: string | null;
  resolved_by_name: string | null;
}

export interface FeedNews2 {
  total: number;
  response: "low" | "urgent" | "emergency";
  parameters: Record<string, number>;
  missing: string[];
  scale: number;
}

export type FeedEvent =
  | { type: "reading"; id: number; patient_id: string; reading: FeedReading }
  | { type: "alarm"; id: number; patient_id: string; alarm: FeedAlarm }
  | { type: "news2"; id: number; patient_id: string; news2: FeedNews2 }
  | { type: "ecg"; patient_id: string; ecg: { start_at: string; period_ms: number; data: string } };

export type FeedStatus = "connecting" | "live" | "degraded" | "reconnecting";

/** Keeps one subscription open; reconnects with `since` so nothing is missed. */
export function openFeed(
  api: ApiClient,
  patients: string[],
  since: number,
  onEvent: (event: FeedEvent) => void,
  onStatus: (status: FeedStatus) => void,
  options: { ecg?: boolean } = {},
): () => void {
  let last = since;
  // A reconnect's replay reaches a few seconds behind `since`: events come again, skip by id.
  const seen = new Set<number>();
  const order: number[] = [];
  let socket: WebSocket | null = null;
  let stopped = false;
  let retry = 0;

  const connect = async () => {
    if (stopped) return;
    onStatus(retry === 0 ? "connecting" : "reconnecting");
    let token: string;
    try {
      token = (await unwrap(api.POST("/api/monitoring/socket-token"))).token;
    } catch {
      schedule();
      return;
    }
    if (stopped) return;
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${window.location.host}/ws/monitoring?token=${encodeURIComponent(token)}`);
    socket.onopen = () => {
      socket?.send(JSON.stringify({ type: "subscribe", patients, since: last, ecg: options.ecg ?? false }));
    };
    socket.onmessage = (message) => {
      const frame = JSON.parse(String(message.data));
      if (typeof frame.id === "number") {
        if (seen.has(frame.id)) return;
        seen.add(frame.id);
        order.push(frame.id);
        if (order.length > 20000) seen.delete(order.shift()!);
        last = Math.max(last, frame.id);
      }
      if (frame.type === "replayed" || frame.type === "live") {
        retry = 0;
        onStatus("live");
      } else if (frame.type === "degraded") {
        onStatus("degraded");
      } else if (frame.type === "reading" || frame.type === "alarm" || frame.type === "news2" || frame.type === "ecg") {
        onEvent(frame as FeedEvent);
      }
    };
    socket.onclose = () => {
      socket = null;
      schedule();
    };
  };
  const schedule = () => {
    if (stopped) return;
    retry += 1;
    onStatus("reconnecting");
    window.setTimeout(connect, Math.min(500 * retry, 5000));
  };
  void connect();
  return () => {
    stopped = true;
    socket?.close();
  };
}

export const SERIES_LABEL: Record<string, string> = {
  hr: "HR",
  rr: "RR",
  spo2: "SpO₂",
  sbp: "Sys",
  dbp: "Dia",
  temp: "Temp",
};
