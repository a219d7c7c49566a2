import createClient, { type Client } from "openapi-fetch";
import type { AuthSession } from "../auth/session";
import { ApiError, apiErrorFromResponse, networkError, toApiError } from "./errors";
import type { Me, paths } from "./types";

export type ApiClient = Client<paths>;

/** The typed client every screen uses; requests go through the session's authenticated fetch. */
export function createApiClient(session: AuthSession, baseUrl: string = session.baseUrl): ApiClient {
  return createClient<paths>({ baseUrl, fetch: session.fetch });
}

/** Unwrap an openapi-fetch result: the data, or an ApiError built from the error shape. */
export async function unwrap<T>(
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await pending;
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw networkError(err);
  }
  if (result.response.ok && result.data !== undefined) return result.data;
  if (result.error !== undefined) throw toApiError(result.response.status, result.error, result.response.headers);
  throw await apiErrorFromResponse(result.response);
}

export function fetchMe(api: ApiClient): Promise<Me> {
  return unwrap(api.GET("/api/auth/me"));
}
