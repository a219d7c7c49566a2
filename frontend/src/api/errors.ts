// One error type for everything the API (or the network) can throw at the UI.
//
// The backend answers every 4xx/5xx with `{"error": {"code", "message", "details"}}`; `code` is the
// stable thing to switch on, `message` is a server-side English fallback.

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export interface ApiErrorInit {
  status: number;
  code: string;
  message: string;
  details?: unknown;
  retryAfterSeconds?: number | null;
}

export class ApiError extends Error {
  /** HTTP status; 0 when the request never got an answer (network down, CORS, aborted). */
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  /** From `Retry-After` (429/503), in whole seconds, when the server sent one. */
  readonly retryAfterSeconds: number | null;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.name = "ApiError";
    this.status = init.status;
    this.code = init.code;
    this.details = init.details ?? null;
    this.retryAfterSeconds = init.retryAfterSeconds ?? null;
  }
}

export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== "object" || value === null || !("error" in value)) return false;
  const err = (value as { error: unknown }).error;
  return (
    typeof err === "object" &&
    err !== null &&
    typeof (err as { code?: unknown }).code === "string" &&
    typeof (err as { message?: unknown }).message === "string"
  );
}

/** `Retry-After` is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(header: string | null | undefined, now: number = Date.now()): number | null {
  if (header == null) return null;
  const value = header.trim();
  if (value === "") return null;
  if (/^\d+$/.test(value)) return Number(value);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

const FALLBACK_BY_STATUS: Record<number, [string, string]> = {
  400: ["bad_request", "The request was not accepted."],
  401: ["not_authenticated", "Authentication required."],
  403: ["forbidden", "You do not have permission to do that."],
  404: ["not_found", "Not found."],
  409: ["conflict", "The request conflicts with the current state."],
  422: ["validation_error", "The request payload is invalid."],
  429: ["too_many_requests", "Too many requests."],
  503: ["service_unavailable", "The service is unavailable."],
};

/** Build an ApiError from a status and an already-decoded body of any shape. */
export function toApiError(status: number, body: unknown, headers?: Headers | null): ApiError {
  const retryAfterSeconds = parseRetryAfter(headers?.get("Retry-After"));
  if (isErrorBody(body)) {
    return new ApiError({
      status,
      code: body.error.code,
      message: body.error.message,
      details: body.error.details ?? null,
      retryAfterSeconds,
    });
  }
  // Not our shape: a proxy's HTML 502 page, an empty body, a dev server hiccup.
  const [code, message] =
    FALLBACK_BY_STATUS[status] ??
    (status >= 500 ? ["server_error", `The server answered ${status}.`] : ["http_error", `HTTP ${status}`]);
  return new ApiError({ status, code, message, details: body ?? null, retryAfterSeconds });
}

/** Read a failed Response (without assuming JSON) into an ApiError. */
export async function apiErrorFromResponse(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    const text = await response.text();
    body = text === "" ? null : JSON.parse(text);
  } catch {
    body = null;
  }
  return toApiError(response.status, body, response.headers);
}

export function networkError(cause: unknown): ApiError {
  const err = new ApiError({
    status: 0,
    code: "network_error",
    message: cause instanceof Error ? cause.message : "Network request failed",
  });
  (err as { cause?: unknown }).cause = cause;
  return err;
}

/** "5 minutes", "30 seconds", "1 hour" — for lock-out messages. */
export function formatWait(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? "" : "s"}`;
  const hours = Math.ceil(minutes / 60);
  return `${hours} hour${hours === 1 ? "" : "s"}`;
}

interface ValidationItem {
  loc?: unknown;
  msg?: unknown;
}

function describeValidation(details: unknown): string | null {
  if (!Array.isArray(details) || details.length === 0) return null;
  const parts = (details as ValidationItem[])
    .map((item) => {
      const loc = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body" && p !== "query") : [];
      const field = loc.length > 0 ? String(loc[loc.length - 1]).replace(/_/g, " ") : null;
      const msg = typeof item.msg === "string" ? item.msg : null;
      if (!msg) return null;
      return field ? `${field}: ${msg}` : msg;
    })
    .filter((p): p is string => p !== null);
  return parts.length > 0 ? parts.join("; ") : null;
}

/** The sentence a person sees. Known codes get our wording; unknown ones the server's message. */
export function describeError(err: unknown): string {
  if (!(err instanceof ApiError)) {
    return "Something unexpected went wrong. Please try again.";
  }
  switch (err.code) {
    case "network_error":
      return "Cannot reach Hospital Hub. Check your connection and try again.";
    case "invalid_credentials":
      return "The username or password is incorrect.";
    case "too_many_requests":
    case "account_locked":
      return err.retryAfterSeconds != null && err.retryAfterSeconds > 0
        ? `Too many failed attempts. Please wait ${formatWait(err.retryAfterSeconds)} before trying again.`
        : "Too many failed attempts. Please wait a while before trying again.";
    case "token_expired":
    case "invalid_token":
    case "not_authenticated":
      return "Your session has ended. Please sign in again.";
    case "forbidden":
      return "You do not have permission to do that.";
    case "validation_error": {
      const detail = describeValidation(err.details);
      return detail ? `Please check the form — ${detail}.` : "Please check the form and try again.";
    }
    default:
      if (err.status >= 500) return "Something went wrong on our side. Please try again in a moment.";
      return err.message || "The request could not be completed.";
  }
}
