// The one way the UI talks to the registry: same-origin fetch of /api/v1 (and Quay's /config,
// /csrf_token), with the session cookie, X-Requested-With (BROWSER_API_CALLS_XHR_ONLY) and, on
// unsafe methods, the session's CSRF token. The token lives in memory only (never in storage);
// the server hands a new one over in X-Next-CSRF-Token when a session starts.

export class ApiError extends Error {
  readonly status: number;
  readonly type: string | undefined;

  constructor(status: number, message: string, type?: string) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

type Json = Record<string, unknown> | unknown[] | string | number | boolean | null;

let csrfToken: string | null = null;

export function forgetCsrfToken(): void {
  csrfToken = null;
}

const XHR = {'X-Requested-With': 'XMLHttpRequest', Accept: 'application/json'};

async function fetchCsrfToken(): Promise<void> {
  const response = await fetch('/csrf_token', {headers: XHR, credentials: 'same-origin'});
  if (response.ok) {
    const body = (await response.json()) as {csrf_token: string | null};
    csrfToken = body.csrf_token;
  }
}

// A readable message from any of the error shapes the API answers with.
function messageOf(status: number, data: unknown, fallback: string): string {
  if (data && typeof data === 'object') {
    const d = data as Record<string, unknown>;
    for (const key of ['error_message', 'message', 'detail']) {
      if (typeof d[key] === 'string' && d[key]) return d[key] as string;
    }
    const errors = d.errors;
    if (Array.isArray(errors) && errors.length && typeof errors[0]?.message === 'string') {
      return errors[0].message;
    }
  }
  if (typeof data === 'string' && data) return data;
  return `${status} ${fallback}`;
}

async function send(method: string, path: string, body: Json | undefined): Promise<Response> {
  const headers: Record<string, string> = {...XHR};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    if (csrfToken === null) await fetchCsrfToken();
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
  }
  return fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export async function api<T>(method: string, path: string, body?: Json): Promise<T> {
  let response: Response;
  try {
    response = await send(method, path, body);
    if (response.status === 403 && method !== 'GET') {
      // A session started in another tab changes the token: fetch it once more and retry.
      const peek = (await response.clone().json().catch(() => null)) as {error_type?: string} | null;
      if (peek?.error_type === 'csrf_invalid') {
        await fetchCsrfToken();
        response = await send(method, path, body);
      }
    }
  } catch {
    throw new ApiError(0, 'The registry could not be reached. Check your network connection and try again.');
  }
  const next = response.headers.get('X-Next-CSRF-Token');
  if (next) csrfToken = next;
  const text = await response.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const type = data && typeof data === 'object' ? (data as {error_type?: string}).error_type : undefined;
    throw new ApiError(response.status, messageOf(response.status, data, response.statusText), type);
  }
  return data as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: Json) => api<T>('POST', path, body ?? {});
export const put = <T>(path: string, body?: Json) => api<T>('PUT', path, body ?? {});
export const del = <T>(path: string) => api<T>('DELETE', path);

// Path segments are encoded one by one (names never contain '/').
export function path(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  return strings.reduce(
    (out, s, i) => out + s + (i < values.length ? encodeURIComponent(String(values[i])) : ''),
    '',
  );
}

export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
