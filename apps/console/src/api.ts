import { session } from './session';

/** An answer other than 2xx: the API's { error, message } with its status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Listeners told when the key stops working (401), so the app can ask for another. */
const unauthorizedListeners = new Set<() => void>();
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** fetch against the API with the session's key; throws ApiError for any non-2xx answer. */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const key = session.key();
  if (key) headers.set('authorization', `Bearer ${key}`);
  const response = await fetch(path, { ...init, headers });
  if (response.ok) return response;
  const body = (await response.json().catch(() => ({}))) as { error?: unknown; message?: unknown };
  const code = typeof body.error === 'string' ? body.error : `http_${response.status}`;
  const message = typeof body.message === 'string' ? body.message : response.statusText;
  if (response.status === 401) for (const listener of unauthorizedListeners) listener();
  throw new ApiError(response.status, code, message);
}

export async function getJson<T>(path: string): Promise<T> {
  return (await request(path)).json() as Promise<T>;
}

export async function postJson<T>(path: string, body?: unknown, method = 'POST'): Promise<T> {
  const response = await request(path, body === undefined ? { method } : { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (response.status === 204 ? undefined : await response.json()) as T;
}

/** What a user reads for an error: 403 and 404 in words, the API's message otherwise. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  if (error.status === 403) return `Not allowed with this key: ${error.message}`;
  if (error.status === 404) return 'Not found, or not visible with this key.';
  return `${error.message} (${error.code})`;
}

/** Saves a response body as a file the browser downloads. */
export async function download(path: string, fileName: string): Promise<void> {
  const blob = await (await request(path)).blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
