// The REST API as the pages use it (docs/PROTOCOL.md). Every URL is relative to the
// page, so the UI works under any `-b/--base-path`: the terminal is served at BASE/ and
// the dashboard at BASE/sessions, and both resolve `./api/...` to BASE/api/....
//
// Every call answering 401 (no credential, or an expired one) sends the page to the
// login page, which brings it back here.
import { toLogin } from './auth';

/** A session as `GET /api/sessions` describes it. */
export interface SessionInfo {
  id: string;
  name: string | null;
  command: string[];
  pid: number | null;
  tty: string | null;
  status: 'running' | 'exited';
  exit_code: number | null;
  exit_signal: number | null;
  /** Unix seconds. */
  created: number;
  cols: number;
  rows: number;
  clients: number;
  offset: number;
  /** Kept: it lives on without clients (until killed, or its command exits). */
  keep?: boolean;
  /** Unix milliseconds of its last output; null before any. */
  last_output?: number | null;
  /** Its latest non-blank line of output, as plain text ('' if none). */
  preview?: string;
  /** Unix milliseconds (`created` to the millisecond). */
  created_ms?: number;
  /** The `sub` that created it, where the server says (with authentication on). */
  owner?: string | null;
  /** The node that runs it, when the server has `--node-id`. */
  node?: string;
  /** Its recording (`/play?s=ID`), or null when it is not recorded. */
  recording?: { bytes: number; truncated: boolean } | null;
}

/** `POST /api/tokens`: a share token for one session. */
export interface ShareToken {
  token: string;
  /** `<base>/?s=ID&token=JWT`: the link, without scheme and host. */
  path: string;
  /** Unix seconds. */
  exp: number;
  mode: 'ro' | 'rw';
  session: string;
}

export interface SessionList {
  sessions: SessionInfo[];
  total: number;
  offset: number;
  limit: number;
  /** With `scope=fleet`: the nodes that answered and those that did not. */
  nodes?: { replied: (string | null)[]; missing: string[] };
  /** With `scope=fleet`: some node's sessions are not in the list. */
  partial?: boolean;
}

/** A node of the fleet, as `GET /api/fleet` describes it. */
export interface FleetNode {
  node: string | null;
  /** Where its sessions are served (`--advertise-url`), if known. */
  url: string | null;
  version: string;
  sessions: number;
  clients: number;
  /** Percent of one CPU, from another node's heartbeat (none for this node). */
  cpu?: number;
  draining: boolean;
  workers: number;
  uptime_secs: number;
  /** Since another node's last heartbeat. */
  age_ms?: number;
  /** This node (the first). */
  self?: boolean;
}

/** `GET /api/fleet`: `nats` is `off` without `--nats`, and then `nodes` is this one. */
export interface Fleet {
  nats: 'off' | 'connected' | 'disconnected';
  nodes: FleetNode[];
}

/** `GET /api/config`: what the UI needs to know about the server. */
export interface ServerConfig {
  version: string;
  /** The server's host name (the page's title is `COMMAND (HOST)`, as ttyd's). */
  host: string;
  writable: boolean;
  command: string[];
  named_commands: string[];
  allow_any_command: boolean;
  /** `--keep-sessions`: sessions created without `keep` are kept. */
  keep_sessions?: boolean;
  /** `-t KEY=VALUE`, values already parsed as JSON where they were JSON. */
  client_options: Record<string, unknown>;
}

/** An HTTP error with the server's `{"error": "..."}` reason. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function apiUrl(path: string): URL {
  return new URL(`./api/${path}`, location.href);
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { Accept: 'application/json' }, cache: 'no-store' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, 'Content-Type': 'application/json' };
  }
  const response = await fetch(apiUrl(path), init);
  if (response.status === 401) return toLogin();
  const text = await response.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a proxy's error page, say): report the status line instead.
  }
  if (!response.ok) {
    const reason =
      json && typeof json === 'object' && 'error' in json && typeof json.error === 'string'
        ? json.error
        : `${response.status} ${response.statusText}`.trim();
    throw new ApiError(response.status, reason);
  }
  return json as T;
}

export const api = {
  config: () => request<ServerConfig>('GET', 'config'),
  create: (body: { command?: string[]; name?: string; cols?: number; rows?: number; keep?: boolean }) =>
    request<SessionInfo>('POST', 'sessions', body),
  /** `PATCH`: rename (null clears the name) or change whether it is kept. */
  update: (id: string, body: { name?: string | null; keep?: boolean }) =>
    request<SessionInfo>('PATCH', `sessions/${encodeURIComponent(id)}`, body),
  session: (id: string) => request<SessionInfo>('GET', `sessions/${encodeURIComponent(id)}`),
  /** `fleet`: every node's sessions (`scope=fleet`), not this node's alone. */
  list: (offset: number, limit: number, fleet = false) =>
    request<SessionList>('GET', `sessions?offset=${offset}&limit=${limit}${fleet ? '&scope=fleet' : ''}`),
  fleet: () => request<Fleet>('GET', 'fleet'),
  kill: (id: string) => request<{ id: string; status: string }>('DELETE', `sessions/${encodeURIComponent(id)}`),
  share: (session: string) => request<ShareToken>('POST', 'tokens', { session }),
};

/** The defaults the pages use when the server has no `/api/config` (an older server). */
export const FALLBACK_CONFIG: ServerConfig = {
  version: '',
  host: '',
  writable: true,
  command: [],
  named_commands: [],
  allow_any_command: false,
  client_options: {},
};

export async function loadConfig(): Promise<ServerConfig> {
  try {
    return { ...FALLBACK_CONFIG, ...(await api.config()) };
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return FALLBACK_CONFIG;
    throw e;
  }
}
