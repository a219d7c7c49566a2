import { describe, expect, it } from "vitest";
import {
  ApiError,
  apiErrorFromResponse,
  describeError,
  formatWait,
  isErrorBody,
  networkError,
  parseRetryAfter,
  toApiError,
} from "./errors";

describe("error shape parsing", () => {
  it("recognises the API's error shape and nothing else", () => {
    expect(isErrorBody({ error: { code: "x", message: "y", details: null } })).toBe(true);
    expect(isErrorBody({ error: { code: "x", message: "y" } })).toBe(true);
    expect(isErrorBody({ detail: "Not Found" })).toBe(false); // FastAPI's default, not ours
    expect(isErrorBody({ error: "boom" })).toBe(false);
    expect(isErrorBody({ error: { code: 1, message: "y" } })).toBe(false);
    expect(isErrorBody(null)).toBe(false);
    expect(isErrorBody("error")).toBe(false);
  });

  it("reads code, message, details and Retry-After from a response", async () => {
    const res = new Response(
      JSON.stringify({ error: { code: "too_many_requests", message: "Slow down", details: { attempts: 5 } } }),
      { status: 429, headers: { "Content-Type": "application/json", "Retry-After": "120" } },
    );
    const err = await apiErrorFromResponse(res);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(429);
    expect(err.code).toBe("too_many_requests");
    expect(err.message).toBe("Slow down");
    expect(err.details).toEqual({ attempts: 5 });
    expect(err.retryAfterSeconds).toBe(120);
  });

  it("survives bodies that are not the shape (proxy HTML, empty)", async () => {
    const html = await apiErrorFromResponse(new Response("<html>Bad Gateway</html>", { status: 502 }));
    expect(html.code).toBe("server_error");
    expect(html.status).toBe(502);
    const empty = await apiErrorFromResponse(new Response(null, { status: 404 }));
    expect(empty.code).toBe("not_found");
    expect(toApiError(418, { detail: "teapot" }).code).toBe("http_error");
  });

  it("parses Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2030-01-01T00:00:00Z");
    expect(parseRetryAfter("30", now)).toBe(30);
    expect(parseRetryAfter("Tue, 01 Jan 2030 00:02:00 GMT", now)).toBe(120);
    expect(parseRetryAfter("Tue, 01 Jan 2019 00:02:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});

describe("describeError (what people read)", () => {
  const e = (code: string, extra: Partial<ConstructorParameters<typeof ApiError>[0]> = {}) =>
    new ApiError({ status: 400, code, message: `server says ${code}`, ...extra });

  it("words the login failures clearly", () => {
    expect(describeError(e("invalid_credentials", { status: 401 }))).toBe("The username or password is incorrect.");
    expect(describeError(e("too_many_requests", { status: 429, retryAfterSeconds: 300 }))).toBe(
      "Too many failed attempts. Please wait 5 minutes before trying again.",
    );
    expect(describeError(e("too_many_requests", { status: 429 }))).toMatch(/wait a while/);
  });

  it("lists validation problems by field", () => {
    const err = e("validation_error", {
      status: 422,
      details: [{ loc: ["body", "username"], msg: "Field required", type: "missing" }],
    });
    expect(describeError(err)).toBe("Please check the form — username: Field required.");
  });

  it("falls back to the server's message, hides 5xx internals, explains network failures", () => {
    expect(describeError(e("appointment_taken", { status: 409 }))).toBe("server says appointment_taken");
    expect(describeError(e("internal_error", { status: 500 }))).toMatch(/on our side/);
    expect(describeError(networkError(new TypeError("Failed to fetch")))).toMatch(/Cannot reach Hospital Hub/);
    expect(describeError(new Error("x"))).toMatch(/unexpected/);
  });

  it("formats waits", () => {
    expect(formatWait(1)).toBe("1 second");
    expect(formatWait(45)).toBe("45 seconds");
    expect(formatWait(61)).toBe("2 minutes");
    expect(formatWait(3600)).toBe("1 hour");
  });
});
